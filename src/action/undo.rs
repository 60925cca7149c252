//! What `--atomic` does after a failed operation, and trimming old
//! records once one succeeded.

use super::apply::{deploy, verb, Deploy};
use super::ownership::{self, judge, Verdict};
use super::session::Guard;
use super::{ActionError, AtomicOutcome, Context, DeployOptions};
use crate::cluster::{Change, Planned, Propagation};
use crate::release::Status;

/// Undoes a failed operation: an install removes what it created (never
/// volumes); an upgrade or rollback returns to the last good revision.
pub(super) async fn atomic_undo(
    ctx: &Context,
    guard: &Guard<'_>,
    name: &str,
    d: &Deploy,
    plan: &[Planned],
    opts: &DeployOptions,
) -> AtomicOutcome {
    if let Err(e) = guard.check() {
        return AtomicOutcome::Skipped { why: e.to_string() };
    }
    let Some(prev) = &d.last_good else {
        let mut removed = 0;
        for p in plan.iter().rev().filter(|p| p.change == Change::Create) {
            if let Ok(Verdict::Delete(live)) = judge(ctx, name, &p.object, false).await {
                if matches!(
                    ownership::delete_live(ctx, &live, Propagation::Background).await,
                    Ok(true)
                ) {
                    removed += 1;
                }
            }
        }
        return AtomicOutcome::Removed { objects: removed };
    };
    let history = match ctx.history(name).await {
        Ok(h) => h,
        Err(e) => {
            return AtomicOutcome::UndoFailed {
                message: e.to_string(),
            }
        }
    };
    let mut back = Deploy::next(
        &history,
        Status::PendingRollback,
        format!(
            "Rollback to {} after failed {} (--atomic)",
            prev.revision,
            verb(d.kind)
        ),
    );
    back.manifest = prev.manifest.clone();
    back.notes = prev.notes.clone();
    back.config = prev.config.clone();
    back.computed = prev.computed.clone();
    back.chart = prev.chart.clone();
    back.last_good = None;
    back.maybe_live = match history.maybe_live() {
        Ok(m) => m,
        Err(e) => {
            return AtomicOutcome::UndoFailed {
                message: e.to_string(),
            }
        }
    };
    let undo_opts = DeployOptions {
        atomic: false,
        take_ownership: true,
        force_conflicts: true,
        ..opts.clone()
    };
    match Box::pin(deploy(ctx, guard, name, back, &undo_opts, &history)).await {
        Ok(o) => AtomicOutcome::RolledBack {
            to: prev.revision,
            revision: o.release.revision,
        },
        Err(e) => AtomicOutcome::UndoFailed {
            message: e.to_string(),
        },
    }
}

pub(super) async fn prune_history(
    ctx: &Context,
    name: &str,
    max: usize,
) -> Result<(), ActionError> {
    if max == 0 {
        return Ok(());
    }
    let store = ctx.store();
    let revisions = store.statuses(name).await?;
    if revisions.len() <= max {
        return Ok(());
    }
    let excess = revisions.len() - max;
    for (revision, _) in revisions
        .iter()
        .filter(|(_, s)| *s != Status::Deployed)
        .take(excess)
    {
        store.delete(name, *revision).await?;
    }
    Ok(())
}
