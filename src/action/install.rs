//! `install`: a new release, or a new life for one uninstalled with its
//! history kept or whose installs all failed.

use super::apply::{self, deploy, dry_deploy, from_render, render_for, Deploy};
use super::session::locked;
use super::{ActionError, Context, DeployOptions, DryRun, History, Outcome};
use crate::chart::Chart;
use crate::release::{self, Status};
use crate::values::UserValues;

/// An install of a release that is deployed is an upgrade's job.
fn refuse_deployed(
    ctx: &Context,
    history: &History,
    opts: &DeployOptions,
) -> Result<(), ActionError> {
    match history.deployed() {
        Some(d) => Err(ActionError::AlreadyDeployed {
            release: opts.release.clone(),
            namespace: ctx.namespace.clone(),
            revision: d.revision,
        }),
        None => Ok(()),
    }
}

/// The deploy of an install as the next revision of `history`, refused
/// while a revision is deployed.
async fn install_deploy(
    ctx: &Context,
    history: &History,
    chart: &Chart,
    user: &UserValues,
    opts: &DeployOptions,
) -> Result<Deploy, ActionError> {
    refuse_deployed(ctx, history, opts)?;
    let rendered = render_for(
        ctx,
        chart,
        user,
        &opts.release,
        history.next_revision(),
        true,
        &history.lookups(),
    )
    .await?;
    let mut d = Deploy::next(
        history,
        Status::PendingInstall,
        opts.description
            .clone()
            .unwrap_or_else(|| "Install complete".into()),
    );
    d.first_deployed = release::now();
    // Objects failed installs said they would create may be there.
    d.maybe_live = history.maybe_live()?;
    d.last_good = None;
    Ok(from_render(d, chart, user, rendered))
}

/// Installs a chart as a new release.
pub async fn install(
    ctx: &Context,
    chart: &Chart,
    user: &UserValues,
    opts: &DeployOptions,
) -> Result<Outcome, ActionError> {
    release::validate_name(&opts.release)?;
    if opts.dry_run != DryRun::None {
        let history = ctx.history(&opts.release).await?;
        let mut d = install_deploy(ctx, &history, chart, user, opts).await?;
        if !opts.skip_crds {
            d.crds = super::phases::crds_dir(chart)?;
        }
        return dry_deploy(ctx, &opts.release, d, opts).await;
    }
    apply::ensure_namespace(ctx, opts.create_namespace).await?;
    locked(ctx, &opts.release, async |history: History, guard| {
        // Before the crds/ directory is installed, not only before the rest.
        refuse_deployed(ctx, &history, opts)?;
        if !opts.skip_crds {
            guard.check()?;
            super::phases::install_crds_dir(ctx, chart, opts.timeout).await?;
        }
        let d = install_deploy(ctx, &history, chart, user, opts).await?;
        deploy(ctx, guard, &opts.release, d, opts, &history).await
    })
    .await
}
