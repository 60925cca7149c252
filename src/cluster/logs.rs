//! Pod logs, for the last lines of a failed hook or test.

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, LogParams};
use serde_json::Value;

use super::{Cluster, ClusterError};

impl Cluster {
    /// The last `tail` lines a container of a Pod wrote (the first
    /// container when `container` is `None`).
    pub async fn logs(
        &self,
        namespace: &str,
        pod: &str,
        container: Option<&str>,
        tail: i64,
    ) -> Result<String, ClusterError> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        let params = LogParams {
            container: container.map(str::to_string),
            tail_lines: Some(tail),
            ..LogParams::default()
        };
        let action = format!("read the log of Pod {namespace}/{pod}");
        self.retrying(&action, || api.logs(pod, &params)).await
    }

    /// The Pods this Job (by `uid`) started, newest first. The `job-name`
    /// label finds them, but an earlier Job of the same name (a hook
    /// re-created before its old Pods were collected) labelled its Pods
    /// the same: only Pods owned by this Job's uid are its own.
    pub async fn job_pods(
        &self,
        namespace: &str,
        job: &str,
        uid: Option<&str>,
    ) -> Result<Vec<Value>, ClusterError> {
        let mut pods = self
            .list("v1", "Pod", Some(namespace), &format!("job-name={job}"))
            .await?;
        if let Some(uid) = uid {
            pods.retain(|p| {
                p["metadata"]["ownerReferences"]
                    .as_array()
                    .is_some_and(|refs| refs.iter().any(|r| r["uid"] == uid))
            });
        }
        pods.sort_by(|a, b| {
            b["metadata"]["creationTimestamp"]
                .as_str()
                .cmp(&a["metadata"]["creationTimestamp"].as_str())
        });
        Ok(pods)
    }
}
