//! Deleting, and waiting for deletions to finish. On a real cluster a
//! delete is a request, not an event: an object with finalizers (a
//! foreground delete adds `foregroundDeletion`; claims and volumes carry
//! their protection finalizers) only gets a `deletionTimestamp`, and goes
//! when controllers remove the finalizers (recordings 71-82, 121-122).

use std::time::Duration;

use kube::api::{DeleteParams, Preconditions};
use serde_json::Value;

use super::{describe, Cluster, ClusterError};

/// What happens to an object's dependents (`--cascade`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Propagation {
    /// The object goes now; the garbage collector removes dependents
    /// afterwards (Helm's and kubectl's default).
    #[default]
    Background,
    /// The object stays, terminating, until the garbage collector has
    /// removed its dependents.
    Foreground,
    /// Dependents are left in place.
    Orphan,
}

impl std::str::FromStr for Propagation {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "background" => Ok(Propagation::Background),
            "foreground" => Ok(Propagation::Foreground),
            "orphan" => Ok(Propagation::Orphan),
            other => Err(format!(
                "unknown cascade `{other}`: use background, foreground or orphan"
            )),
        }
    }
}

/// How to delete one object.
#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    /// Dependents' fate.
    pub propagation: Propagation,
    /// Delete only the object with this uid (not one re-created since).
    pub uid: Option<String>,
    /// Delete only if unchanged since this resourceVersion was read.
    pub resource_version: Option<String>,
}

impl DeleteOptions {
    fn params(&self) -> DeleteParams {
        let mut p = match self.propagation {
            Propagation::Background => DeleteParams::background(),
            Propagation::Foreground => DeleteParams::foreground(),
            Propagation::Orphan => DeleteParams::orphan(),
        };
        if self.uid.is_some() || self.resource_version.is_some() {
            p.preconditions = Some(Preconditions {
                uid: self.uid.clone(),
                resource_version: self.resource_version.clone(),
            });
        }
        p
    }
}

/// Why a deleted object is still there, for progress lines and timeouts.
pub fn still_there(obj: &Value) -> String {
    let finalizers: Vec<&str> = obj["metadata"]["finalizers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    match (
        obj["metadata"]["deletionTimestamp"].as_str(),
        finalizers.is_empty(),
    ) {
        (Some(_), true) => "terminating".into(),
        (Some(_), false) => format!(
            "terminating, waiting for finalizers: {}",
            finalizers.join(", ")
        ),
        (None, _) => "not deleted yet".into(),
    }
}

impl Cluster {
    /// Deletes an object with background propagation. Returns whether it
    /// existed; a missing object is not an error.
    pub async fn delete(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<bool, ClusterError> {
        self.delete_with(
            api_version,
            kind,
            namespace,
            name,
            &DeleteOptions::default(),
        )
        .await
    }

    /// Deletes an object as `opts` says. Returns whether it existed. The
    /// object may still exist afterwards (finalizers); see
    /// [`Cluster::wait_deleted`]. A failed precondition is
    /// [`ClusterError::Conflict`].
    pub async fn delete_with(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
        opts: &DeleteOptions,
    ) -> Result<bool, ClusterError> {
        let info = self.resolve(api_version, kind).await?;
        let api = self.api(&info, namespace);
        let action = format!("delete {kind} {name}");
        let params = opts.params();
        match self.retrying(&action, || api.delete(name, &params)).await {
            Ok(_) => Ok(true),
            Err(ClusterError::NotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Deletes the object a manifest describes (see [`Cluster::delete_with`]).
    pub async fn delete_object(
        &self,
        obj: &Value,
        opts: &DeleteOptions,
    ) -> Result<bool, ClusterError> {
        let (info, obj) = self.prepare(obj).await?;
        self.delete_with(
            &info.api_resource.api_version,
            &info.api_resource.kind,
            obj["metadata"]["namespace"].as_str(),
            obj["metadata"]["name"].as_str().unwrap_or_default(),
            opts,
        )
        .await
    }

    /// Polls until every object is gone (404), or `timeout` passes; then
    /// fails naming each object still there and why (finalizers).
    /// `progress` gets the objects still there after each poll.
    pub async fn wait_deleted(
        &self,
        objects: &[Value],
        timeout: Duration,
        poll: Duration,
        progress: &(dyn Fn(&[String]) + Sync),
    ) -> Result<(), ClusterError> {
        let mut prepared = Vec::with_capacity(objects.len());
        for o in objects {
            prepared.push(self.prepare(o).await?.1);
        }
        super::poll_until(timeout, poll, progress, || async {
            let mut left = Vec::new();
            for obj in &prepared {
                let live = self.get_object(obj).await?;
                // A new object of the same name is not the one deleted.
                if let Some(live) = live.filter(|l| {
                    obj["metadata"]["uid"].is_null()
                        || obj["metadata"]["uid"] == l["metadata"]["uid"]
                }) {
                    left.push(format!("{}: {}", describe(obj), still_there(&live)));
                }
            }
            Ok(left)
        })
        .await
    }
}
