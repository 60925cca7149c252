//! `windlass completion SHELL`

use std::process::ExitCode;

use clap::CommandFactory;

/// Print a shell completion script, e.g. `windlass completion bash > /etc/bash_completion.d/windlass`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The shell.
    pub shell: clap_complete::Shell,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut cmd = super::Cli::command();
    clap_complete::generate(args.shell, &mut cmd, "windlass", &mut std::io::stdout());
    Ok(ExitCode::SUCCESS)
}
