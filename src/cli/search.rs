//! `windlass search repo [WORD]`

use std::process::ExitCode;

use windlass::repo::{self, Paths};

use super::output::{print_structured, Format};

/// Search the added repositories' charts (their cached indexes: run
/// `windlass repo update` for the latest).
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: SearchCommand,
}

/// Where to search.
#[derive(Debug, clap::Subcommand)]
pub enum SearchCommand {
    /// Charts whose name, description or keywords contain WORD (every chart without one).
    Repo {
        /// What to look for (case-insensitive).
        word: Option<String>,
        /// Every version, not only the newest.
        #[arg(long)]
        versions: bool,
        /// Output format.
        #[arg(short = 'o', long, value_enum, default_value_t = Format::Table)]
        output: Format,
    },
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let SearchCommand::Repo {
        word,
        versions,
        output,
    } = args.command;
    let hits = repo::search(&Paths::from_env(), word.as_deref().unwrap_or(""), versions)?;
    if output != Format::Table {
        let list: Vec<_> = hits
            .iter()
            .map(|h| {
                serde_json::json!({"name": h.name, "version": h.entry.version,
                    "app_version": h.entry.app_version, "description": h.entry.description})
            })
            .collect();
        print_structured(&serde_json::Value::Array(list), output)?;
        return Ok(ExitCode::SUCCESS);
    }
    if hits.is_empty() {
        println!("No results found");
        return Ok(ExitCode::SUCCESS);
    }
    let width = hits.iter().map(|h| h.name.len()).max().unwrap_or(4).max(4);
    let mut text = format!(
        "{:<width$}  {:<14}  {:<12}  DESCRIPTION\n",
        "NAME", "CHART VERSION", "APP VERSION"
    );
    for h in &hits {
        text.push_str(&format!(
            "{:<width$}  {:<14}  {:<12}  {}\n",
            h.name,
            h.entry.version,
            h.entry.app_version.as_deref().unwrap_or(""),
            h.entry.description.as_deref().unwrap_or("")
        ));
    }
    super::print_out(&text)?;
    Ok(ExitCode::SUCCESS)
}
