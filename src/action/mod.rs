//! Install, upgrade, rollback and uninstall: render (or take a recorded
//! manifest), plan against the live cluster with a server dry-run, record
//! the revision, apply what changes, prune what the new revision no longer
//! has, wait, and record the outcome. Every operation holds the release's
//! Lease, and no path deletes a PersistentVolume or PersistentVolumeClaim.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use crate::chart::Chart;
use crate::cluster::{Change, Cluster, ClusterError, DeleteOptions, Planned, Propagation};
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
    /// Rendered objects do not match their Kubernetes schema.
    #[error(transparent)]
    Types(#[from] crate::openapi::TypeErrors),
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

/// The values an upgrade renders with: with `--reuse-values`, the last
/// deployed revision's (else the latest revision's) values with the new
/// ones laid over them; otherwise only the new ones.
fn upgrade_values(user: &UserValues, history: &[Release], mode: ValuesMode) -> UserValues {
    if mode == ValuesMode::Reset {
        return user.clone();
    }
    let prev = history
        .iter()
        .rev()
        .find(|r| r.status == Status::Deployed)
        .or(history.last());
    match prev {
        None => user.clone(),
        Some(prev) => {
            let mut v = prev.config.clone();
            values::overlay(&mut v, user.values.clone());
            UserValues::from_value(v, "previous values with --reuse-values")
        }
    }
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
    for w in &rendered.warnings {
        (ctx.progress)(&format!("warning: {w}"));
    }
    // Before any object is planned or sent: a wrong type would otherwise
    // surface as a server 500 half-way through.
    crate::openapi::check_manifests(&rendered.manifests)?;
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

mod deploy;
mod inspect;
mod uninstall;

pub use deploy::{install, rollback, upgrade};
pub use inspect::{
    diff_revisions, diff_rollback, diff_upgrade, drift, fix_drift, get, history, list,
    store_history, Drift, DriftState,
};
pub use uninstall::{uninstall, UninstallOptions, Uninstalled};
