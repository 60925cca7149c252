//! Install, upgrade, rollback and uninstall: render (or take a recorded
//! manifest), plan against the live cluster with a server dry-run, record
//! the revision, apply what changes, prune what the new revision no longer
//! has, wait, and record the outcome. Every operation holds the release's
//! Lease, and no path deletes a PersistentVolume or PersistentVolumeClaim.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use crate::chart::Chart;
use crate::cluster::{Change, Cluster, ClusterError, Planned};
use crate::release::lock::{Lock, LockError};
use crate::release::{self, ChartRef, Release, ReleaseError, Status};
use crate::render::{self, RenderOptions};
use crate::values::{self, UserValues};

/// Annotation naming the release that owns an object.
pub const RELEASE_NAME_ANNOTATION: &str = "windlass.io/release-name";
/// Annotation naming the release's namespace.
pub const RELEASE_NAMESPACE_ANNOTATION: &str = "windlass.io/release-namespace";
/// Annotation that keeps an object on prune and uninstall (`keep`).
pub const RESOURCE_POLICY: &str = "windlass.io/resource-policy";
/// Helm's equivalent, honoured too.
pub const HELM_RESOURCE_POLICY: &str = "helm.sh/resource-policy";
/// Annotation marking a hook object (e.g. `test`), which releases do not apply.
pub const HOOK_ANNOTATION: &str = "windlass.io/hook";

/// An operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    /// The cluster refused.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// Records could not be read or written.
    #[error(transparent)]
    Release(#[from] ReleaseError),
    /// The lock is held.
    #[error(transparent)]
    Lock(#[from] LockError),
    /// Values did not validate.
    #[error(transparent)]
    Values(#[from] values::ValuesError),
    /// Rendering failed.
    #[error(transparent)]
    Render(#[from] render::RenderError),
    /// A recorded manifest did not parse.
    #[error(transparent)]
    Manifest(#[from] render::ManifestError),
    /// An object exists that this release does not own.
    #[error("{object} already exists and is not owned by release {release} ({owner}); pass --take-ownership to adopt it")]
    NotOwned {
        /// The object.
        object: String,
        /// This release.
        release: String,
        /// Who owns it.
        owner: String,
    },
    /// Precondition about the release's history.
    #[error("{0}")]
    State(String),
    /// The operation failed after recording a revision.
    #[error("{message}")]
    Failed {
        /// What went wrong, and what was done about it.
        message: String,
    },
}

/// Receives one progress line.
pub type ProgressFn = Box<dyn Fn(&str) + Send + Sync>;
/// Receives the objects not ready yet, with why.
pub type WaitingFn = Box<dyn Fn(&[String]) + Send + Sync>;

/// How to talk to the cluster and report progress.
pub struct Context {
    /// The cluster.
    pub cluster: Arc<Cluster>,
    /// The release namespace.
    pub namespace: String,
    /// Lease duration for the release lock.
    pub lock_duration: Duration,
    /// Poll interval while waiting.
    pub poll: Duration,
    /// Progress messages (one line each).
    pub progress: ProgressFn,
    /// Objects not ready yet while waiting.
    pub waiting: WaitingFn,
}

impl Context {
    /// A context with default lock duration and silent progress.
    pub fn new(cluster: Arc<Cluster>) -> Context {
        let namespace = cluster.namespace().to_string();
        Context {
            cluster,
            namespace,
            lock_duration: crate::release::lock::DEFAULT_DURATION,
            poll: Duration::from_secs(2),
            progress: Box::new(|_| {}),
            waiting: Box::new(|_| {}),
        }
    }

    fn store(&self) -> release::Store<'_> {
        release::Store::new(&self.cluster, &self.namespace)
    }
}

/// `--dry-run` modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DryRun {
    /// Really do it.
    #[default]
    None,
    /// Render and validate only; no cluster writes, no plan.
    Client,
    /// Also send every object as a server dry-run; nothing is written.
    Server,
}

/// Options shared by install and upgrade.
#[derive(Debug, Clone)]
pub struct DeployOptions {
    /// Release name.
    pub release: String,
    /// Wait for readiness.
    pub wait: bool,
    /// How long to wait.
    pub timeout: Duration,
    /// Undo on failure.
    pub atomic: bool,
    /// Dry-run mode.
    pub dry_run: DryRun,
    /// Adopt existing objects not owned by the release.
    pub take_ownership: bool,
    /// Take over fields other field managers own.
    pub force_conflicts: bool,
    /// Custom description of the revision.
    pub description: Option<String>,
    /// Records to keep (0 = all).
    pub history_max: usize,
    /// Create the namespace if missing.
    pub create_namespace: bool,
}

impl Default for DeployOptions {
    fn default() -> Self {
        DeployOptions {
            release: String::new(),
            wait: false,
            timeout: Duration::from_secs(300),
            atomic: false,
            dry_run: DryRun::None,
            take_ownership: false,
            force_conflicts: false,
            description: None,
            history_max: 10,
            create_namespace: false,
        }
    }
}

/// How values are combined on upgrade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ValuesMode {
    /// Only the values given now (Helm's --reset-values, the default).
    #[default]
    Reset,
    /// The previous revision's values, with the new ones laid over them.
    Reuse,
}

/// One object's line in an operation summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// `ConfigMap hdfs/hdfs-config`.
    pub object: String,
    /// create, update, unchanged, delete, keep.
    pub action: &'static str,
}

/// What an operation did (or, on a dry run, would do).
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The revision recorded (not stored on a dry run).
    pub release: Release,
    /// Per-object actions.
    pub lines: Vec<Line>,
    /// The rendered manifest.
    pub manifest: String,
}

impl Outcome {
    /// Counts per action, e.g. `3 to create, 1 to update, 5 unchanged`.
    pub fn summary(&self) -> String {
        let count = |a: &str| self.lines.iter().filter(|l| l.action == a).count();
        format!(
            "{} created, {} updated, {} unchanged, {} deleted, {} kept",
            count("create"),
            count("update"),
            count("unchanged"),
            count("delete"),
            count("keep")
        )
    }
}

fn is_data_kind(kind: &str) -> bool {
    kind == "PersistentVolumeClaim" || kind == "PersistentVolume"
}

fn keep(obj: &Value) -> bool {
    let a = &obj["metadata"]["annotations"];
    a[RESOURCE_POLICY] == "keep" || a[HELM_RESOURCE_POLICY] == "keep"
}

/// Identity of an object across revisions: group, kind, namespace, name.
fn identity(obj: &Value, namespaced: bool, release_ns: &str) -> (String, String, String, String) {
    let group = obj["apiVersion"]
        .as_str()
        .unwrap_or("")
        .rsplit_once('/')
        .map(|(g, _)| g.to_string())
        .unwrap_or_default();
    let ns = if namespaced {
        obj["metadata"]["namespace"]
            .as_str()
            .unwrap_or(release_ns)
            .to_string()
    } else {
        String::new()
    };
    (
        group,
        obj["kind"].as_str().unwrap_or("").to_string(),
        ns,
        obj["metadata"]["name"].as_str().unwrap_or("").to_string(),
    )
}

fn with_ownership(obj: &Value, release: &str, namespace: &str) -> Value {
    let mut o = obj.clone();
    let meta = &mut o["metadata"];
    meta["labels"]["app.kubernetes.io/managed-by"] = json!(crate::TOOL_NAME);
    meta["annotations"][RELEASE_NAME_ANNOTATION] = json!(release);
    meta["annotations"][RELEASE_NAMESPACE_ANNOTATION] = json!(namespace);
    o
}

/// Whether an object is a hook (`windlass.io/hook` or Helm's
/// `helm.sh/hook`), such as a chart's test Pod: recorded with the release
/// but never applied, pruned or deleted by it.
fn is_hook(obj: &Value) -> bool {
    let a = &obj["metadata"]["annotations"];
    a.get(HOOK_ANNOTATION).is_some() || a.get("helm.sh/hook").is_some()
}

/// The objects of a recorded manifest that the release manages (hooks left out).
fn objects_of(manifest: &str) -> Result<Vec<Value>, render::ManifestError> {
    Ok(render::manifest::split("release manifest", manifest)?
        .into_iter()
        .map(|m| m.object)
        .filter(|o| !is_hook(o))
        .collect())
}

/// Everything one deploy needs, whatever made it.
struct Deploy {
    kind: Status,
    revision: u64,
    manifest: String,
    notes: String,
    config: Value,
    computed: Value,
    chart: ChartRef,
    first_deployed: String,
    description: String,
    /// Records whose objects may exist in the cluster: the last deployed
    /// revision and every later one (failed or interrupted ones may have
    /// applied part of their objects). Objects of theirs the new revision
    /// lacks are pruned.
    previous: Vec<Release>,
    last_deployed: Option<Release>,
}

/// Records from the last deployed revision on (or, with none deployed,
/// since the last uninstall).
fn live_records(history: &[Release]) -> Vec<Release> {
    let start = history
        .iter()
        .rposition(|r| r.status == Status::Deployed)
        .or_else(|| {
            history
                .iter()
                .rposition(|r| r.status == Status::Uninstalled)
                .map(|i| i + 1)
        })
        .unwrap_or(0);
    history[start.min(history.len())..].to_vec()
}

fn digest(chart: &Chart) -> String {
    let mut all = Vec::new();
    for (path, f) in &chart.files {
        all.extend_from_slice(path.as_bytes());
        all.push(0);
        all.extend_from_slice(&f.data);
    }
    crate::package::sha256_hex(&all)
}

/// Reads history and fixes what interrupted operations left behind: a
/// pending revision (we hold the lock, so nobody is working on it) becomes
/// failed, and older duplicates of `deployed` become superseded.
async fn recover(ctx: &Context, name: &str, lock: &Lock) -> Result<Vec<Release>, ActionError> {
    let store = ctx.store();
    let mut history = store.history(name).await?;
    let newest_deployed = history
        .iter()
        .filter(|r| r.status == Status::Deployed)
        .map(|r| r.revision)
        .max();
    for r in history.iter_mut() {
        if r.status.is_pending() {
            r.status = Status::Failed;
            r.description = match &lock.took_over_from {
                Some(h) => format!(
                    "{} interrupted: its operation (held by {h}) stopped before finishing",
                    r.description
                ),
                None => format!(
                    "{} interrupted: its operation stopped before finishing",
                    r.description
                ),
            };
            store.save(r).await?;
            (ctx.progress)(&format!(
                "marked interrupted revision {} as failed",
                r.revision
            ));
        } else if r.status == Status::Deployed && Some(r.revision) != newest_deployed {
            r.status = Status::Superseded;
            store.save(r).await?;
        }
    }
    Ok(history)
}

async fn ensure_namespace(ctx: &Context, create: bool) -> Result<(), ActionError> {
    if ctx
        .cluster
        .get("v1", "Namespace", None, &ctx.namespace)
        .await?
        .is_some()
    {
        return Ok(());
    }
    if !create {
        return Err(ActionError::State(format!(
            "namespace {} does not exist; create it or pass --create-namespace",
            ctx.namespace
        )));
    }
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ctx.namespace}});
    ctx.cluster
        .apply(&ns, crate::cluster::ApplyOptions::default())
        .await?;
    (ctx.progress)(&format!("created namespace {}", ctx.namespace));
    Ok(())
}

/// Renders a chart for a release, checking `kubeVersion` against the server.
pub async fn render_for(
    ctx: &Context,
    chart: &Chart,
    user: &UserValues,
    name: &str,
    revision: u64,
    is_install: bool,
) -> Result<(render::Rendered, Value), ActionError> {
    let resolved = values::resolve(chart, user)?;
    let mut opts = RenderOptions::offline(name, &ctx.namespace);
    opts.revision = revision;
    opts.is_install = is_install;
    if let Ok(v) = ctx.cluster.server_version().await {
        opts.kube_version = v;
    }
    let rendered = render::render(chart, &resolved, &opts)?;
    Ok((rendered, resolved.values))
}

/// Runs `op` holding the release's Lease, with the history after recovering
/// what interrupted operations left behind; the Lease is released whatever
/// happens.
async fn locked<T>(
    ctx: &Context,
    name: &str,
    op: impl AsyncFnOnce(Vec<Release>) -> Result<T, ActionError>,
) -> Result<T, ActionError> {
    let lock = Lock::acquire(ctx.cluster.clone(), &ctx.namespace, name, ctx.lock_duration).await?;
    let result = match recover(ctx, name, &lock).await {
        Ok(history) => op(history).await,
        Err(e) => Err(e),
    };
    finish(ctx, lock).await;
    result
}

/// Releases the lock. Failing to is not the operation's failure: the
/// Lease expires on its own, so only warn.
async fn finish(ctx: &Context, lock: Lock) {
    if let Err(e) = lock.release().await {
        (ctx.progress)(&format!(
            "warning: could not release the release lock ({e}); it expires on its own"
        ));
    }
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
    let merged_user = |history: &[Release]| {
        let mut u = user.clone();
        if mode == ValuesMode::Reuse {
            if let Some(prev) = history
                .iter()
                .rev()
                .find(|r| r.status == Status::Deployed)
                .or(history.last())
            {
                let mut v = prev.config.clone();
                values::overlay(&mut v, user.values.clone());
                u = UserValues::from_value(v, "previous values with --reuse-values");
            }
        }
        u
    };
    if opts.dry_run != DryRun::None {
        let u = merged_user(&history);
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
        let u = merged_user(&history);
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
async fn pruned(
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
    let plan = ctx.cluster.plan(&objects, opts.force_conflicts).await?;
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
            ctx.cluster.delete_object(obj).await?;
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
                if ctx.cluster.delete_object(&p.object).await.is_ok() {
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

/// What uninstall did.
#[derive(Debug, Clone, Default)]
pub struct Uninstalled {
    /// Objects deleted.
    pub deleted: Vec<String>,
    /// Objects kept (resource-policy keep, volumes and claims in the manifest).
    pub kept: Vec<String>,
    /// Claims created by the release's StatefulSets, which hold its data.
    pub claims: Vec<String>,
    /// Whether history was kept.
    pub kept_history: bool,
}

/// Uninstalls a release: deletes its objects in reverse install order,
/// keeps volumes, claims and keep-annotated objects, and lists the claims
/// that still hold the release's data.
pub async fn uninstall(
    ctx: &Context,
    name: &str,
    keep_history: bool,
    wait: bool,
    timeout: Duration,
) -> Result<Uninstalled, ActionError> {
    release::validate_name(name)?;
    locked(ctx, name, async |history: Vec<Release>| {
        let Some(latest) = history
            .iter()
            .rev()
            .find(|r| r.status != Status::Uninstalled)
            .cloned()
        else {
            return Err(ActionError::State(format!(
                "release {name} not found in namespace {}",
                ctx.namespace
            )));
        };
        let store = ctx.store();
        let mut marking = latest.clone();
        marking.status = Status::Uninstalling;
        marking.description = "Uninstall in progress".into();
        store.save(&marking).await?;
        let mut out = Uninstalled {
            kept_history: keep_history,
            ..Default::default()
        };
        // Objects of every revision that may have applied some (the last
        // deployed and any later failed one), newest first, each once.
        let mut objects = Vec::new();
        for r in live_records(&history).iter().rev() {
            objects.extend(objects_of(&r.manifest)?.into_iter().rev());
        }
        let mut seen = HashSet::new();
        let mut deleted = Vec::new();
        for obj in objects.iter() {
            let (_, prepared) = match ctx.cluster.prepare(obj).await {
                Ok(x) => x,
                Err(ClusterError::UnknownKind { .. }) => continue,
                Err(e) => return Err(e.into()),
            };
            if !seen.insert(identity(&prepared, true, &ctx.namespace)) {
                continue;
            }
            let id = crate::cluster::describe(&prepared);
            if keep(&prepared) || is_data_kind(prepared["kind"].as_str().unwrap_or("")) {
                out.kept.push(id);
                continue;
            }
            if ctx.cluster.delete_object(&prepared).await? {
                (ctx.progress)(&format!("deleted {id}"));
                out.deleted.push(id);
                deleted.push(prepared);
            }
        }
        if wait {
            let deadline = tokio::time::Instant::now() + timeout;
            for obj in &deleted {
                let (info, o) = ctx.cluster.prepare(obj).await?;
                while ctx
                    .cluster
                    .get(
                        &info.api_resource.api_version,
                        &info.api_resource.kind,
                        o["metadata"]["namespace"].as_str(),
                        o["metadata"]["name"].as_str().unwrap_or(""),
                    )
                    .await?
                    .is_some()
                {
                    if tokio::time::Instant::now() > deadline {
                        return Err(ActionError::Failed {
                            message: format!(
                                "timed out waiting for {} to be deleted",
                                crate::cluster::describe(&o)
                            ),
                        });
                    }
                    tokio::time::sleep(ctx.poll).await;
                }
            }
        }
        // Claims the StatefulSets' volumeClaimTemplates made: <claim>-<sts>-<n>.
        let mut prefixes = Vec::new();
        for obj in objects.iter().filter(|o| o["kind"] == "StatefulSet") {
            let sts = obj["metadata"]["name"].as_str().unwrap_or("");
            for vct in obj["spec"]["volumeClaimTemplates"]
                .as_array()
                .into_iter()
                .flatten()
            {
                prefixes.push(format!(
                    "{}-{sts}-",
                    vct["metadata"]["name"].as_str().unwrap_or("")
                ));
            }
        }
        if !prefixes.is_empty() {
            for pvc in ctx
                .cluster
                .list("v1", "PersistentVolumeClaim", Some(&ctx.namespace), "")
                .await?
            {
                let n = pvc["metadata"]["name"].as_str().unwrap_or("");
                if prefixes.iter().any(|p| {
                    n.strip_prefix(p.as_str()).is_some_and(|rest| {
                        !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit())
                    })
                }) {
                    out.claims.push(n.to_string());
                }
            }
        }
        if keep_history {
            // No record may still say deployed: a later install must see
            // the release as gone.
            for r in history
                .iter()
                .filter(|r| r.status == Status::Deployed && r.revision != latest.revision)
            {
                let mut r = r.clone();
                r.status = Status::Superseded;
                store.save(&r).await?;
            }
            let mut done = latest.clone();
            done.status = Status::Uninstalled;
            done.description = "Uninstall complete".into();
            store.save(&done).await?;
        } else {
            for r in &history {
                store.delete(name, r.revision).await?;
            }
        }
        Ok(out)
    })
    .await
}

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
    let h = history(ctx, name).await?;
    match revision {
        None => Ok(h
            .last()
            .cloned()
            .unwrap_or_else(|| unreachable_release(name))),
        Some(r) => h
            .into_iter()
            .find(|x| x.revision == r)
            .ok_or_else(|| ActionError::State(format!("release {name} has no revision {r}"))),
    }
}

fn unreachable_release(name: &str) -> Release {
    // history() never returns an empty list; keep a harmless value anyway.
    Release {
        name: name.to_string(),
        namespace: String::new(),
        revision: 0,
        status: Status::Failed,
        description: String::new(),
        first_deployed: String::new(),
        last_deployed: String::new(),
        chart: ChartRef {
            name: String::new(),
            version: String::new(),
            app_version: String::new(),
            digest: String::new(),
        },
        config: Value::Null,
        computed: Value::Null,
        manifest: String::new(),
        notes: String::new(),
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
        let (info, o) = ctx.cluster.prepare(&obj).await?;
        let live = ctx
            .cluster
            .get(
                &info.api_resource.api_version,
                &info.api_resource.kind,
                o["metadata"]["namespace"].as_str(),
                o["metadata"]["name"].as_str().unwrap_or(""),
            )
            .await?;
        let Some(live) = live else { continue };
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
    let mut u = user.clone();
    if mode == ValuesMode::Reuse {
        if let Some(prev) = history.iter().rev().find(|r| r.status == Status::Deployed) {
            let mut v = prev.config.clone();
            values::overlay(&mut v, user.values.clone());
            u = UserValues::from_value(v, "previous values with --reuse-values");
        }
    }
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
        let (info, o) = ctx.cluster.prepare(&obj).await?;
        let id = crate::cluster::describe(&o);
        let live = ctx
            .cluster
            .get(
                &info.api_resource.api_version,
                &info.api_resource.kind,
                o["metadata"]["namespace"].as_str(),
                o["metadata"]["name"].as_str().unwrap_or(""),
            )
            .await?;
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
