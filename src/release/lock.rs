//! A Lease per release, held for a whole operation and renewed while it
//! runs. A second operation fails at once; a holder that died leaves a Lease
//! that expires and is then taken over, so no manual cleanup is ever needed.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::{json, Value};
use tokio::task::JoinHandle;

use crate::cluster::{Cluster, ClusterError};

/// How long a Lease lives without renewal.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(30);

/// The lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Someone else holds it.
    #[error("another operation on {release} is in progress (held by {holder} since {since}); it expires {expires} unless renewed")]
    InProgress {
        /// The release.
        release: String,
        /// The holder's identity.
        holder: String,
        /// When it was taken.
        since: String,
        /// When it expires.
        expires: String,
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

fn parse_time(s: &str) -> Option<SystemTime> {
    humantime::parse_rfc3339_weak(s).ok()
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

fn expiry(l: &Value) -> Option<SystemTime> {
    let renewed = parse_time(l["spec"]["renewTime"].as_str()?)?;
    Some(renewed + Duration::from_secs(l["spec"]["leaseDurationSeconds"].as_u64().unwrap_or(0)))
}

impl Lock {
    /// Takes the lock of `release`, or fails at once if a live holder has it.
    pub async fn acquire(
        cluster: Arc<Cluster>,
        namespace: &str,
        release: &str,
        duration: Duration,
    ) -> Result<Lock, LockError> {
        let name = lease_name(release);
        let holder = identity();
        let now = micro_time(SystemTime::now());
        let mut took_over_from = None;
        match cluster
            .create(&lease(&name, namespace, &holder, duration, &now))
            .await
        {
            Ok(_) => {}
            Err(ClusterError::AlreadyExists { .. }) => {
                let Some(current) = cluster
                    .get("coordination.k8s.io/v1", "Lease", Some(namespace), &name)
                    .await?
                else {
                    // Released between our create and get: try once more.
                    cluster
                        .create(&lease(&name, namespace, &holder, duration, &now))
                        .await?;
                    return Ok(Self::start(
                        cluster, name, namespace, holder, duration, None,
                    ));
                };
                let other = current["spec"]["holderIdentity"]
                    .as_str()
                    .unwrap_or("unknown")
                    .to_string();
                let expires = expiry(&current).unwrap_or(SystemTime::UNIX_EPOCH);
                if expires > SystemTime::now() {
                    return Err(LockError::InProgress {
                        release: release.to_string(),
                        holder: other,
                        since: current["spec"]["acquireTime"]
                            .as_str()
                            .unwrap_or("?")
                            .to_string(),
                        expires: humantime::format_rfc3339_seconds(expires).to_string(),
                    });
                }
                let mut next = lease(&name, namespace, &holder, duration, &now);
                next["metadata"]["resourceVersion"] =
                    current["metadata"]["resourceVersion"].clone();
                match cluster.replace(&next).await {
                    Ok(_) => took_over_from = Some(other),
                    Err(ClusterError::Conflict { .. }) => {
                        return Err(LockError::InProgress {
                            release: release.to_string(),
                            holder: "another windlass that took over the expired lock just now"
                                .into(),
                            since: now,
                            expires: "soon".into(),
                        })
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            Err(e) => return Err(e.into()),
        }
        Ok(Self::start(
            cluster,
            name,
            namespace,
            holder,
            duration,
            took_over_from,
        ))
    }

    fn start(
        cluster: Arc<Cluster>,
        name: String,
        namespace: &str,
        holder: String,
        duration: Duration,
        took_over_from: Option<String>,
    ) -> Lock {
        let (c, n, ns, h) = (
            cluster.clone(),
            name.clone(),
            namespace.to_string(),
            holder.clone(),
        );
        let renew = tokio::spawn(async move {
            loop {
                tokio::time::sleep(duration / 3).await;
                let Ok(Some(mut l)) = c
                    .get("coordination.k8s.io/v1", "Lease", Some(&ns), &n)
                    .await
                else {
                    continue;
                };
                if l["spec"]["holderIdentity"] != h.as_str() {
                    return;
                }
                l["spec"]["renewTime"] = json!(micro_time(SystemTime::now()));
                let _ = c.replace(&l).await;
            }
        });
        Lock {
            cluster,
            name,
            namespace: namespace.to_string(),
            holder,
            renew,
            took_over_from,
        }
    }

    /// This holder's identity.
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// Stops renewing and deletes the Lease if it is still ours.
    pub async fn release(self) -> Result<(), ClusterError> {
        self.renew.abort();
        if let Some(l) = self
            .cluster
            .get(
                "coordination.k8s.io/v1",
                "Lease",
                Some(&self.namespace),
                &self.name,
            )
            .await?
        {
            if l["spec"]["holderIdentity"] == self.holder.as_str() {
                self.cluster
                    .delete(
                        "coordination.k8s.io/v1",
                        "Lease",
                        Some(&self.namespace),
                        &self.name,
                    )
                    .await?;
            }
        }
        Ok(())
    }
}
