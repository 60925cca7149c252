//! `windlass pull REPO/CHART`

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use windlass::repo::{self, Paths};

use super::block_on;

/// Download a chart, verified against the digest in its repository's index
/// or its OCI manifest, into a directory (as NAME-VERSION.tgz).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// REPO/CHART, or oci://HOST/PATH/CHART[:TAG|@sha256:DIGEST].
    pub chart: String,
    #[command(flatten)]
    pub source: super::SourceArgs,
    /// Where to write the archive.
    #[arg(short = 'd', long, default_value = ".")]
    pub destination: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let paths = Paths::from_env();
    let version = args.source.version.as_deref();
    if args.chart.starts_with("oci://") {
        let pulled = block_on(repo::oci::pull(
            &paths,
            &args.chart,
            version,
            args.source.plain_http,
        ))??;
        let chart = windlass::chart::load(&pulled.archive)?;
        let name = format!("{}-{}.tgz", chart.metadata.name, chart.metadata.version);
        let layer = format!("{} (provenance layer)", args.chart);
        super::check_provenance(
            &args.source,
            &pulled.archive,
            &name,
            pulled.prov.clone(),
            &layer,
        )?;
        let out = args.destination.join(&name);
        if let Some(p) = &pulled.prov {
            std::fs::create_dir_all(&args.destination)?;
            std::fs::write(args.destination.join(format!("{name}.prov")), p)?;
        }
        std::fs::create_dir_all(&args.destination)
            .with_context(|| format!("creating {}", args.destination.display()))?;
        std::fs::copy(&pulled.archive, &out)
            .with_context(|| format!("writing {}", out.display()))?;
        println!(
            "Pulled {} to {} ({}, verified)",
            args.chart,
            out.display(),
            pulled.digest
        );
        return Ok(ExitCode::SUCCESS);
    }
    let (cached, entry) = block_on(repo::fetch_chart(&paths, &args.chart, version))??;
    let (prov, prov_url) = block_on(repo::fetch_provenance(&paths, &args.chart, &entry))??;
    let name = format!("{}-{}.tgz", entry.name, entry.version);
    super::check_provenance(&args.source, &cached, &name, prov.clone(), &prov_url)?;
    if let Some(p) = &prov {
        std::fs::create_dir_all(&args.destination)?;
        std::fs::write(args.destination.join(format!("{name}.prov")), p)?;
    }
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
