//! Small helpers for the cluster-layer tests.
#![allow(dead_code)]

use std::time::Duration;

use serde_json::{json, Value};
use windlass::cluster::{Cluster, ConnectOptions, RetryPolicy};

use super::apiserver::TestApiServer;

/// A client for the test server with a short retry policy.
pub async fn connect(server: &TestApiServer, ns: Option<&str>) -> Cluster {
    Cluster::connect(&ConnectOptions {
        kubeconfig: Some(server.kubeconfig.clone()),
        context: None,
        namespace: ns.map(str::to_string),
    })
    .await
    .expect("connects")
    .with_retry(RetryPolicy {
        max_retries: 2,
        min_delay: Duration::from_millis(10),
        max_delay: Duration::from_secs(2),
        max_total: Duration::from_secs(10),
    })
}

/// A ConfigMap managed by windlass.
pub fn cm(name: &str, data: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": {"app.kubernetes.io/managed-by": "windlass"}}, "data": data})
}

/// A StatefulSet with one volume claim template.
pub fn sts(name: &str, replicas: i64, storage: &str) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": name},
        "spec": {
            "serviceName": name, "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "dn", "image": "apache/hadoop:3.4.1"}]}},
            "volumeClaimTemplates": [{"metadata": {"name": "data0"}, "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": storage}}}}]
        }
    })
}
