//! `upgrade`: a new revision from a chart and values.

use super::apply::{deploy, dry_deploy, from_render, render_for, Deploy};
use super::session::locked;
use super::{ActionError, Context, DeployOptions, DryRun, History, Outcome, ValuesMode};
use crate::chart::Chart;
use crate::release::{self, Status};
use crate::values::{self, UserValues};

/// The values an upgrade renders with: with `--reuse-values`, the last
/// good revision's values with the new ones laid over them (never a failed
/// revision's); otherwise only the new ones.
pub(super) fn upgrade_values(user: &UserValues, history: &History, mode: ValuesMode) -> UserValues {
    match (mode, history.reusable_values()) {
        (ValuesMode::Reuse, Some(prev)) => {
            let mut v = prev.clone();
            values::overlay(&mut v, user.values.clone());
            UserValues::from_value(v, "previous values with --reuse-values")
        }
        _ => user.clone(),
    }
}

async fn upgrade_deploy(
    ctx: &Context,
    history: &History,
    chart: &Chart,
    user: &UserValues,
    opts: &DeployOptions,
    mode: ValuesMode,
) -> Result<Deploy, ActionError> {
    let u = upgrade_values(user, history, mode);
    let rendered = render_for(
        ctx,
        chart,
        &u,
        &opts.release,
        history.next_revision(),
        false,
        &history.lookups(),
    )
    .await?;
    let mut d = Deploy::next(
        history,
        Status::PendingUpgrade,
        opts.description
            .clone()
            .unwrap_or_else(|| "Upgrade complete".into()),
    );
    d.maybe_live = history.maybe_live()?;
    Ok(from_render(d, chart, &u, rendered))
}

/// Upgrades a release to a chart and values (with `install_if_missing`,
/// installs it when it does not exist).
pub async fn upgrade(
    ctx: &Context,
    chart: &Chart,
    user: &UserValues,
    opts: &DeployOptions,
    mode: ValuesMode,
    install_if_missing: bool,
) -> Result<Outcome, ActionError> {
    release::validate_name(&opts.release)?;
    let history = ctx.history(&opts.release).await?;
    if !history.exists() {
        if install_if_missing {
            return super::install(ctx, chart, user, opts).await;
        }
        return Err(ActionError::NotInstalled {
            release: opts.release.clone(),
            namespace: ctx.namespace.clone(),
        });
    }
    if opts.dry_run != DryRun::None {
        let d = upgrade_deploy(ctx, &history, chart, user, opts, mode).await?;
        return dry_deploy(ctx, &opts.release, d, opts).await;
    }
    locked(ctx, &opts.release, async |history: History, guard| {
        let d = upgrade_deploy(ctx, &history, chart, user, opts, mode).await?;
        deploy(ctx, guard, &opts.release, d, opts, &history).await
    })
    .await
}
