//! `windlass push CHART.tgz oci://HOST/PATH`

use std::path::PathBuf;
use std::process::ExitCode;

use windlass::repo::{oci, Paths};

use super::block_on;

/// Push a packaged chart to an OCI registry as oci://HOST/PATH/NAME:VERSION,
/// with Helm's media types (CHART.tgz.prov beside it goes too). Prints the
/// manifest digest: pull or install by it for exactly this chart.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The chart archive (from `windlass package`).
    pub chart: PathBuf,
    /// Where: oci://HOST[:PORT]/PATH.
    pub remote: String,
    /// Talk to the registry over plain HTTP (a registry without TLS).
    #[arg(long)]
    pub plain_http: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let pushed = block_on(oci::push(
        &Paths::from_env(),
        &args.chart,
        &args.remote,
        args.plain_http,
    ))??;
    println!("Pushed: {}\nDigest: {}", pushed.reference, pushed.digest);
    Ok(ExitCode::SUCCESS)
}
