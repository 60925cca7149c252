//! `windlass repo index DIR`

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

/// Work with chart repositories.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: RepoCommand,
}

/// Repository subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum RepoCommand {
    /// Write a Helm-compatible index.yaml for the .tgz archives in DIR.
    Index {
        /// Directory holding chart archives.
        dir: PathBuf,
        /// Base URL the archives will be served from; without it the index uses relative file names.
        #[arg(long)]
        url: Option<String>,
    },
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        RepoCommand::Index { dir, url } => {
            let index = windlass::package::index_dir(&dir, url.as_deref())?;
            let path = dir.join("index.yaml");
            std::fs::write(&path, index.to_yaml())
                .with_context(|| format!("writing {}", path.display()))?;
            let count: usize = index.entries.values().map(Vec::len).sum();
            println!("Indexed {count} chart version(s) into {}", path.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}
