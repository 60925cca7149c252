//! Install, upgrade, rollback and uninstall: render (or take a recorded
//! manifest), plan against the live cluster with a server dry-run, record
//! the revision, apply what changes, prune what the new revision no longer
//! has, wait, and record the outcome. Every operation holds the release's
//! Lease, and no path deletes a PersistentVolume or PersistentVolumeClaim.

use std::sync::Arc;
use std::time::Duration;

use crate::cluster::{Cluster, ClusterError};
use crate::release::lock::LockError;
use crate::release::{self, Release, ReleaseError};
use crate::render;
use crate::values;

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

/// An operation failed. Each way it can fail that a caller may want to act
/// on is its own variant.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    /// The cluster refused.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// Records could not be read or written.
    #[error(transparent)]
    Release(#[from] ReleaseError),
    /// The lock could not be taken (another operation holds it).
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
    /// The release has no records.
    #[error("release {release} not found in namespace {namespace}")]
    NotFound {
        /// The release.
        release: String,
        /// Its namespace.
        namespace: String,
    },
    /// An upgrade of a release that was never installed.
    #[error("release {release} has no revisions in namespace {namespace}; install it first (or pass --install)")]
    NotInstalled {
        /// The release.
        release: String,
        /// Its namespace.
        namespace: String,
    },
    /// An install of a release that is deployed.
    #[error("release {release} already exists in namespace {namespace} (revision {revision} is deployed); use `windlass upgrade`")]
    AlreadyDeployed {
        /// The release.
        release: String,
        /// Its namespace.
        namespace: String,
        /// The deployed revision.
        revision: u64,
    },
    /// The revision asked for is not recorded.
    #[error("release {release} has no revision {revision} (see `windlass history {release}`)")]
    NoRevision {
        /// The release.
        release: String,
        /// The revision asked for.
        revision: u64,
    },
    /// The record needed is damaged (a chunk missing, bytes that do not
    /// decode), so its manifest is unknown.
    #[error("revision {revision} of release {release} cannot be used: {why}")]
    Damaged {
        /// The release.
        release: String,
        /// The revision.
        revision: u64,
        /// What is wrong with its record.
        why: String,
    },
    /// Nothing to roll back to.
    #[error("release {release} has no earlier good revision to roll back to")]
    NoRollbackTarget {
        /// The release.
        release: String,
    },
    /// The verb needs a deployed revision and there is none.
    #[error("release {release} has no deployed revision")]
    NoDeployedRevision {
        /// The release.
        release: String,
    },
    /// The release namespace does not exist.
    #[error("namespace {namespace} does not exist; create it or pass --create-namespace")]
    NamespaceMissing {
        /// The namespace.
        namespace: String,
    },
    /// Objects of the release were still being deleted when the operation
    /// gave up waiting; nothing was changed.
    #[error("objects of this release are still being deleted after {seconds}s, so nothing was changed: {}; wait for them to go (or remove the finalizers that hold them) and run again", objects.join("; "))]
    StillDeleting {
        /// How long it waited.
        seconds: u64,
        /// Each object and what holds it.
        objects: Vec<String>,
    },
    /// The release's lock was lost during the operation (taken over, or
    /// not renewed in time); it stopped writing at once.
    #[error("lost the lock of release {release} during the operation ({why}); stopped before the next write. The revision in progress is left as it is and the next operation marks it failed")]
    LockLost {
        /// The release.
        release: String,
        /// How it was lost.
        why: String,
    },
    /// The user interrupted the operation (Ctrl-C, SIGTERM).
    #[error("interrupted (Ctrl-C or SIGTERM) and stopped before its next write")]
    Interrupted,

    /// A hook failed (or did not finish in time): the event's later hooks
    /// did not run.
    #[error("{event} hook {object} failed: {reason}{}", log_tail(logs))]
    Hook {
        /// The event (`pre-upgrade`).
        event: String,
        /// `Job hdfs/hdfs-decommission`.
        object: String,
        /// Why: the Job's failure condition, the Pod's exit code, a timeout.
        reason: String,
        /// The last lines of its log, each prefixed with the Pod's name.
        logs: Vec<String>,
    },
    /// A hook's annotations do not parse.
    #[error("{0}")]
    BadHook(String),
    /// The user did not confirm the plan.
    #[error("not confirmed; nothing was changed")]
    NotConfirmed,
    /// The operation failed after recording a revision.
    #[error("{}", failed_message(operation, *revision, cause, atomic.as_ref(), record_error.as_deref()))]
    Failed {
        /// install, upgrade or rollback.
        operation: &'static str,
        /// The revision recorded as failed.
        revision: u64,
        /// What went wrong.
        cause: Box<ActionError>,
        /// What `--atomic` did about it, when asked.
        atomic: Option<AtomicOutcome>,
        /// Why the failure could not be recorded, if it could not (the next
        /// operation then marks the pending revision failed).
        record_error: Option<String>,
    },
}

fn log_tail(logs: &[String]) -> String {
    if logs.is_empty() {
        return String::new();
    }
    let mut s = String::from("\n  last lines of its log:");
    for l in logs {
        s.push_str("\n    ");
        s.push_str(l);
    }
    s
}

fn failed_message(
    operation: &str,
    revision: u64,
    cause: &ActionError,
    atomic: Option<&AtomicOutcome>,
    record_error: Option<&str>,
) -> String {
    let mut m = format!("{operation} failed: {cause}");
    match record_error {
        None => m.push_str(&format!("; revision {revision} is recorded as failed")),
        Some(e) => m.push_str(&format!(
            "; recording the failure failed too ({e}), so the next operation will mark revision {revision} failed"
        )),
    }
    if let Some(a) = atomic {
        m.push_str(&format!("; {a}"));
    }
    m
}

impl ActionError {
    /// The underlying error of a failed operation (itself otherwise).
    pub fn cause(&self) -> &ActionError {
        match self {
            ActionError::Failed { cause, .. } => cause.cause(),
            e => e,
        }
    }
}

/// What `--atomic` did after a failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AtomicOutcome {
    /// A failed install removed the objects it had created.
    Removed {
        /// How many.
        objects: usize,
    },
    /// A failed upgrade or rollback went back to the last good revision.
    RolledBack {
        /// The revision returned to.
        to: u64,
        /// The revision recording the rollback.
        revision: u64,
    },
    /// The undo itself failed.
    UndoFailed {
        /// Why.
        message: String,
    },
    /// Nothing was undone: the lock was lost, so another operation may be
    /// writing.
    Skipped {
        /// Why.
        why: String,
    },
}

impl std::fmt::Display for AtomicOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AtomicOutcome::Removed { objects } => write!(f, "--atomic removed the {objects} object(s) it had created (PersistentVolumes and claims are kept)"),
            AtomicOutcome::RolledBack { to, revision } => write!(f, "--atomic rolled back to revision {to} (now revision {revision})"),
            AtomicOutcome::UndoFailed { message } => write!(f, "--atomic could not roll back: {message}"),
            AtomicOutcome::Skipped { why } => write!(f, "--atomic did nothing: {why}"),
        }
    }
}

/// Receives one progress line.
pub type ProgressFn = Box<dyn Fn(&str) + Send + Sync>;
/// Receives the objects not ready yet, with why.
pub type WaitingFn = Box<dyn Fn(&[String]) + Send + Sync>;
/// Shown the plan (as diff items) with the lock held, before anything is
/// written; `true` goes on, `false` stops with [`ActionError::NotConfirmed`].
pub type ConfirmFn = Box<dyn Fn(&[crate::diff::Item]) -> bool + Send + Sync>;

/// Set when the user asks the operation to stop (Ctrl-C, SIGTERM): it
/// stops before its next write, records the revision failed, undoes it
/// with `--atomic`, and releases the lock.
#[derive(Debug, Clone, Default)]
pub struct Interrupt(Arc<std::sync::atomic::AtomicBool>);

impl Interrupt {
    /// Asks the operation to stop.
    pub fn raise(&self) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Whether it was asked to.
    pub fn raised(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

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
    /// Raised to stop the operation between writes.
    pub interrupt: Interrupt,
    /// Asked to confirm the plan (`--confirm`); `None` goes ahead.
    pub confirm: Option<ConfirmFn>,
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
            interrupt: Interrupt::default(),
            confirm: None,
        }
    }

    fn store(&self) -> release::Store<'_> {
        release::Store::new(&self.cluster, &self.namespace)
    }

    /// The release's records, read as one [`History`].
    async fn history(&self, name: &str) -> Result<History, ActionError> {
        Ok(History::new(
            name,
            &self.namespace,
            self.store().history(name).await?,
        ))
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

/// Options shared by install, upgrade and rollback.
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
    /// Let prune delete Namespaces and CustomResourceDefinitions the new
    /// revision no longer has (deleting either deletes everything in it).
    pub delete_namespaces_and_crds: bool,
    /// Do not install the chart's `crds/` directory.
    pub skip_crds: bool,
    /// Run no hooks (`--no-hooks`).
    pub no_hooks: bool,
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
            delete_namespaces_and_crds: false,
            skip_crds: false,
            no_hooks: false,
        }
    }
}

/// How values are combined on upgrade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ValuesMode {
    /// Only the values given now (Helm's --reset-values, the default).
    #[default]
    Reset,
    /// The last good revision's values, with the new ones laid over them.
    Reuse,
}

/// One object's line in an operation summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// `ConfigMap hdfs/hdfs-config`.
    pub object: String,
    /// create, update, unchanged, delete, keep, or skip (an object the
    /// previous revision had that now belongs to someone else).
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
    /// Hooks: on a dry run those that would run (`pre-upgrade: Job
    /// ns/name (weight 0)`), else those that ran and how they ended.
    pub hooks: Vec<String>,
}

impl Outcome {
    /// Counts per action, e.g. `3 created, 1 updated, 5 unchanged, ...`.
    pub fn summary(&self) -> String {
        let count = |a: &str| self.lines.iter().filter(|l| l.action == a).count();
        let mut s = format!(
            "{} created, {} updated, {} unchanged, {} deleted, {} kept",
            count("create"),
            count("update"),
            count("unchanged"),
            count("delete"),
            count("keep")
        );
        if count("skip") > 0 {
            s.push_str(&format!(
                ", {} left alone (no longer this release's)",
                count("skip")
            ));
        }
        s
    }
}

mod apply;
mod diff;
mod drift;
mod history;
mod hooks;
mod install;
mod ownership;
mod phases;
mod query;
mod rollback;
mod session;
mod test;
mod undo;
mod uninstall;
mod upgrade;

pub use apply::render_for;
pub use diff::{
    diff_revisions, diff_rollback, diff_rollback_plan, diff_upgrade, diff_upgrade_plan, DiffPlan,
};
pub use drift::{drift, fix_drift, Drift, DriftState};
pub use history::History;
pub use install::install;
pub use query::{get, history, list, store_history};
pub use rollback::rollback;
pub use test::{test, TestOptions, TestReport};
pub use uninstall::{uninstall, UninstallOptions, Uninstalled};
pub use upgrade::upgrade;
