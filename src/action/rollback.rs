//! `rollback`: a new revision with a recorded revision's manifest.

use super::apply::{deploy, dry_deploy, Deploy};
use super::session::locked;
use super::{ActionError, Context, DeployOptions, DryRun, History, Outcome};
use crate::release::{self, Status};

fn rollback_deploy(
    history: &History,
    revision: Option<u64>,
    opts: &DeployOptions,
) -> Result<Deploy, ActionError> {
    if history.records().is_empty() {
        return Err(history.not_found());
    }
    let target = history.rollback_target(revision)?;

    let mut d = Deploy::next(
        history,
        Status::PendingRollback,
        opts.description
            .clone()
            .unwrap_or_else(|| format!("Rollback to {}", target.revision)),
    );
    d.manifest = target.manifest.clone();
    d.notes = target.notes.clone();
    d.config = target.config.clone();
    d.computed = target.computed.clone();
    d.chart = target.chart.clone();
    d.lookups = target.lookups.clone();
    d.maybe_live = history.maybe_live()?;
    Ok(d)
}

/// Rolls a release back to `revision` (default: see
/// [`History::rollback_target`]) as a new revision.
pub async fn rollback(
    ctx: &Context,
    name: &str,
    revision: Option<u64>,
    opts: &DeployOptions,
) -> Result<Outcome, ActionError> {
    release::validate_name(name)?;
    // Read first: a release that does not exist is reported as such,
    // not as a lock that cannot be created in a missing namespace.
    let history = ctx.history(name).await?;
    if opts.dry_run != DryRun::None || history.records().is_empty() {
        let d = rollback_deploy(&history, revision, opts)?;
        return dry_deploy(ctx, name, d, opts).await;
    }
    locked(ctx, name, async |history: History, guard| {
        let d = rollback_deploy(&history, revision, opts)?;
        deploy(ctx, guard, name, d, opts, &history).await
    })
    .await
}
