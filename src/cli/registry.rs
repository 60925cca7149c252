//! `windlass registry login|logout HOST`

use std::io::Read;
use std::process::ExitCode;

use anyhow::Context;
use windlass::repo::oci::{Login, RegistryLogins};
use windlass::repo::Paths;

/// Log in to or out of OCI registries. Credentials are kept in
/// $WINDLASS_CONFIG_HOME (else ~/.config/windlass)/registries.yaml,
/// readable by you only, and sent to that registry only.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: RegistryCommand,
}

/// Registry subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum RegistryCommand {
    /// Save credentials for a registry.
    Login {
        /// HOST[:PORT].
        host: String,
        /// User name.
        #[arg(short = 'u', long)]
        username: String,
        /// Password or token (visible in the process list: prefer --password-stdin).
        #[arg(short = 'p', long, conflicts_with = "password_stdin")]
        password: Option<String>,
        /// Read the password from standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Forget a registry's credentials.
    Logout {
        /// HOST[:PORT].
        host: String,
    },
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let paths = Paths::from_env();
    let mut logins = RegistryLogins::load(&paths)?;
    match args.command {
        RegistryCommand::Login {
            host,
            username,
            password,
            password_stdin,
        } => {
            let password = match (password, password_stdin) {
                (Some(p), _) => p,
                (None, true) => {
                    let mut p = String::new();
                    std::io::stdin()
                        .read_to_string(&mut p)
                        .context("reading the password from standard input")?;
                    p.trim_end_matches(['\n', '\r']).to_string()
                }
                (None, false) => {
                    anyhow::bail!("give the password with --password-stdin (or --password)")
                }
            };
            logins
                .registries
                .insert(host.clone(), Login { username, password });
            logins.save(&paths)?;
            println!("Login saved for {host}");
        }
        RegistryCommand::Logout { host } => {
            if logins.registries.remove(&host).is_none() {
                anyhow::bail!("not logged in to {host}");
            }
            logins.save(&paths)?;
            println!("Removed the login for {host}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
