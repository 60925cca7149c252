//! `drift`: how the live objects compare with the deployed revision, and
//! putting them back.

use serde_json::Value;

use super::ownership::{objects_of, with_ownership};
use super::session::locked;
use super::{ActionError, Context, History};
use crate::cluster::ClusterError;

/// How one object of the deployed revision compares with the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DriftState {
    /// Live state matches the deployed revision.
    InSync,
    /// Fields differ; each with the field manager that owns the live value.
    Changed(Vec<(String, String)>),
    /// The object was deleted out of band.
    Missing,
}

/// Drift of one object.
#[derive(Debug, Clone)]
pub struct Drift {
    /// `Kind namespace/name`.
    pub object: String,
    /// What differs.
    pub state: DriftState,
}

/// Compares the live objects with the deployed revision. Changed fields are
/// found by a server dry-run apply of the deployed manifest: a field another
/// manager took over is a conflict naming that manager and field.
pub async fn drift(ctx: &Context, name: &str) -> Result<Vec<Drift>, ActionError> {
    let history = ctx.history(name).await?;
    if history.records().is_empty() {
        return Err(history.not_found());
    }
    let deployed = history
        .deployed()
        .ok_or_else(|| ActionError::NoDeployedRevision {
            release: name.to_string(),
        })?;
    let mut out = Vec::new();
    for obj in objects_of(&deployed.manifest)? {
        let obj = with_ownership(&obj, name, &ctx.namespace);
        let (_, o) = ctx.cluster.prepare(&obj).await?;
        let id = crate::cluster::describe(&o);
        let live = ctx.cluster.get_object(&o).await?;
        let Some(live) = live else {
            out.push(Drift {
                object: id,
                state: DriftState::Missing,
            });
            continue;
        };
        let state = match ctx
            .cluster
            .apply(
                &o,
                crate::cluster::ApplyOptions {
                    force: false,
                    dry_run: true,
                },
            )
            .await
        {
            Err(ClusterError::ApplyConflict { conflicts, .. }) => DriftState::Changed(
                conflicts
                    .into_iter()
                    .map(|c| (c.field, c.manager))
                    .collect(),
            ),
            Err(e) => return Err(e.into()),
            Ok(after) => {
                let paths = crate::diff::changed_paths(Some(&live), Some(&after), &[]);
                if paths.is_empty() {
                    DriftState::InSync
                } else {
                    DriftState::Changed(paths.into_iter().map(|p| (format!(".{p}"), "unknown (the value was removed or changed without taking ownership)".to_string())).collect())
                }
            }
        };
        out.push(Drift { object: id, state });
    }
    Ok(out)
}

/// Re-applies the deployed revision with force, restoring drifted fields
/// and re-creating deleted objects. Returns how many objects were written.
pub async fn fix_drift(ctx: &Context, name: &str) -> Result<usize, ActionError> {
    locked(ctx, name, async |history: History, guard| {
        let deployed = history
            .deployed()
            .ok_or_else(|| ActionError::NoDeployedRevision {
                release: name.to_string(),
            })?;
        let objects: Vec<Value> = objects_of(&deployed.manifest)?
            .iter()
            .map(|o| with_ownership(o, name, &ctx.namespace))
            .collect();
        let plan = ctx.cluster.plan(&objects, true).await?;
        guard.check()?;
        let proceed = || guard.check().is_ok();
        match ctx.cluster.execute_checked(&plan, true, &proceed).await {
            Ok(written) => Ok(written.len()),
            Err(ClusterError::Stopped) => {
                Err(guard.check().err().unwrap_or(ActionError::Interrupted))
            }
            Err(e) => Err(e.into()),
        }
    })
    .await
}
