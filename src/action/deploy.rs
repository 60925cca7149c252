//! Install, upgrade and rollback: plan with a server dry-run, record,
//! apply, prune, wait, and record the outcome (undoing it with --atomic).

use std::collections::HashSet;

use serde_json::Value;

use super::*;

/// Installs a chart as a new release.
pub async fn install(
    ctx: &Context,
    chart: &Chart,
    user: &UserValues,
    opts: &DeployOptions,
) -> Result<Outcome, ActionError> {
    release::validate_name(&opts.release)?;
    if opts.dry_run != DryRun::None {
        let (rendered, computed) = render_for(ctx, chart, user, &opts.release, 1, true).await?;
        return dry(
            ctx,
            &opts.release,
            chart,
            user,
            (rendered, computed),
            opts,
            Status::PendingInstall,
            None,
        )
        .await;
    }
    ensure_namespace(ctx, opts.create_namespace).await?;
    locked(ctx, &opts.release, async |history: Vec<Release>| {
        if let Some(d) = history.iter().find(|r| r.status == Status::Deployed) {
            return Err(ActionError::State(format!(
                "release {} already exists in namespace {} (revision {} is deployed); use `windlass upgrade`",
                opts.release, ctx.namespace, d.revision
            )));
        }
        let revision = history.last().map(|r| r.revision + 1).unwrap_or(1);
        let (rendered, computed) = render_for(ctx, chart, user, &opts.release, revision, true).await?;
        let d = Deploy {
            kind: Status::PendingInstall,
            revision,
            manifest: rendered.to_stream(),
            notes: rendered.notes.unwrap_or_default(),
            config: user.values.clone(),
            computed,
            chart: chart_ref(chart),
            first_deployed: release::now(),
            description: opts.description.clone().unwrap_or_else(|| "Install complete".into()),
            previous: live_records(&history),
            last_deployed: None,
        };
        deploy(ctx, &opts.release, d, opts, &history).await
    })
    .await
}

fn chart_ref(chart: &Chart) -> ChartRef {
    ChartRef {
        name: chart.metadata.name.clone(),
        version: chart.metadata.version.clone(),
        app_version: chart.metadata.app_version_string().unwrap_or_default(),
        digest: digest(chart),
    }
}

/// Upgrades a release to a chart and values (with `install`, installs it
/// when it does not exist).
pub async fn upgrade(
    ctx: &Context,
    chart: &Chart,
    user: &UserValues,
    opts: &DeployOptions,
    mode: ValuesMode,
    install_if_missing: bool,
) -> Result<Outcome, ActionError> {
    release::validate_name(&opts.release)?;
    let history = ctx.store().history(&opts.release).await?;
    if history.iter().all(|r| r.status == Status::Uninstalled) {
        if install_if_missing {
            return install(ctx, chart, user, opts).await;
        }
        return Err(ActionError::State(format!(
            "release {} has no revisions in namespace {}; install it first (or pass --install)",
            opts.release, ctx.namespace
        )));
    }
    if opts.dry_run != DryRun::None {
        let u = upgrade_values(user, &history, mode);
        let revision = history.last().map(|r| r.revision + 1).unwrap_or(1);
        let (rendered, computed) =
            render_for(ctx, chart, &u, &opts.release, revision, false).await?;
        let prev = history
            .iter()
            .rev()
            .find(|r| r.status == Status::Deployed)
            .cloned();
        return dry(
            ctx,
            &opts.release,
            chart,
            &u,
            (rendered, computed),
            opts,
            Status::PendingUpgrade,
            prev,
        )
        .await;
    }
    locked(ctx, &opts.release, async |history: Vec<Release>| {
        let u = upgrade_values(user, &history, mode);
        let revision = history.last().map(|r| r.revision + 1).unwrap_or(1);
        let (rendered, computed) =
            render_for(ctx, chart, &u, &opts.release, revision, false).await?;
        let last_deployed = history
            .iter()
            .rev()
            .find(|r| r.status == Status::Deployed)
            .cloned();
        let d = Deploy {
            kind: Status::PendingUpgrade,
            revision,
            manifest: rendered.to_stream(),
            notes: rendered.notes.unwrap_or_default(),
            config: u.values.clone(),
            computed,
            chart: chart_ref(chart),
            first_deployed: history
                .first()
                .map(|r| r.first_deployed.clone())
                .unwrap_or_else(release::now),
            description: opts
                .description
                .clone()
                .unwrap_or_else(|| "Upgrade complete".into()),
            previous: live_records(&history),
            last_deployed,
        };
        deploy(ctx, &opts.release, d, opts, &history).await
    })
    .await
}

/// Rolls a release back to `revision` (default: the one before the
/// deployed revision) as a new revision.
pub async fn rollback(
    ctx: &Context,
    name: &str,
    revision: Option<u64>,
    opts: &DeployOptions,
) -> Result<Outcome, ActionError> {
    release::validate_name(name)?;
    let lock = if opts.dry_run == DryRun::None {
        Some(Lock::acquire(ctx.cluster.clone(), &ctx.namespace, name, ctx.lock_duration).await?)
    } else {
        None
    };
    let result = async {
        let history = match &lock {
            Some(l) => recover(ctx, name, l).await?,
            None => ctx.store().history(name).await?,
        };
        let current = history
            .iter()
            .rev()
            .find(|r| r.status == Status::Deployed)
            .cloned();
        let latest_superseded = history
            .iter()
            .rev()
            .find(|r| r.status == Status::Superseded)
            .map(|r| r.revision);
        // Default: the revision before the deployed one; after a failed
        // operation left none deployed, the last one that was.
        let default_target = match &current {
            Some(c) if c.revision > 1 => Some(c.revision - 1),
            Some(_) => None,
            None => latest_superseded,
        };
        let target_rev = match revision.or(default_target) {
            Some(r) => r,
            None => {
                return Err(ActionError::State(format!(
                    "release {name} has no earlier revision to roll back to"
                )))
            }
        };
        let target = history
            .iter()
            .find(|r| r.revision == target_rev)
            .cloned()
            .ok_or_else(|| {
                ActionError::State(format!(
                    "release {name} has no revision {target_rev} (see `windlass history {name}`)"
                ))
            })?;
        let next = history.last().map(|r| r.revision + 1).unwrap_or(1);
        let d = Deploy {
            kind: Status::PendingRollback,
            revision: next,
            manifest: target.manifest.clone(),
            notes: target.notes.clone(),
            config: target.config.clone(),
            computed: target.computed.clone(),
            chart: target.chart.clone(),
            first_deployed: history
                .first()
                .map(|r| r.first_deployed.clone())
                .unwrap_or_else(release::now),
            description: opts
                .description
                .clone()
                .unwrap_or_else(|| format!("Rollback to {target_rev}")),
            previous: live_records(&history),
            last_deployed: current,
        };
        if opts.dry_run != DryRun::None {
            return dry_deploy(ctx, name, d, opts).await;
        }
        deploy(ctx, name, d, opts, &history).await
    }
    .await;
    if let Some(l) = lock {
        finish(ctx, l).await;
    }
    result
}

#[allow(clippy::too_many_arguments)]
async fn dry(
    ctx: &Context,
    name: &str,
    chart: &Chart,
    user: &UserValues,
    (rendered, computed): (render::Rendered, Value),
    opts: &DeployOptions,
    kind: Status,
    prev: Option<Release>,
) -> Result<Outcome, ActionError> {
    let d = Deploy {
        kind,
        revision: prev.as_ref().map(|r| r.revision + 1).unwrap_or(1),
        manifest: rendered.to_stream(),
        notes: rendered.notes.unwrap_or_default(),
        config: user.values.clone(),
        computed,
        chart: chart_ref(chart),
        first_deployed: release::now(),
        description: "Dry run".into(),
        previous: prev.iter().cloned().collect(),
        last_deployed: prev,
    };
    dry_deploy(ctx, name, d, opts).await
}

fn record(name: &str, ns: &str, d: &Deploy, status: Status, description: String) -> Release {
    Release {
        name: name.to_string(),
        namespace: ns.to_string(),
        revision: d.revision,
        status,
        description,
        first_deployed: d.first_deployed.clone(),
        last_deployed: release::now(),
        chart: d.chart.clone(),
        config: d.config.clone(),
        computed: d.computed.clone(),
        manifest: d.manifest.clone(),
        notes: d.notes.clone(),
    }
}

async fn dry_deploy(
    ctx: &Context,
    name: &str,
    d: Deploy,
    opts: &DeployOptions,
) -> Result<Outcome, ActionError> {
    let objects: Vec<Value> = objects_of(&d.manifest)?
        .iter()
        .map(|o| with_ownership(o, name, &ctx.namespace))
        .collect();
    let mut lines = Vec::new();
    if opts.dry_run == DryRun::Server {
        let plan = ctx.cluster.plan(&objects, opts.force_conflicts).await?;
        lines = plan_lines(&plan);
        lines.extend(prune_lines(ctx, &d, &plan).await?.0);
    }
    Ok(Outcome {
        release: record(name, &ctx.namespace, &d, d.kind, "Dry run complete".into()),
        lines,
        manifest: d.manifest,
    })
}

fn plan_lines(plan: &[Planned]) -> Vec<Line> {
    plan.iter()
        .map(|p| Line {
            object: crate::cluster::describe(&p.object),
            action: match p.change {
                Change::Create => "create",
                Change::Update => "update",
                Change::Unchanged => "unchanged",
            },
        })
        .collect()
}

/// Objects of the previous revision the new one no longer has: deleted, or
/// kept (resource-policy keep, and always PersistentVolumes and claims).
async fn prune_lines(
    ctx: &Context,
    d: &Deploy,
    plan: &[Planned],
) -> Result<(Vec<Line>, Vec<Value>), ActionError> {
    let mut lines = Vec::new();
    let mut delete = Vec::new();
    for (obj, kept) in pruned(ctx, &d.previous, plan).await? {
        let object = crate::cluster::describe(&obj);
        if kept {
            lines.push(Line {
                object,
                action: "keep",
            });
        } else {
            lines.push(Line {
                object,
                action: "delete",
            });
            delete.push(obj);
        }
    }
    Ok((lines, delete))
}

/// Objects of `previous` revisions that the plan no longer has, newest
/// first, each once, with whether they are kept.
pub(super) async fn pruned(
    ctx: &Context,
    previous: &[Release],
    plan: &[Planned],
) -> Result<Vec<(Value, bool)>, ActionError> {
    let mut seen: HashSet<_> = plan
        .iter()
        .map(|p| identity(&p.object, p.namespaced, &ctx.namespace))
        .collect();
    let mut old = Vec::new();
    for prev in previous.iter().rev() {
        old.extend(objects_of(&prev.manifest)?.into_iter().rev());
    }
    let mut out = Vec::new();
    for obj in old {
        let (info, prepared) = match ctx.cluster.prepare(&obj).await {
            Ok(x) => x,
            Err(ClusterError::UnknownKind { .. }) => continue,
            Err(e) => return Err(e.into()),
        };
        if !seen.insert(identity(&prepared, info.namespaced, &ctx.namespace)) {
            continue;
        }
        let kept = keep(&prepared) || is_data_kind(prepared["kind"].as_str().unwrap_or(""));
        out.push((prepared, kept));
    }
    Ok(out)
}

/// Fails when an existing object belongs to someone else.
fn check_ownership(plan: &[Planned], name: &str, ns: &str, take: bool) -> Result<(), ActionError> {
    if take {
        return Ok(());
    }
    for p in plan {
        let Some(live) = &p.before else { continue };
        let a = &live["metadata"]["annotations"];
        if a[RELEASE_NAME_ANNOTATION] == name && a[RELEASE_NAMESPACE_ANNOTATION] == ns {
            continue;
        }
        let owner = match a[RELEASE_NAME_ANNOTATION].as_str() {
            Some(r) => format!(
                "it belongs to release {r} in namespace {}",
                a[RELEASE_NAMESPACE_ANNOTATION].as_str().unwrap_or("?")
            ),
            None => match live["metadata"]["labels"]["app.kubernetes.io/managed-by"].as_str() {
                Some(m) => format!("managed by {m}"),
                None => "created outside windlass".into(),
            },
        };
        return Err(ActionError::NotOwned {
            object: crate::cluster::describe(&p.object),
            release: name.to_string(),
            owner,
        });
    }
    Ok(())
}

/// Plans `objects`; when some are still being deleted (an uninstall just
/// before, a foreground delete waiting for the garbage collector), waits
/// for them to go, within `--timeout`, and plans again: applying to a
/// terminating object would change it and then lose it.
async fn plan_past_deletions(
    ctx: &Context,
    objects: &[Value],
    opts: &DeployOptions,
) -> Result<Vec<Planned>, ActionError> {
    let plan = ctx.cluster.plan(objects, opts.force_conflicts).await?;
    let terminating: Vec<Value> = plan
        .iter()
        .filter_map(|p| p.before.as_ref())
        .filter(|b| b["metadata"]["deletionTimestamp"].is_string())
        .cloned()
        .collect();
    if terminating.is_empty() {
        return Ok(plan);
    }
    (ctx.progress)(&format!(
        "waiting for {} object(s) still being deleted: {}",
        terminating.len(),
        crate::cluster::describe(&terminating[0])
    ));
    match ctx
        .cluster
        .wait_deleted(&terminating, opts.timeout, ctx.poll, &|_| {})
        .await
    {
        Ok(()) => Ok(ctx.cluster.plan(objects, opts.force_conflicts).await?),
        Err(ClusterError::Timeout { seconds, not_ready }) => Err(ActionError::State(format!(
            "objects of this release are still being deleted after {seconds}s, so nothing was changed: {}; wait for them to go (or remove the finalizers that hold them) and run again",
            not_ready.join("; ")
        ))),
        Err(e) => Err(e.into()),
    }
}

async fn deploy(
    ctx: &Context,
    name: &str,
    d: Deploy,
    opts: &DeployOptions,
    history: &[Release],
) -> Result<Outcome, ActionError> {
    let store = ctx.store();
    let objects: Vec<Value> = objects_of(&d.manifest)?
        .iter()
        .map(|o| with_ownership(o, name, &ctx.namespace))
        .collect();
    // Plan first: the server validates every object before anything is
    // written, so a change it refuses leaves the cluster and history as
    // they were.
    let plan = plan_past_deletions(ctx, &objects, opts).await?;
    check_ownership(&plan, name, &ctx.namespace, opts.take_ownership)?;
    let (prune, to_delete) = prune_lines(ctx, &d, &plan).await?;
    let mut lines = plan_lines(&plan);
    lines.extend(prune);
    (ctx.progress)(&format!(
        "revision {}: {} to create, {} to update, {} unchanged, {} to delete",
        d.revision,
        lines.iter().filter(|l| l.action == "create").count(),
        lines.iter().filter(|l| l.action == "update").count(),
        lines.iter().filter(|l| l.action == "unchanged").count(),
        lines.iter().filter(|l| l.action == "delete").count()
    ));

    let pending = record(
        name,
        &ctx.namespace,
        &d,
        d.kind,
        format!("{} in progress", verb(d.kind)),
    );
    store.save(&pending).await?;

    // Once the cluster starts to change, no record says deployed until the
    // new one does: the previous deployed revision is superseded first, so
    // a failure at any point leaves no record claiming content the cluster
    // does not run.
    let done = record(
        name,
        &ctx.namespace,
        &d,
        Status::Deployed,
        d.description.clone(),
    );
    let applied: Result<(), ActionError> = async {
        for r in history.iter().filter(|r| r.status == Status::Deployed) {
            let mut r = r.clone();
            r.status = Status::Superseded;
            store.save(&r).await?;
        }
        ctx.cluster.execute(&plan, opts.force_conflicts).await?;
        for obj in &to_delete {
            ctx.cluster
                .delete_object(obj, &DeleteOptions::default())
                .await?;
            (ctx.progress)(&format!("deleted {}", crate::cluster::describe(obj)));
        }
        if opts.wait {
            let written: Vec<Value> = plan.iter().map(|p| p.object.clone()).collect();
            let waiting = &ctx.waiting;
            ctx.cluster
                .wait_ready_with(&written, opts.timeout, ctx.poll, &|n| waiting(n))
                .await?;
        }
        store.save(&done).await?;
        Ok(())
    }
    .await;

    match applied {
        Ok(()) => {
            // Old records are bookkeeping: failing to prune them is no
            // failure of the operation.
            if let Err(e) = prune_history(ctx, name, opts.history_max).await {
                (ctx.progress)(&format!("warning: could not prune old revisions: {e}"));
            }
            Ok(Outcome {
                release: done,
                lines,
                manifest: d.manifest,
            })
        }
        Err(e) => {
            let mut message = format!("{} failed: {e}", verb(d.kind));
            let failed = record(name, &ctx.namespace, &d, Status::Failed, message.clone());
            // If even this fails, the pending record is marked failed by the
            // next operation.
            if let Err(e2) = store.save(&failed).await {
                message.push_str(&format!(" (and recording the failure failed: {e2})"));
            }
            if opts.atomic {
                message.push_str(&atomic_undo(ctx, name, &d, &plan, opts).await);
            }
            Err(ActionError::Failed { message })
        }
    }
}

fn verb(kind: Status) -> &'static str {
    match kind {
        Status::PendingInstall => "install",
        Status::PendingRollback => "rollback",
        _ => "upgrade",
    }
}

/// Undoes a failed operation: an install removes what it created (never
/// volumes); an upgrade or rollback returns to the last deployed revision.
async fn atomic_undo(
    ctx: &Context,
    name: &str,
    d: &Deploy,
    plan: &[Planned],
    opts: &DeployOptions,
) -> String {
    match &d.last_deployed {
        None => {
            let mut removed = 0;
            for p in plan.iter().rev().filter(|p| p.change == Change::Create) {
                if is_data_kind(p.object["kind"].as_str().unwrap_or("")) {
                    continue;
                }
                if ctx
                    .cluster
                    .delete_object(&p.object, &DeleteOptions::default())
                    .await
                    .is_ok()
                {
                    removed += 1;
                }
            }
            format!("; --atomic removed the {removed} object(s) it had created (PersistentVolumes and claims are kept)")
        }
        Some(prev) => {
            let store = ctx.store();
            let history = store.history(name).await.unwrap_or_default();
            let back = Deploy {
                kind: Status::PendingRollback,
                revision: history
                    .last()
                    .map(|r| r.revision + 1)
                    .unwrap_or(d.revision + 1),
                manifest: prev.manifest.clone(),
                notes: prev.notes.clone(),
                config: prev.config.clone(),
                computed: prev.computed.clone(),
                chart: prev.chart.clone(),
                first_deployed: d.first_deployed.clone(),
                description: format!(
                    "Rollback to {} after failed {} (--atomic)",
                    prev.revision,
                    verb(d.kind)
                ),
                previous: vec![record(
                    name,
                    &ctx.namespace,
                    d,
                    Status::Failed,
                    String::new(),
                )],
                last_deployed: None,
            };
            let undo_opts = DeployOptions {
                atomic: false,
                take_ownership: true,
                force_conflicts: true,
                ..opts.clone()
            };
            match Box::pin(deploy(ctx, name, back, &undo_opts, &history)).await {
                Ok(o) => format!(
                    "; --atomic rolled back to revision {} (now revision {})",
                    prev.revision, o.release.revision
                ),
                Err(e) => format!("; --atomic could not roll back: {e}"),
            }
        }
    }
}

async fn prune_history(ctx: &Context, name: &str, max: usize) -> Result<(), ActionError> {
    if max == 0 {
        return Ok(());
    }
    let store = ctx.store();
    let history = store.history(name).await?;
    if history.len() <= max {
        return Ok(());
    }
    let excess = history.len() - max;
    for r in history
        .iter()
        .filter(|r| r.status != Status::Deployed)
        .take(excess)
    {
        store.delete(name, r.revision).await?;
    }
    Ok(())
}
