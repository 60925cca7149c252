//! `windlass create NAME`

use std::path::PathBuf;
use std::process::ExitCode;

/// Create a new chart directory.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Directory to create; its last component is the chart name (a DNS-1123 label).
    pub name: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let name = windlass::chart::starter::create(&args.name)?;
    println!("Created chart {name} in {}", args.name.display());
    Ok(ExitCode::SUCCESS)
}
