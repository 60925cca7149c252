//! What install, upgrade and rollback share: plan with a server dry run,
//! check ownership, decide what to prune from the live objects, record the
//! revision pending, apply, prune, wait, and record the outcome (undoing
//! it with `--atomic`). Every write is preceded by a check of the guard.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::Value;

use super::hooks::{self, Runner};
use super::ownership::{
    self, check_ownership, foreign, judge, objects_of, with_ownership, Verdict,
};
use super::phases;
use super::session::Guard;
use super::undo::{atomic_undo, prune_history};
use super::{ActionError, AtomicOutcome, Context, DeployOptions, DryRun, History, Line, Outcome};
use crate::chart::Chart;
use crate::cluster::{
    describe, owned_digest, Change, ClusterError, ObjectRef, Planned, Propagation,
};
use crate::hook::Event;
use crate::release::{self, ChartRef, Release, Status};
use crate::render::{self, RenderOptions};
use crate::values::{self, UserValues};

/// Everything one deploy needs, whatever made it.
pub(super) struct Deploy {
    pub kind: Status,
    pub revision: u64,
    pub manifest: String,
    pub notes: String,
    pub config: Value,
    pub computed: Value,
    pub chart: ChartRef,
    pub first_deployed: String,
    pub description: String,
    /// Objects of the release that may be in the cluster
    /// ([`History::maybe_live`]); those the new revision lacks are pruned
    /// if the live object is still the release's.
    pub maybe_live: Vec<Value>,
    /// The revision to return to with `--atomic`.
    pub last_good: Option<Release>,
    /// CRDs from the chart's `crds/` directory not installed yet (dry
    /// runs of an install): objects of their kinds are shown as creates.
    pub crds: Vec<Value>,
    /// The manifest's objects when they are at hand (just rendered), so
    /// the manifest text is not parsed again.
    pub objects: Option<Vec<Value>>,
    /// The manifest's hook objects (filled with `objects`).
    pub hooks: Vec<Value>,
    /// The cluster lookups the render made (recorded for the next one).
    pub lookups: Vec<crate::render::lookup::LookupKey>,
}

impl Deploy {
    /// A deploy of `manifest` (with its values and chart) as the next
    /// revision of `history`.
    pub(super) fn next(history: &History, kind: Status, description: String) -> Deploy {
        Deploy {
            kind,
            revision: history.next_revision(),
            manifest: String::new(),
            notes: String::new(),
            config: Value::Null,
            computed: Value::Null,
            chart: ChartRef {
                name: String::new(),
                version: String::new(),
                app_version: String::new(),
                digest: String::new(),
            },
            first_deployed: history.first_deployed(),
            description,
            maybe_live: Vec::new(),
            last_good: history.last_good().cloned(),
            crds: Vec::new(),
            objects: None,
            hooks: Vec::new(),
            lookups: history.lookups(),
        }
    }
}

/// The chart a revision records.
pub(super) fn chart_ref(chart: &Chart) -> ChartRef {
    let mut all = Vec::new();
    for (path, f) in &chart.files {
        all.extend_from_slice(path.as_bytes());
        all.push(0);
        all.extend_from_slice(&f.data);
    }
    ChartRef {
        name: chart.metadata.name.clone(),
        version: chart.metadata.version.clone(),
        app_version: chart.metadata.app_version_string().unwrap_or_default(),
        digest: crate::package::sha256_hex(&all),
    }
}

/// Renders a chart at most this often to answer lookups that depend on
/// other lookups' answers.
const MAX_LOOKUP_PASSES: usize = 4;

/// Renders a chart for a release against the live server:
/// `Capabilities.KubeVersion` is its version (so `kubeVersion` is checked
/// against it) and `Capabilities.APIVersions` what its discovery serves.
/// A server whose version cannot be read is an error, never a silent
/// default.
///
/// `prefetch` are lookups to answer before the first render (those the
/// last revision's templates made), so a chart whose lookups do not change
/// renders once.
pub async fn render_for(
    ctx: &Context,
    chart: &Chart,
    user: &UserValues,
    name: &str,
    revision: u64,
    is_install: bool,
    prefetch: &[crate::render::lookup::LookupKey],
) -> Result<(render::Rendered, Value), ActionError> {
    let resolved = values::resolve(chart, user)?;
    let mut opts = RenderOptions::offline(name, &ctx.namespace);
    opts.revision = revision;
    opts.is_install = is_install;
    opts.kube_version = ctx.cluster.server_version().await?;
    opts.api_versions = ctx.cluster.api_versions().await?;
    // Templates' cluster lookups: render, fetch what they asked for, render
    // again with the answers (a lookup may depend on another's answer).
    let mut known = BTreeMap::new();
    for key in prefetch {
        let found = ctx
            .cluster
            .lookup(&key.api_version, &key.kind, &key.namespace, &key.name)
            .await?;
        known.insert(key.clone(), found);
    }
    let mut rendered;
    let mut passes = 0;
    loop {
        opts.lookups = Some(known.clone());
        rendered = render::render(chart, &resolved, &opts)?;
        passes += 1;
        if rendered.lookups_wanted.is_empty() || passes == MAX_LOOKUP_PASSES {
            break;
        }
        // An answer that is an empty map is what this render assumed:
        // only another answer needs another render.
        let mut changed = false;
        for key in std::mem::take(&mut rendered.lookups_wanted) {
            let found = ctx
                .cluster
                .lookup(&key.api_version, &key.kind, &key.namespace, &key.name)
                .await?;
            changed |= found != serde_json::json!({});
            known.insert(key, found);
        }
        if !changed {
            break;
        }
    }
    for w in &rendered.warnings {
        (ctx.progress)(&format!("warning: {w}"));
    }
    // Before any object is planned or sent: a wrong type would otherwise
    // surface as a server 500 half-way through.
    crate::openapi::check_manifests(&rendered.manifests)?;
    Ok((rendered, resolved.values))
}

/// Fills a deploy from a rendered chart.
pub(super) fn from_render(
    mut d: Deploy,
    chart: &Chart,
    user: &UserValues,
    (rendered, computed): (render::Rendered, Value),
) -> Deploy {
    d.manifest = rendered.to_stream();
    let (hooks, objects) = rendered
        .manifests
        .iter()
        .map(|m| m.object.clone())
        .partition(ownership::is_hook);
    d.objects = Some(objects);
    d.hooks = hooks;
    d.lookups = rendered.lookups.clone();
    d.notes = rendered.notes.unwrap_or_default();
    d.config = user.values.clone();
    d.computed = computed;
    d.chart = chart_ref(chart);
    d
}

pub(super) async fn ensure_namespace(ctx: &Context, create: bool) -> Result<(), ActionError> {
    if ctx
        .cluster
        .get("v1", "Namespace", None, &ctx.namespace)
        .await?
        .is_some()
    {
        return Ok(());
    }
    if !create {
        return Err(ActionError::NamespaceMissing {
            namespace: ctx.namespace.clone(),
        });
    }
    let ns = serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ctx.namespace}});
    ctx.cluster
        .apply(&ns, crate::cluster::ApplyOptions::default())
        .await?;
    (ctx.progress)(&format!("created namespace {}", ctx.namespace));
    Ok(())
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
        created: Vec::new(),
        owned: Default::default(),
        hooks: Vec::new(),
        lookups: d.lookups.clone(),
        damaged: None,
    }
}

/// The identity of an object left for the second phase (empty namespace
/// when the chart left it to the server: the scope of a type not yet
/// served is unknown).
fn later_ref(o: &Value) -> ObjectRef {
    ObjectRef::of(o)
}

/// Objects left for the second phase: they do not exist (their type or
/// namespace does not yet), so each is a create.
pub(super) fn later_lines(later: &[Value]) -> Vec<Line> {
    later
        .iter()
        .map(|o| Line {
            object: describe(o),
            action: "create",
        })
        .collect()
}

fn plan_lines(plan: &[Planned]) -> Vec<Line> {
    plan.iter()
        .map(|p| Line {
            object: describe(&p.object),
            action: match p.change {
                Change::Create => "create",
                Change::Update => "update",
                Change::Unchanged => "unchanged",
            },
        })
        .collect()
}

/// The verdict on each object the release may have left that the plan no
/// longer has, decided on the live objects.
pub(super) async fn prune_verdicts(
    ctx: &Context,
    name: &str,
    maybe_live: &[Value],
    plan: &[Planned],
    delete_containers: bool,
) -> Result<Vec<Verdict>, ActionError> {
    let planned: HashSet<ObjectRef> = plan.iter().map(|p| ObjectRef::of(&p.object)).collect();
    let mut out = Vec::new();
    for obj in maybe_live {
        let prepared = match ctx.cluster.prepare(obj).await {
            Ok((_, p)) => p,
            // Its type is no longer served: nothing of it can be live.
            Err(ClusterError::UnknownKind { .. }) => continue,
            Err(e) => return Err(e.into()),
        };
        if planned.contains(&ObjectRef::of(&prepared)) {
            continue;
        }
        out.push(judge(ctx, name, &prepared, delete_containers).await?);
    }
    Ok(out)
}

fn verdict_lines(verdicts: &[Verdict]) -> Vec<Line> {
    verdicts
        .iter()
        .filter_map(|v| match v {
            Verdict::Delete(l) => Some((l, "delete")),
            Verdict::Keep(l) => Some((l, "keep")),
            Verdict::NotOurs(l) => Some((l, "skip")),
            Verdict::Gone => None,
        })
        .map(|(l, action)| Line {
            object: describe(l),
            action,
        })
        .collect()
}

/// Plans `objects`; when some are still being deleted (an uninstall just
/// before, a foreground delete waiting for the garbage collector), waits
/// for them to go, within `--timeout`, and plans again: applying to a
/// terminating object would change it and then lose it.
async fn plan_past_deletions(
    ctx: &Context,
    name: &str,
    objects: &[Value],
    opts: &DeployOptions,
    unchanged_if: &HashMap<ObjectRef, String>,
) -> Result<Vec<Planned>, ActionError> {
    let plan = ctx
        .cluster
        .plan_changes(
            objects,
            opts.force_conflicts,
            unchanged_if,
            &foreign(name, &ctx.namespace, opts.take_ownership),
        )
        .await?;
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
        describe(&terminating[0])
    ));
    match ctx
        .cluster
        .wait_deleted(&terminating, opts.timeout, ctx.poll, &|_| {})
        .await
    {
        Ok(()) => Ok(ctx
            .cluster
            .plan_changes(
                objects,
                opts.force_conflicts,
                unchanged_if,
                &foreign(name, &ctx.namespace, opts.take_ownership),
            )
            .await?),
        Err(ClusterError::Timeout { seconds, not_ready }) => Err(ActionError::StillDeleting {
            seconds,
            objects: not_ready,
        }),
        Err(e) => Err(e.into()),
    }
}

/// The objects rendered exactly as the deployed revision rendered them,
/// with the digest of what windlass owned on each once applied: their dry
/// runs can be skipped while the live objects still show that ownership.
/// Only when the deployed revision is the latest record: after a failed or
/// interrupted operation, what it wrote is not known object by object.
fn unchanged_if(
    history: &History,
    objects: &[Value],
    name: &str,
    namespace: &str,
    maybe_live: &[Value],
) -> Result<HashMap<ObjectRef, String>, ActionError> {
    let mut out = HashMap::new();
    let Some(last) = history
        .latest()
        .filter(|r| r.status == Status::Deployed && r.damaged.is_none() && !r.owned.is_empty())
    else {
        return Ok(out);
    };
    // With the deployed revision the latest record, the objects that may
    // be live are exactly its objects, already parsed.
    let parsed;
    let previous_objects = if history.last_good().map(|r| r.revision) == Some(last.revision)
        && !maybe_live.is_empty()
    {
        maybe_live
    } else {
        parsed = objects_of(&last.manifest)?;
        &parsed[..]
    };
    let previous: HashMap<ObjectRef, Value> = previous_objects
        .iter()
        .map(|o| {
            let o = with_ownership(o, name, namespace);
            (ObjectRef::of(&o), o)
        })
        .collect();
    for o in objects {
        let raw = ObjectRef::of(o);
        if previous.get(&raw) != Some(o) {
            continue;
        }
        // The scope is the server's to say: try the object namespaced (in
        // the release namespace when it names none) and cluster-scoped.
        let mut namespaced = raw.clone();
        if namespaced.namespace.is_empty() {
            namespaced.namespace = namespace.to_string();
        }
        let mut cluster_scoped = raw;
        cluster_scoped.namespace.clear();
        for r in [namespaced, cluster_scoped] {
            if let Some(d) = last.owned.get(&r.key()) {
                out.insert(r, d.clone());
            }
        }
    }
    Ok(out)
}

/// The deploy's objects: as rendered when at hand, else from its manifest
/// (whose hooks then go to `d.hooks`).
fn manifest_objects(d: &mut Deploy) -> Result<Vec<Value>, ActionError> {
    match d.objects.take() {
        Some(o) => Ok(o),
        None => {
            let (hooks, objects) = ownership::split_hooks(&d.manifest)?;
            d.hooks = hooks;
            Ok(objects)
        }
    }
}

/// The hook events of a deploy: before and after its writes.
fn hook_events(kind: Status) -> [Event; 2] {
    match kind {
        Status::PendingInstall => [Event::PreInstall, Event::PostInstall],
        Status::PendingRollback => [Event::PreRollback, Event::PostRollback],
        _ => [Event::PreUpgrade, Event::PostUpgrade],
    }
}

/// The ownership digest of every object of a finished deploy: from what
/// the server stored for those written, from the live object for the rest.
fn owned_map(plan: &[Planned], stored: &[Value]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for p in plan.iter().filter(|p| p.change == Change::Unchanged) {
        if let Some(d) = p.before.as_ref().and_then(owned_digest) {
            out.insert(ObjectRef::of(&p.object).key(), d);
        }
    }
    for s in stored {
        if let Some(d) = owned_digest(s) {
            out.insert(ObjectRef::of(s).key(), d);
        }
    }
    out
}

/// A dry run: the same plan, ownership checks and prune decisions as the
/// real operation (server mode), with nothing written.
pub(super) async fn dry_deploy(
    ctx: &Context,
    name: &str,
    mut d: Deploy,
    opts: &DeployOptions,
) -> Result<Outcome, ActionError> {
    let mut lines = Vec::new();
    if opts.dry_run == DryRun::Server {
        let objects: Vec<Value> = manifest_objects(&mut d)?
            .iter()
            .map(|o| with_ownership(o, name, &ctx.namespace))
            .collect();
        let phases = phases::split(ctx, objects, &d.crds).await?;
        let plan = ctx
            .cluster
            .plan_for(
                &phases.now,
                opts.force_conflicts,
                &foreign(name, &ctx.namespace, opts.take_ownership),
            )
            .await?;
        check_ownership(&plan, name, &ctx.namespace, opts.take_ownership)?;
        for crd in &d.crds {
            if ctx.cluster.get_object(crd).await?.is_none() {
                lines.push(Line {
                    object: describe(crd),
                    action: "create",
                });
            }
        }
        lines.extend(plan_lines(&plan));
        lines.extend(later_lines(&phases.later));
        let verdicts = prune_verdicts(
            ctx,
            name,
            &d.maybe_live,
            &plan,
            opts.delete_namespaces_and_crds,
        )
        .await?;
        lines.extend(verdict_lines(&verdicts));
    } else {
        manifest_objects(&mut d)?;
    }
    let hooks = if opts.no_hooks {
        Vec::new()
    } else {
        hooks::plan_lines(ctx, &d.hooks, &hook_events(d.kind)).await?
    };
    Ok(Outcome {
        release: record(name, &ctx.namespace, &d, d.kind, "Dry run complete".into()),
        lines,
        manifest: d.manifest,
        hooks,
    })
}

pub(super) fn verb(kind: Status) -> &'static str {
    match kind {
        Status::PendingInstall => "install",
        Status::PendingRollback => "rollback",
        _ => "upgrade",
    }
}

/// Plans, records, applies, prunes, waits and records the outcome.
pub(super) async fn deploy(
    ctx: &Context,
    guard: &Guard<'_>,
    name: &str,
    mut d: Deploy,
    opts: &DeployOptions,
    history: &History,
) -> Result<Outcome, ActionError> {
    let store = ctx.store();
    let objects: Vec<Value> = manifest_objects(&mut d)?
        .iter()
        .map(|o| with_ownership(o, name, &ctx.namespace))
        .collect();
    // Objects that need the chart's own CRDs or Namespaces are planned
    // once those exist; everything else is planned first: the server
    // validates every object before anything is written, so a change it
    // refuses leaves the cluster and history as they were.
    let phases = phases::split(ctx, objects, &[]).await?;
    let known = unchanged_if(history, &phases.now, name, &ctx.namespace, &d.maybe_live)?;
    let plan = plan_past_deletions(ctx, name, &phases.now, opts, &known).await?;
    check_ownership(&plan, name, &ctx.namespace, opts.take_ownership)?;
    let mut verdicts = prune_verdicts(
        ctx,
        name,
        &d.maybe_live,
        &plan,
        opts.delete_namespaces_and_crds,
    )
    .await?;
    // What the second phase will create is not pruned meanwhile.
    let later_refs: Vec<ObjectRef> = phases.later.iter().map(later_ref).collect();
    verdicts.retain(|v| match v {
        Verdict::Delete(l) => {
            let live = ObjectRef::of(l);
            !later_refs.iter().any(|r| {
                r.group == live.group
                    && r.kind == live.kind
                    && r.name == live.name
                    && (r.namespace.is_empty() || r.namespace == live.namespace)
            })
        }
        _ => true,
    });
    let mut lines = plan_lines(&plan);
    lines.extend(later_lines(&phases.later));
    lines.extend(verdict_lines(&verdicts));
    (ctx.progress)(&format!(
        "revision {}: {} to create, {} to update, {} unchanged, {} to delete",
        d.revision,
        lines.iter().filter(|l| l.action == "create").count(),
        lines.iter().filter(|l| l.action == "update").count(),
        lines.iter().filter(|l| l.action == "unchanged").count(),
        lines.iter().filter(|l| l.action == "delete").count()
    ));
    if let Some(confirm) = &ctx.confirm {
        if !confirm(&super::diff::plan_items(&plan, &verdicts)) {
            return Err(ActionError::NotConfirmed);
        }
    }

    guard.check()?;
    let mut pending = record(
        name,
        &ctx.namespace,
        &d,
        d.kind,
        format!("{} in progress", verb(d.kind)),
    );
    pending.created = plan
        .iter()
        .filter(|p| p.change == Change::Create)
        .map(|p| ObjectRef::of(&p.object))
        .chain(later_refs.iter().cloned())
        .collect();
    store.save(&pending).await?;

    // Once the cluster starts to change, no record says deployed until the
    // new one does: the previous deployed revision is superseded first, so
    // a failure at any point leaves no record claiming content the cluster
    // does not run.
    let mut done = record(
        name,
        &ctx.namespace,
        &d,
        Status::Deployed,
        d.description.clone(),
    );
    done.created = pending.created.clone();
    let later_plan = std::sync::Mutex::new(Vec::<Planned>::new());
    let [pre, post] = hook_events(d.kind);
    let runner = Runner::new(ctx, guard, name, opts.timeout);
    // Set once a chart object may have been written: a failed pre-hook
    // leaves the previous revision deployed and nothing to undo.
    let mut writing = false;
    let applied: Result<Release, ActionError> = async {
        if !opts.no_hooks {
            runner.run(&d.hooks, pre).await?;
        }
        writing = true;
        for r in history
            .records()
            .iter()
            .filter(|r| r.status == Status::Deployed && r.damaged.is_none())
        {
            guard.check()?;
            let mut r = r.clone();
            r.status = Status::Superseded;
            store.save(&r).await?;
        }
        let proceed = || guard.check().is_ok();
        let mut stored = match ctx
            .cluster
            .execute_checked(&plan, opts.force_conflicts, &proceed)
            .await
        {
            Ok(stored) => stored,
            Err(ClusterError::Stopped) => {
                guard.check()?;
                Vec::new()
            }
            Err(e) => return Err(e.into()),
        };
        let first: Vec<Value> = plan.iter().map(|p| p.object.clone()).collect();
        let (second, second_stored) =
            phases::apply_later(ctx, guard, name, &first, &phases.later, opts).await?;
        stored.extend(second_stored);
        *later_plan.lock().unwrap_or_else(|e| e.into_inner()) = second;
        for v in &verdicts {
            if let Verdict::Delete(live) = v {
                guard.check()?;
                if ownership::delete_live(ctx, live, Propagation::Background).await? {
                    (ctx.progress)(&format!("deleted {}", describe(live)));
                }
            }
        }
        if opts.wait {
            let written: Vec<Value> = plan
                .iter()
                .chain(later_plan.lock().unwrap_or_else(|e| e.into_inner()).iter())
                .map(|p| p.object.clone())
                .collect();
            let waiting = &ctx.waiting;
            let report = |n: &[String]| waiting(n);
            tokio::select! {
                r = ctx.cluster.wait_ready_with(&written, opts.timeout, ctx.poll, &report) => r?,

                e = guard.stopped() => return Err(e),
            }
        }
        if !opts.no_hooks {
            runner.run(&d.hooks, post).await?;
        }
        let mut all = plan.clone();
        all.extend(
            later_plan
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .cloned(),
        );
        let mut done = done.clone();
        done.owned = owned_map(&all, &stored);
        done.hooks = runner.runs();
        guard.check()?;
        store.save(&done).await?;
        Ok(done)
    }
    .await;

    match applied {
        Ok(done) => {
            // Old records are bookkeeping: failing to prune them is no
            // failure of the operation.
            if let Err(e) = prune_history(ctx, name, opts.history_max).await {
                (ctx.progress)(&format!("warning: could not prune old revisions: {e}"));
            }
            Ok(Outcome {
                hooks: hook_outcomes(&done.hooks),
                release: done,
                lines,
                manifest: d.manifest,
            })
        }
        // Another operation may hold the lock now: write nothing more, not
        // even the failure (the next operation marks the revision failed).
        Err(e @ ActionError::LockLost { .. }) => Err(e),
        Err(cause) => {
            let mut failed = record(
                name,
                &ctx.namespace,
                &d,
                Status::Failed,
                format!("{} failed: {cause}", verb(d.kind)),
            );
            failed.created = pending.created.clone();
            failed.hooks = runner.runs();
            // If even this fails, the pending record is marked failed by the
            // next operation.
            let record_error = match guard.lock_only().check() {
                Ok(()) => store.save(&failed).await.err().map(|e| e.to_string()),
                Err(e) => Some(e.to_string()),
            };
            let atomic = if opts.atomic && !writing {
                Some(AtomicOutcome::Skipped {
                    why: format!("the {pre} hooks failed before any chart object was written"),
                })
            } else if opts.atomic {
                let mut all = plan.clone();
                all.extend(
                    later_plan
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .drain(..),
                );
                Some(atomic_undo(ctx, &guard.lock_only(), name, &d, &all, opts).await)
            } else {
                None
            };
            Err(ActionError::Failed {
                operation: verb(d.kind),
                revision: d.revision,
                cause: Box::new(cause),
                atomic,
                record_error,
            })
        }
    }
}

/// `pre-upgrade: Job ns/name succeeded` for each hook that ran.
fn hook_outcomes(runs: &[release::HookRun]) -> Vec<String> {
    runs.iter()
        .map(|r| format!("{}: {} {}", r.event, r.object, r.phase.to_lowercase()))
        .collect()
}
