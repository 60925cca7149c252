//! `windlass repo add|update|list|remove|index`

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use windlass::repo::{self, Paths, RepoFile, Repository};

use super::block_on;
use super::output::{print_structured, Format};

/// Work with chart repositories (Helm's index.yaml over HTTP or HTTPS).
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: RepoCommand,
}

/// Repository subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum RepoCommand {
    /// Add a repository: its index is fetched and checked first. The list
    /// (with credentials) is kept in $WINDLASS_CONFIG_HOME (else
    /// ~/.config/windlass)/repositories.yaml, readable by you only.
    Add {
        /// Name to use in REPO/CHART.
        name: String,
        /// Base URL (index.yaml is under it).
        url: String,
        /// HTTP basic auth user.
        #[arg(long, requires = "password_source")]
        username: Option<String>,
        /// HTTP basic auth password (visible in the process list: prefer --password-stdin).
        #[arg(long, group = "password_source")]
        password: Option<String>,
        /// Read the password from standard input.
        #[arg(long, group = "password_source")]
        password_stdin: bool,
        /// Bearer token instead of a user and password.
        #[arg(long, conflicts_with = "username")]
        token: Option<String>,
        /// Replace a repository of the same name.
        #[arg(long)]
        force_update: bool,
    },
    /// Fetch the indexes of the repositories again (all, or those named).
    Update {
        /// Repositories to update (default: all).
        names: Vec<String>,
    },
    /// List the repositories.
    List {
        /// Output format.
        #[arg(short = 'o', long, value_enum, default_value_t = Format::Table)]
        output: Format,
    },
    /// Remove repositories (and their cached indexes).
    Remove {
        /// Repositories to remove.
        #[arg(required = true)]
        names: Vec<String>,
    },
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
    let paths = Paths::from_env();
    match args.command {
        RepoCommand::Add {
            name,
            url,
            username,
            password,
            password_stdin,
            token,
            force_update,
        } => {
            let password = if password_stdin {
                let mut p = String::new();
                std::io::stdin()
                    .read_to_string(&mut p)
                    .context("reading the password from standard input")?;
                Some(p.trim_end_matches(['\n', '\r']).to_string())
            } else {
                password
            };
            let repo = Repository {
                name: name.clone(),
                url: url.trim_end_matches('/').to_string(),
                username,
                password,
                token,
            };
            let count = block_on(repo::add(&paths, repo, force_update))??;
            println!("\"{name}\" has been added to your repositories ({count} chart versions)");
        }
        RepoCommand::Update { names } => {
            let results = block_on(repo::update(&paths, &names))??;
            if results.is_empty() {
                println!("no repositories to update; add one with `windlass repo add NAME URL`");
            }
            let mut failed = 0;
            for (name, r) in results {
                match r {
                    Ok(n) => println!("updated \"{name}\" ({n} chart versions)"),
                    Err(e) => {
                        failed += 1;
                        eprintln!("error: could not update \"{name}\": {e}");
                    }
                }
            }
            if failed > 0 {
                return Ok(ExitCode::FAILURE);
            }
        }
        RepoCommand::List { output } => {
            let file = RepoFile::load(&paths.repositories())?;
            if output != Format::Table {
                let list: Vec<_> = file
                    .repositories
                    .iter()
                    .map(|r| serde_json::json!({"name": r.name, "url": r.url}))
                    .collect();
                print_structured(&serde_json::Value::Array(list), output)?;
            } else if file.repositories.is_empty() {
                println!("no repositories; add one with `windlass repo add NAME URL`");
            } else {
                let width = file
                    .repositories
                    .iter()
                    .map(|r| r.name.len())
                    .max()
                    .unwrap_or(4)
                    .max(4);
                let mut text = format!("{:<width$}  URL\n", "NAME");
                for r in &file.repositories {
                    text.push_str(&format!("{:<width$}  {}\n", r.name, r.url));
                }
                super::print_out(&text)?;
            }
        }
        RepoCommand::Remove { names } => {
            repo::remove(&paths, &names)?;
            for n in names {
                println!("\"{n}\" has been removed from your repositories");
            }
        }
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
