//! `windlass version`

use std::process::ExitCode;

/// Print windlass's version.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print only the version number.
    #[arg(long)]
    pub short: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let v = env!("CARGO_PKG_VERSION");
    if args.short {
        println!("{v}");
    } else {
        println!(
            "windlass {v} (default Kubernetes target {})",
            windlass::render::DEFAULT_KUBE_VERSION
        );
    }
    Ok(ExitCode::SUCCESS)
}
