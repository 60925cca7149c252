//! `windlass rollback RELEASE [REVISION]`

use std::process::ExitCode;

use windlass::action::{self, DryRun};
use windlass::cluster::Cluster;

use super::install::{report, DeployArgs};
use super::{block_on, output, ClusterArgs};

/// Roll a release back to an earlier revision (as a new revision).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Release name.
    pub release: String,
    /// Revision to return to (default: the good revision before the deployed
    /// one; after a failed operation left none deployed, the last good one).
    pub revision: Option<u64>,
    #[command(flatten)]
    pub cluster: ClusterArgs,
    #[command(flatten)]
    pub deploy: DeployArgs,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let opts = args.deploy.options(&args.release, false);
    args.deploy.check_confirm()?;
    let outcome = block_on(async {
        let cluster = Cluster::connect(&args.cluster.options()).await?;
        let mut ctx = output::writing_context(cluster);
        args.deploy.confirm_on(&mut ctx);

        action::rollback(&ctx, &args.release, args.revision, &opts).await
    })??;
    report(
        &outcome,
        opts.dry_run != DryRun::None,
        args.deploy.show_secrets,
    )?;
    Ok(ExitCode::SUCCESS)
}
