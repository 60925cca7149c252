//! `windlass pull REPO/CHART`

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use windlass::repo::{self, Paths};

use super::block_on;

/// Download a chart from a repository, verified against the digest in its
/// index, into a directory (as NAME-VERSION.tgz).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// REPO/CHART.
    pub chart: String,
    /// The version, or a semver range such as ^1.2 (default: the newest stable).
    #[arg(long, value_name = "RANGE")]
    pub version: Option<String>,
    /// Where to write the archive.
    #[arg(short = 'd', long, default_value = ".")]
    pub destination: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let paths = Paths::from_env();
    let (cached, entry) = block_on(repo::fetch_chart(
        &paths,
        &args.chart,
        args.version.as_deref(),
    ))??;
    std::fs::create_dir_all(&args.destination)
        .with_context(|| format!("creating {}", args.destination.display()))?;
    let out = args
        .destination
        .join(format!("{}-{}.tgz", entry.name, entry.version));
    std::fs::copy(&cached, &out).with_context(|| format!("writing {}", out.display()))?;
    println!(
        "Pulled {} {} to {} (sha256 {}, verified)",
        args.chart,
        entry.version,
        out.display(),
        entry.digest.trim_start_matches("sha256:")
    );
    Ok(ExitCode::SUCCESS)
}
