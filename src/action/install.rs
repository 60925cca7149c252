//! `install`: a new release, or a new life for one uninstalled with its
//! history kept or whose installs all failed.

use super::apply::{self, deploy, dry_deploy, from_render, render_for, Deploy};
use super::session::locked;
use super::{ActionError, Context, DeployOptions, DryRun, History, Outcome};
use crate::chart::Chart;
use crate::release::{self, Status};
use crate::values::UserValues;

fn install_deploy(
    history: &History,
    chart: &Chart,
    user: &UserValues,
    opts: &DeployOptions,
    rendered: (crate::render::Rendered, serde_json::Value),
) -> Result<Deploy, ActionError> {
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
    let refuse_deployed = |history: &History| match history.deployed() {
        Some(d) => Err(ActionError::AlreadyDeployed {
            release: opts.release.clone(),
            namespace: ctx.namespace.clone(),
            revision: d.revision,
        }),
        None => Ok(()),
    };
    if opts.dry_run != DryRun::None {
        let history = ctx.history(&opts.release).await?;
        refuse_deployed(&history)?;
        let rendered = render_for(
            ctx,
            chart,
            user,
            &opts.release,
            history.next_revision(),
            true,
        )
        .await?;
        let mut d = install_deploy(&history, chart, user, opts, rendered)?;
        if !opts.skip_crds {
            d.crds = super::phases::crds_dir(chart)?;
        }
        return dry_deploy(ctx, &opts.release, d, opts).await;
    }
    apply::ensure_namespace(ctx, opts.create_namespace).await?;
    locked(ctx, &opts.release, async |history: History, guard| {
        refuse_deployed(&history)?;
        if !opts.skip_crds {
            guard.check()?;
            super::phases::install_crds_dir(ctx, chart, opts.timeout).await?;
        }
        let rendered = render_for(
            ctx,
            chart,
            user,
            &opts.release,
            history.next_revision(),
            true,
        )
        .await?;
        let d = install_deploy(&history, chart, user, opts, rendered)?;
        deploy(ctx, guard, &opts.release, d, opts, &history).await
    })
    .await
}
