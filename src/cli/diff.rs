//! `windlass diff upgrade|rollback|revision`

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::ArgMatches;
use windlass::action::{self, ValuesMode};
use windlass::cluster::Cluster;
use windlass::diff::{self, Item};
use windlass::values::UserValues;

use super::{block_on, output, ClusterArgs, ValuesArgs};

/// How to show a diff.
#[derive(Debug, Clone, clap::Args)]
pub struct DiffArgs {
    /// Lines of context around each change.
    #[arg(short = 'C', long = "context", default_value_t = 3)]
    pub context: usize,
    /// Ignore a field path everywhere (e.g. spec.replicas for an autoscaled object); repeatable.
    /// Objects can also list paths in the annotation windlass.io/diff-ignore.
    #[arg(long, value_name = "PATH")]
    pub ignore: Vec<String>,
    /// Show Secret values instead of `<redacted: N bytes, sha256:...>`.
    #[arg(long)]
    pub show_secrets: bool,
    /// Output: a unified diff, or a JSON list of changes (kind, name, action, changed paths).
    #[arg(short = 'o', long, value_enum, default_value_t = DiffFormat::Diff)]
    pub output: DiffFormat,
    /// Exit 2 when there are changes, 0 when there are none (1 on errors).
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Also list unchanged objects.
    #[arg(short = 'v', long)]
    pub verbose: bool,
}

/// Diff output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DiffFormat {
    /// Unified diff of YAML per object.
    Diff,
    /// Machine-readable change list.
    Json,
}

impl DiffArgs {
    /// Library options; colour only on a terminal and never with NO_COLOR.
    pub fn options(&self) -> diff::Options {
        diff::Options {
            context: self.context,
            color: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
            verbose: self.verbose,
            show_secrets: self.show_secrets,
            ignore: self.ignore.clone(),
        }
    }

    /// Prints the items, then the hooks that would run (on standard error
    /// with JSON output, so the JSON stays one document), and picks the
    /// exit code.
    pub fn print_plan(&self, plan: &action::DiffPlan) -> anyhow::Result<ExitCode> {
        let code = self.print(&plan.items)?;
        if !plan.hooks.is_empty() {
            let mut text = String::from("hooks that will run:\n");
            for h in &plan.hooks {
                text.push_str(&format!("  {h}\n"));
            }
            match self.output {
                DiffFormat::Diff => super::print_out(&text)?,
                DiffFormat::Json => eprint!("{text}"),
            }
        }
        Ok(code)
    }

    /// Prints the items and picks the exit code.
    pub fn print(&self, items: &[Item]) -> anyhow::Result<ExitCode> {
        let opts = self.options();
        let mut items = items.to_vec();
        diff::apply_ignores(&mut items, &opts.ignore);
        let items = &items[..];
        match self.output {
            DiffFormat::Diff => {
                let text = diff::render(items, &opts);
                if text.is_empty() {
                    super::print_out("no changes\n")?;
                } else {
                    super::print_out(&text)?;
                }
            }
            DiffFormat::Json => {
                output::print_structured(&diff::to_json(items, &opts), output::Format::Json)?
            }
        }
        Ok(if self.detailed_exitcode && diff::has_changes(items) {
            ExitCode::from(2)
        } else {
            ExitCode::SUCCESS
        })
    }
}

/// Show what an operation would change in the cluster.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: DiffCommand,
}

/// What to diff.
#[derive(Debug, clap::Subcommand)]
pub enum DiffCommand {
    /// What `upgrade` would change (for a release that does not exist: everything is a create).
    Upgrade {
        /// Release name.
        release: String,
        /// Chart directory, .tgz archive, REPO/CHART, or oci://HOST/PATH/CHART.
        chart: PathBuf,
        #[command(flatten)]
        source: super::SourceArgs,
        #[command(flatten)]
        values: ValuesArgs,
        /// Start from the previous revision's values.
        #[arg(long)]
        reuse_values: bool,
        #[command(flatten)]
        cluster: ClusterArgs,
        #[command(flatten)]
        diff: DiffArgs,
    },
    /// What `rollback` would change.
    Rollback {
        /// Release name.
        release: String,
        /// Revision (default: the one before the deployed revision).
        revision: Option<u64>,
        #[command(flatten)]
        cluster: ClusterArgs,
        #[command(flatten)]
        diff: DiffArgs,
    },
    /// The difference between two recorded revisions.
    Revision {
        /// Release name.
        release: String,
        /// The older revision.
        a: u64,
        /// The newer revision.
        b: u64,
        #[command(flatten)]
        cluster: ClusterArgs,
        #[command(flatten)]
        diff: DiffArgs,
    },
}

pub fn run(args: Args, matches: Option<&ArgMatches>) -> anyhow::Result<ExitCode> {
    let sub = matches.and_then(|m| m.subcommand()).map(|(_, m)| m);
    match args.command {
        DiffCommand::Upgrade {
            release,
            chart,
            source,
            values,
            reuse_values,
            cluster,
            diff,
        } => {
            let chart = super::load_chart(&chart, &source)?;
            let user = UserValues::load(&values.sources(sub))?;
            let mode = if reuse_values {
                ValuesMode::Reuse
            } else {
                ValuesMode::Reset
            };
            let items = block_on(async {
                let ctx = output::context(Cluster::connect(&cluster.options()).await?);
                Ok::<_, anyhow::Error>(
                    action::diff_upgrade_plan(&ctx, &chart, &user, &release, mode).await?,
                )
            })??;
            diff.print_plan(&items)
        }
        DiffCommand::Rollback {
            release,
            revision,
            cluster,
            diff,
        } => {
            let items = block_on(async {
                let ctx = output::context(Cluster::connect(&cluster.options()).await?);
                Ok::<_, anyhow::Error>(action::diff_rollback_plan(&ctx, &release, revision).await?)
            })??;
            diff.print_plan(&items)
        }
        DiffCommand::Revision {
            release,
            a,
            b,
            cluster,
            diff,
        } => {
            let items = block_on(async {
                let ctx = output::context(Cluster::connect(&cluster.options()).await?);
                Ok::<_, anyhow::Error>(action::diff_revisions(&ctx, &release, a, b).await?)
            })??;
            diff.print(&items)
        }
    }
}
