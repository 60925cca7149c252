//! `windlass upgrade RELEASE CHART`

use std::path::PathBuf;
use std::process::ExitCode;

use clap::ArgMatches;
use windlass::action::{self, DryRun, ValuesMode};
use windlass::cluster::Cluster;
use windlass::values::UserValues;

use super::install::{report, DeployArgs};
use super::{block_on, output, ClusterArgs, ValuesArgs};

/// Upgrade a release to a chart and values.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Release name.
    pub release: String,
    /// Chart directory, .tgz archive, REPO/CHART from a repository added with `windlass repo add`, or oci://HOST/PATH/CHART.
    pub chart: PathBuf,
    #[command(flatten)]
    pub source: super::SourceArgs,
    #[command(flatten)]
    pub values: ValuesArgs,
    #[command(flatten)]
    pub cluster: ClusterArgs,
    #[command(flatten)]
    pub deploy: DeployArgs,
    /// Install the release if it does not exist.
    #[arg(short = 'i', long)]
    pub install: bool,
    /// Start from the previous revision's values and lay the new ones over them.
    #[arg(long, conflicts_with = "reset_values")]
    pub reuse_values: bool,
    /// Use only the values given now (the default).
    #[arg(long)]
    pub reset_values: bool,
    /// With --install: create the release namespace if it does not exist.
    #[arg(long)]
    pub create_namespace: bool,
}

pub fn run(args: Args, matches: Option<&ArgMatches>) -> anyhow::Result<ExitCode> {
    let chart = super::load_chart(&args.chart, &args.source)?;
    let user = UserValues::load(&args.values.sources(matches))?;
    let opts = args.deploy.options(&args.release, args.create_namespace);
    super::install::offline_type_check(&chart, &user, &args.release, &args.cluster)?;
    if opts.dry_run == DryRun::Client {
        return super::install::client_dry_run(
            &chart,
            &user,
            &args.release,
            &args.cluster,
            args.deploy.show_secrets,
        );
    }
    let mode = if args.reuse_values {
        ValuesMode::Reuse
    } else {
        ValuesMode::Reset
    };
    args.deploy.check_confirm()?;
    let outcome = block_on(async {
        let cluster = Cluster::connect(&args.cluster.options()).await?;
        let mut ctx = output::writing_context(cluster);
        args.deploy.confirm_on(&mut ctx);

        Ok::<_, anyhow::Error>(
            action::upgrade(&ctx, &chart, &user, &opts, mode, args.install).await?,
        )
    })??;
    report(
        &outcome,
        opts.dry_run != DryRun::None,
        args.deploy.show_secrets,
    )?;
    Ok(ExitCode::SUCCESS)
}
