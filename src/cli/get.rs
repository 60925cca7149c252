//! `windlass get values|manifest|notes RELEASE`

use std::process::ExitCode;

use windlass::action;
use windlass::cluster::Cluster;

use super::output::{self, Format};
use super::{block_on, ClusterArgs};

/// Show a recorded revision's values, manifest or notes.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// What to show.
    pub what: What,
    /// Release name.
    pub release: String,
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Revision (default: the latest).
    #[arg(long)]
    pub revision: Option<u64>,
    /// With `values`: all values the templates saw (chart defaults merged), not only those supplied.
    #[arg(long)]
    pub all: bool,
    /// With `manifest`: show Secret values instead of `<redacted: ...>`.
    #[arg(long)]
    pub show_secrets: bool,
    /// Output format for `values` (table prints YAML).
    #[arg(short = 'o', long, value_enum, default_value_t = Format::Table)]
    pub output: Format,
}

/// What part of a revision to show.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum What {
    /// The values (supplied, or all with --all).
    Values,
    /// The rendered manifest.
    Manifest,
    /// The rendered NOTES.txt.
    Notes,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let r = block_on(async {
        let cluster = Cluster::connect(&args.cluster.options()).await?;
        let ctx = output::context(cluster);
        Ok::<_, anyhow::Error>(action::get(&ctx, &args.release, args.revision).await?)
    })??;
    match args.what {
        What::Values => {
            let v = if args.all { &r.computed } else { &r.config };
            let f = if args.output == Format::Json {
                Format::Json
            } else {
                Format::Yaml
            };
            output::print_structured(v, f)?;
        }
        What::Manifest if args.show_secrets => super::print_out(&r.manifest)?,
        What::Manifest => super::print_out(&windlass::diff::mask_stream(&r.manifest))?,
        What::Notes => super::print_out(&r.notes)?,
    }
    Ok(ExitCode::SUCCESS)
}
