//! A Lease per release, held for a whole operation and renewed while it
//! runs. A second operation fails at once; a holder that died leaves a Lease
//! that expires and is then taken over, so no manual cleanup is ever needed.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::{json, Value};
use tokio::task::JoinHandle;

use crate::cluster::{Cluster, ClusterError, DeleteOptions, Propagation};

/// How long a Lease lives without renewal.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(30);

/// The lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Someone else holds it, and renewed it while we watched.
    #[error("another operation on {release} is in progress (held by {holder} since {since}); try again when it has finished")]
    InProgress {
        /// The release.
        release: String,
        /// The holder's identity.
        holder: String,
        /// When it was taken.
        since: String,
    },
    /// A terminating Lease did not go away.
    #[error("the lock of {release} (Lease {lease}) is being deleted and did not go away within {seconds}s: {why}")]
    Stuck {
        /// The release.
        release: String,
        /// The Lease's name.
        lease: String,
        /// How long we waited.
        seconds: u64,
        /// What still holds it.
        why: String,
    },
    /// The cluster refused.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
}

/// A held lock. Call [`Lock::release`] when done; dropping it stops the
/// renewal and leaves the Lease to expire.
pub struct Lock {
    cluster: Arc<Cluster>,
    name: String,
    namespace: String,
    holder: String,
    renew: JoinHandle<()>,
    state: tokio::sync::watch::Receiver<Option<String>>,
    /// The holder whose expired Lease was taken over, if any.
    pub took_over_from: Option<String>,
}

impl Drop for Lock {
    fn drop(&mut self) {
        self.renew.abort();
    }
}

fn micro_time(t: SystemTime) -> String {
    humantime::format_rfc3339_micros(t).to_string()
}

/// A unique identity for this holder: process, host and a counter, so two
/// operations in one process are told apart too.
fn identity() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_string())
        })
        .unwrap_or_else(|| "unknown-host".into());
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "windlass/{}@{host}#{}-{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn lease_name(release: &str) -> String {
    format!("windlass-lock-{release}")
}

fn lease(name: &str, namespace: &str, holder: &str, duration: Duration, acquired: &str) -> Value {
    json!({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": name, "namespace": namespace, "labels": {"owner": crate::TOOL_NAME}},
        "spec": {
            "holderIdentity": holder, "leaseDurationSeconds": duration.as_secs().max(1),
            "acquireTime": acquired, "renewTime": micro_time(SystemTime::now())
        }
    })
}

/// How often a contended or terminating Lease is looked at again.
fn poll_interval(duration: Duration) -> Duration {
    (duration / 10).clamp(Duration::from_millis(50), Duration::from_secs(1))
}

fn lease_seconds(l: &Value, fallback: Duration) -> Duration {
    l["spec"]["leaseDurationSeconds"]
        .as_u64()
        .map(Duration::from_secs)
        .unwrap_or(fallback)
}

impl Lock {
    /// Takes the lock of `release`. When another holder has it, watches
    /// the Lease: a renewal means the holder is alive, and this fails at
    /// once; a Lease unchanged for its whole duration, as timed by this
    /// process (never by comparing another machine's clock with ours, as
    /// client-go's leader election does), was abandoned and is taken over.
    /// A terminating Lease (an older windlass deleted it in the foreground)
    /// is cleared and replaced.
    pub async fn acquire(
        cluster: Arc<Cluster>,
        namespace: &str,
        release: &str,
        duration: Duration,
    ) -> Result<Lock, LockError> {
        let name = lease_name(release);
        let holder = identity();
        let now = micro_time(SystemTime::now());
        let poll = poll_interval(duration);
        // (resourceVersion, when we first saw it) of another holder's Lease.
        let mut watched: Option<(String, tokio::time::Instant)> = None;
        loop {
            match cluster
                .create(&lease(&name, namespace, &holder, duration, &now))
                .await
            {
                Ok(_) => {
                    return Ok(Self::start(
                        cluster, name, namespace, holder, duration, None,
                    ))
                }
                Err(ClusterError::AlreadyExists { .. }) => {}
                Err(e) => return Err(e.into()),
            }
            let Some(current) = cluster
                .get("coordination.k8s.io/v1", "Lease", Some(namespace), &name)
                .await?
            else {
                continue; // released between our create and get
            };
            if current["metadata"]["deletionTimestamp"].is_string() {
                clear_terminating(&cluster, &current, release, duration).await?;
                continue;
            }
            let other = current["spec"]["holderIdentity"]
                .as_str()
                .unwrap_or("")
                .to_string();
            let rv = current["metadata"]["resourceVersion"]
                .as_str()
                .unwrap_or("")
                .to_string();
            let abandoned = other.is_empty()
                || watched.as_ref().is_some_and(|(seen, since)| {
                    *seen == rv && since.elapsed() >= lease_seconds(&current, duration)
                });
            if abandoned {
                let mut next = lease(&name, namespace, &holder, duration, &now);
                next["metadata"]["resourceVersion"] = json!(rv);
                match cluster.replace(&next).await {
                    Ok(_) => {
                        let from = (!other.is_empty()).then_some(other);
                        return Ok(Self::start(
                            cluster, name, namespace, holder, duration, from,
                        ));
                    }
                    // Someone else took it over first: watch them instead.
                    Err(ClusterError::Conflict { .. }) => watched = None,
                    Err(ClusterError::NotFound { .. }) => watched = None,
                    Err(e) => return Err(e.into()),
                }
            } else {
                match &watched {
                    Some((seen, _)) if *seen != rv => {
                        return Err(LockError::InProgress {
                            release: release.to_string(),
                            holder: other,
                            since: current["spec"]["acquireTime"]
                                .as_str()
                                .unwrap_or("?")
                                .to_string(),
                        });
                    }
                    Some(_) => {}
                    None => watched = Some((rv, tokio::time::Instant::now())),
                }
            }
            tokio::time::sleep(poll).await;
        }
    }

    fn start(
        cluster: Arc<Cluster>,
        name: String,
        namespace: &str,
        holder: String,
        duration: Duration,
        took_over_from: Option<String>,
    ) -> Lock {
        let (tx, state) = tokio::sync::watch::channel(None);
        let renew = tokio::spawn(renew(
            cluster.clone(),
            name.clone(),
            namespace.to_string(),
            holder.clone(),
            duration,
            tx,
        ));
        Lock {
            cluster,
            name,
            namespace: namespace.to_string(),
            holder,
            renew,
            state,
            took_over_from,
        }
    }

    /// Why the lock was lost, or `None` while it is held. Checked before
    /// every write of an operation: a holder that lost its Lease must stop,
    /// since another operation may now be writing.
    pub fn lost(&self) -> Option<String> {
        self.state.borrow().clone()
    }

    /// Resolves when the lock is lost, with why.
    pub async fn until_lost(&self) -> String {
        let mut state = self.state.clone();
        let why = match state.wait_for(Option::is_some).await {
            Ok(why) => why.clone(),
            Err(_) => None,
        };
        match why {
            Some(why) => why,
            // The renewal task ended without a verdict (it was stopped):
            // never resolve.
            None => std::future::pending().await,
        }
    }

    /// This holder's identity.
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// Stops renewing and deletes the Lease if it is still ours: in the
    /// background (a Lease has no dependents, so it is gone at once) and
    /// only the very Lease we hold, unchanged since we read it.
    pub async fn release(self) -> Result<(), ClusterError> {
        self.renew.abort();
        let Some(l) = self
            .cluster
            .get(
                "coordination.k8s.io/v1",
                "Lease",
                Some(&self.namespace),
                &self.name,
            )
            .await?
        else {
            return Ok(());
        };
        if l["spec"]["holderIdentity"] != self.holder.as_str() {
            return Ok(());
        }
        let opts = DeleteOptions {
            propagation: Propagation::Background,
            uid: l["metadata"]["uid"].as_str().map(str::to_string),
            resource_version: l["metadata"]["resourceVersion"]
                .as_str()
                .map(str::to_string),
        };
        match self
            .cluster
            .delete_with(
                "coordination.k8s.io/v1",
                "Lease",
                Some(&self.namespace),
                &self.name,
                &opts,
            )
            .await
        {
            // Changed since we read it: someone took it over; it is theirs.
            Ok(_) | Err(ClusterError::Conflict { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// Renews the Lease every third of its duration until stopped or lost.
/// Each renewal (a read and a conditional write) is bounded to a sixth of
/// the duration, so a slow or failing server cannot spend the Lease in
/// retries; when no renewal has succeeded for a whole duration, as timed
/// here, another holder may have taken it over, and the lock is lost.
async fn renew(
    c: Arc<Cluster>,
    n: String,
    ns: String,
    h: String,
    duration: Duration,
    tx: tokio::sync::watch::Sender<Option<String>>,
) {
    let mut last_renewed = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(duration / 3).await;
        let attempt = async {
            let l = c
                .get("coordination.k8s.io/v1", "Lease", Some(&ns), &n)
                .await?;
            let Some(mut l) = l else {
                return Ok(Err("its Lease was deleted".to_string()));
            };
            if l["metadata"]["deletionTimestamp"].is_string() {
                return Ok(Err("its Lease is being deleted".to_string()));
            }
            if l["spec"]["holderIdentity"] != h.as_str() {
                return Ok(Err(format!(
                    "taken over by {}",
                    l["spec"]["holderIdentity"]
                        .as_str()
                        .unwrap_or("someone else")
                )));
            }
            l["spec"]["renewTime"] = json!(micro_time(SystemTime::now()));
            c.replace(&l).await.map(|_| Ok(()))
        };
        match tokio::time::timeout(duration / 6, attempt).await {
            Ok(Ok(Ok(()))) => last_renewed = tokio::time::Instant::now(),
            Ok(Ok(Err(why))) => {
                let _ = tx.send(Some(why));
                return;
            }
            // A write that lost a race is someone else's write: look again
            // at the next tick (and find who holds it).
            Ok(Err(_)) | Err(_) => {
                if last_renewed.elapsed() >= duration {
                    let _ = tx.send(Some(format!(
                        "could not renew its Lease for {}s, its whole duration",
                        duration.as_secs_f64().round()
                    )));
                    return;
                }
            }
        }
    }
}

/// Clears a Lease left terminating by a foreground delete: removes its
/// finalizers (conditional on the version we read, so only that very
/// Lease), then waits until it is gone.
async fn clear_terminating(
    cluster: &Cluster,
    current: &Value,
    release: &str,
    duration: Duration,
) -> Result<(), LockError> {
    let name = current["metadata"]["name"].as_str().unwrap_or_default();
    if current["metadata"]["finalizers"]
        .as_array()
        .is_some_and(|f| !f.is_empty())
    {
        let mut cleared = current.clone();
        cleared["metadata"]["finalizers"] = json!([]);
        match cluster.replace(&cleared).await {
            Ok(_) | Err(ClusterError::NotFound { .. }) | Err(ClusterError::Conflict { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let wait = duration.max(Duration::from_secs(5));
    let gone = cluster
        .wait_deleted(
            std::slice::from_ref(current),
            wait,
            poll_interval(duration),
            &|_| {},
        )
        .await;
    match gone {
        Ok(()) => Ok(()),
        Err(ClusterError::Timeout { not_ready, .. }) => Err(LockError::Stuck {
            release: release.to_string(),
            lease: name.to_string(),
            seconds: wait.as_secs(),
            why: not_ready.join("; "),
        }),
        Err(e) => Err(e.into()),
    }
}
