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

    /// The Pods a Job started, newest first (by the `job-name` label the
    /// Job controller sets on each of them).
    pub async fn job_pods(&self, namespace: &str, job: &str) -> Result<Vec<Value>, ClusterError> {
        let mut pods = self
            .list("v1", "Pod", Some(namespace), &format!("job-name={job}"))
            .await?;
        pods.sort_by(|a, b| {
            b["metadata"]["creationTimestamp"]
                .as_str()
                .cmp(&a["metadata"]["creationTimestamp"].as_str())
        });
        Ok(pods)
    }
}
