//! Reading releases, and comparing them with the cluster: history,
//! status, list, diffs and drift.

use serde_json::Value;

use super::deploy::pruned;
use super::*;

/// A release's history, oldest first.
pub async fn history(ctx: &Context, name: &str) -> Result<Vec<Release>, ActionError> {
    let h = ctx.store().history(name).await?;
    if h.is_empty() {
        return Err(ActionError::State(format!(
            "release {name} not found in namespace {}",
            ctx.namespace
        )));
    }
    Ok(h)
}

/// Every record of a release, oldest first (empty when there are none).
pub async fn store_history(ctx: &Context, name: &str) -> Vec<Release> {
    ctx.store().history(name).await.unwrap_or_default()
}

/// One revision (default: the latest).
pub async fn get(ctx: &Context, name: &str, revision: Option<u64>) -> Result<Release, ActionError> {
    let mut h = history(ctx, name).await?;
    match revision {
        None => h.pop().ok_or_else(|| {
            ActionError::State(format!(
                "release {name} not found in namespace {}",
                ctx.namespace
            ))
        }),
        Some(r) => h
            .into_iter()
            .find(|x| x.revision == r)
            .ok_or_else(|| ActionError::State(format!("release {name} has no revision {r}"))),
    }
}

/// Releases in the namespace (or all), latest revision of each.
pub async fn list(
    ctx: &Context,
    all_namespaces: bool,
    all: bool,
) -> Result<Vec<Release>, ActionError> {
    let mut l = ctx.store().list(all_namespaces).await?;
    if !all {
        l.retain(|r| {
            matches!(r.status, Status::Deployed | Status::Failed) || r.status.is_pending()
        });
    }
    Ok(l)
}

/// The diff of applying `manifest` to release `name` now: every object as
/// the server would store it (server dry-run) against the live one, and what
/// would be pruned.
async fn diff_manifest(
    ctx: &Context,
    name: &str,
    manifest: &str,
    previous: &[Release],
) -> Result<Vec<crate::diff::Item>, ActionError> {
    use crate::diff::{Action, Item};
    let objects: Vec<Value> = objects_of(manifest)?
        .iter()
        .map(|o| with_ownership(o, name, &ctx.namespace))
        .collect();
    if ctx
        .cluster
        .get("v1", "Namespace", None, &ctx.namespace)
        .await?
        .is_none()
    {
        // Nothing can exist in a namespace that does not: every object is a
        // create, shown as rendered (the server cannot dry-run into it).
        let mut items = Vec::new();
        for o in &objects {
            let (_, prepared) = ctx.cluster.prepare(o).await?;
            items.push(Item {
                action: Action::Create,
                before: None,
                after: Some(prepared),
            });
        }
        return Ok(items);
    }
    let plan = ctx.cluster.plan(&objects, false).await?;
    let mut items: Vec<Item> = plan
        .iter()
        .map(|p| Item {
            action: match p.change {
                Change::Create => Action::Create,
                Change::Update => Action::Update,
                Change::Unchanged => Action::Unchanged,
            },
            before: p.before.clone(),
            after: Some(p.after.clone()),
        })
        .collect();
    for (obj, kept) in pruned(ctx, previous, &plan).await? {
        let Some(live) = ctx.cluster.get_object(&obj).await? else {
            continue;
        };
        items.push(Item {
            action: if kept { Action::Kept } else { Action::Delete },
            before: Some(live),
            after: None,
        });
    }
    Ok(items)
}

/// What `upgrade` (or, for a release that does not exist, `install`) would
/// change.
pub async fn diff_upgrade(
    ctx: &Context,
    chart: &Chart,
    user: &UserValues,
    name: &str,
    mode: ValuesMode,
) -> Result<Vec<crate::diff::Item>, ActionError> {
    release::validate_name(name)?;
    let history = ctx.store().history(name).await?;
    let u = upgrade_values(user, &history, mode);
    let is_install = history.iter().all(|r| r.status == Status::Uninstalled);
    let revision = history.last().map(|r| r.revision + 1).unwrap_or(1);
    let (rendered, _) = render_for(ctx, chart, &u, name, revision, is_install).await?;
    diff_manifest(ctx, name, &rendered.to_stream(), &live_records(&history)).await
}

/// What `rollback` would change.
pub async fn diff_rollback(
    ctx: &Context,
    name: &str,
    revision: Option<u64>,
) -> Result<Vec<crate::diff::Item>, ActionError> {
    let history = history(ctx, name).await?;
    let current = history.iter().rev().find(|r| r.status == Status::Deployed);
    let target_rev = revision
        .or_else(|| current.filter(|c| c.revision > 1).map(|c| c.revision - 1))
        .ok_or_else(|| {
            ActionError::State(format!(
                "release {name} has no earlier revision to roll back to"
            ))
        })?;
    let target = history
        .iter()
        .find(|r| r.revision == target_rev)
        .ok_or_else(|| {
            ActionError::State(format!("release {name} has no revision {target_rev}"))
        })?;
    diff_manifest(ctx, name, &target.manifest, &live_records(&history)).await
}

/// The diff between two recorded revisions (no dry-run: as recorded).
pub async fn diff_revisions(
    ctx: &Context,
    name: &str,
    a: u64,
    b: u64,
) -> Result<Vec<crate::diff::Item>, ActionError> {
    use crate::diff::{Action, Item};
    let ra = get(ctx, name, Some(a)).await?;
    let rb = get(ctx, name, Some(b)).await?;
    let key = |o: &Value| identity(o, true, &ctx.namespace);
    let before = objects_of(&ra.manifest)?;
    let after = objects_of(&rb.manifest)?;
    let mut items = Vec::new();
    for o in &after {
        match before.iter().find(|x| key(x) == key(o)) {
            None => items.push(Item {
                action: Action::Create,
                before: None,
                after: Some(o.clone()),
            }),
            Some(x) => items.push(Item {
                action: if crate::diff::differs(x, o, &[]) {
                    Action::Update
                } else {
                    Action::Unchanged
                },
                before: Some(x.clone()),
                after: Some(o.clone()),
            }),
        }
    }
    for x in &before {
        if !after.iter().any(|o| key(o) == key(x)) {
            let kept = keep(x) || is_data_kind(x["kind"].as_str().unwrap_or(""));
            items.push(Item {
                action: if kept { Action::Kept } else { Action::Delete },
                before: Some(x.clone()),
                after: None,
            });
        }
    }
    Ok(items)
}

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
    let history = history(ctx, name).await?;
    let deployed = history
        .iter()
        .rev()
        .find(|r| r.status == Status::Deployed)
        .ok_or_else(|| ActionError::State(format!("release {name} has no deployed revision")))?;
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
    locked(ctx, name, async |history: Vec<Release>| {
        let deployed = history
            .iter()
            .rev()
            .find(|r| r.status == Status::Deployed)
            .ok_or_else(|| {
                ActionError::State(format!("release {name} has no deployed revision"))
            })?;
        let objects: Vec<Value> = objects_of(&deployed.manifest)?
            .iter()
            .map(|o| with_ownership(o, name, &ctx.namespace))
            .collect();
        let plan = ctx.cluster.plan(&objects, true).await?;
        Ok(ctx.cluster.execute(&plan, true).await?)
    })
    .await
}
