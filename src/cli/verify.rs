//! `windlass verify CHART.tgz`

use std::path::PathBuf;
use std::process::ExitCode;

use windlass::package::provenance;

/// Verify a packaged chart against its provenance file (CHART.tgz.prov):
/// the signature against a keyring, the archive against the signed digest.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The chart archive.
    pub chart: PathBuf,
    /// Public (or secret) keys to trust (armored or binary, e.g. from `gpg --export`).
    #[arg(long, value_name = "FILE", default_value = "~/.gnupg/pubring.gpg")]
    pub keyring: String,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let v = provenance::verify(&args.chart, &super::expand_home(&args.keyring))?;
    println!(
        "Signed by: {}\nUsing key from: {}\nsha256:{}\n{} is verified",
        v.signed_by.join(", "),
        args.keyring,
        v.digest,
        args.chart.display()
    );
    Ok(ExitCode::SUCCESS)
}
