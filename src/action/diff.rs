//! Diffs: what `upgrade` or `rollback` would change in the live cluster
//! (the same plan, ownership checks and prune decisions the operation
//! makes), and how two recorded revisions differ.

use serde_json::Value;

use super::apply::{prune_verdicts, render_for};
use super::ownership::{is_data_kind, keep, objects_of, split_hooks, with_ownership, Verdict};
use super::upgrade::upgrade_values;
use super::{ActionError, Context, ValuesMode};
use crate::chart::Chart;
use crate::cluster::{Change, ObjectRef, Planned};
use crate::diff::{Action, Item};
use crate::hook::Event;
use crate::release;
use crate::values::UserValues;

/// A plan and its prune verdicts as diff items.
pub(super) fn plan_items(plan: &[Planned], verdicts: &[Verdict]) -> Vec<Item> {
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
    for v in verdicts {
        let (action, live) = match v {
            Verdict::Delete(l) => (Action::Delete, l),
            Verdict::Keep(l) => (Action::Kept, l),
            Verdict::NotOurs(_) | Verdict::Gone => continue,
        };
        items.push(Item {
            action,
            before: Some(live.clone()),
            after: None,
        });
    }
    items
}

/// The diff of applying `manifest` to release `name` now: every object as
/// the server would store it (server dry-run) against the live one, and what
/// would be pruned.
async fn diff_manifest(
    ctx: &Context,
    name: &str,
    manifest: &str,
    maybe_live: &[Value],
) -> Result<Vec<Item>, ActionError> {
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
    let phases = super::phases::split(ctx, objects, &[]).await?;
    let plan = ctx.cluster.plan(&phases.now, false).await?;
    let verdicts = prune_verdicts(ctx, name, maybe_live, &plan, false).await?;
    let mut items = plan_items(&plan, &verdicts);
    // Objects that need the chart's own CRDs or Namespaces first: shown
    // as rendered (the server cannot dry-run them yet).
    items.extend(phases.later.into_iter().map(|o| Item {
        action: Action::Create,
        before: None,
        after: Some(o),
    }));
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
) -> Result<Vec<Item>, ActionError> {
    Ok(diff_upgrade_plan(ctx, chart, user, name, mode).await?.items)
}

/// A diff with the hooks the operation would run.
#[derive(Debug, Clone)]
pub struct DiffPlan {
    /// What would change.
    pub items: Vec<Item>,
    /// `pre-upgrade: Job ns/name (weight 0)`, in the order they would run.
    pub hooks: Vec<String>,
}

/// [`diff_upgrade`], with the hooks that would run.
pub async fn diff_upgrade_plan(
    ctx: &Context,
    chart: &Chart,
    user: &UserValues,
    name: &str,
    mode: ValuesMode,
) -> Result<DiffPlan, ActionError> {
    release::validate_name(name)?;
    let history = ctx.history(name).await?;
    let u = upgrade_values(user, &history, mode);
    let (rendered, _) = render_for(
        ctx,
        chart,
        &u,
        name,
        history.next_revision(),
        !history.exists(),
        &history.lookups(),
    )
    .await?;
    let stream = rendered.to_stream();
    let events = if history.exists() {
        [Event::PreUpgrade, Event::PostUpgrade]
    } else {
        [Event::PreInstall, Event::PostInstall]
    };
    Ok(DiffPlan {
        items: diff_manifest(ctx, name, &stream, &history.maybe_live()?).await?,
        hooks: hook_plan(ctx, &stream, &events).await?,
    })
}

async fn hook_plan(
    ctx: &Context,
    manifest: &str,
    events: &[Event],
) -> Result<Vec<String>, ActionError> {
    super::hooks::plan_lines(ctx, &split_hooks(manifest)?.0, events).await
}

/// What `rollback` would change.
pub async fn diff_rollback(
    ctx: &Context,
    name: &str,
    revision: Option<u64>,
) -> Result<Vec<Item>, ActionError> {
    Ok(diff_rollback_plan(ctx, name, revision).await?.items)
}

/// [`diff_rollback`], with the hooks that would run.
pub async fn diff_rollback_plan(
    ctx: &Context,
    name: &str,
    revision: Option<u64>,
) -> Result<DiffPlan, ActionError> {
    let history = ctx.history(name).await?;
    if history.records().is_empty() {
        return Err(history.not_found());
    }
    let target = history.rollback_target(revision)?;
    Ok(DiffPlan {
        items: diff_manifest(ctx, name, &target.manifest, &history.maybe_live()?).await?,
        hooks: hook_plan(
            ctx,
            &target.manifest,
            &[Event::PreRollback, Event::PostRollback],
        )
        .await?,
    })
}

/// The diff between two recorded revisions (no dry-run: as recorded).
pub async fn diff_revisions(
    ctx: &Context,
    name: &str,
    a: u64,
    b: u64,
) -> Result<Vec<Item>, ActionError> {
    let history = ctx.history(name).await?;
    if history.records().is_empty() {
        return Err(history.not_found());
    }
    let key = |o: &Value| {
        let mut r = ObjectRef::of(o);
        if r.namespace.is_empty() {
            r.namespace = ctx.namespace.clone();
        }
        r
    };
    let before = objects_of(&history.revision(a)?.manifest)?;
    let after = objects_of(&history.revision(b)?.manifest)?;
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
