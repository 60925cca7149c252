//! Helpers for tests that drive releases against the test API server.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use windlass::action::{Context, DeployOptions};
use windlass::cluster::{Cluster, ConnectOptions, RetryPolicy};
use windlass::values::{SetFlag, SetKind, UserValues, ValueSources};

use super::apiserver::TestApiServer;

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub async fn ctx(server: &TestApiServer, ns: &str, retries: usize) -> Context {
    let cluster = Cluster::connect(&ConnectOptions {
        kubeconfig: Some(server.kubeconfig.clone()),
        context: None,
        namespace: Some(ns.into()),
    })
    .await
    .unwrap()
    .with_retry(RetryPolicy {
        max_retries: retries,
        min_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(50),
        max_total: Duration::from_secs(2),
    });
    let mut c = Context::new(Arc::new(cluster));
    c.poll = Duration::from_millis(50);
    c
}

pub fn values(files: &[&str], sets: &[&str]) -> UserValues {
    UserValues::load(&ValueSources {
        files: files.iter().map(|f| root().join(f)).collect(),
        sets: sets
            .iter()
            .map(|s| SetFlag {
                kind: SetKind::Typed,
                expression: s.to_string(),
            })
            .collect(),
    })
    .unwrap()
}

pub fn opts(release: &str) -> DeployOptions {
    DeployOptions {
        release: release.into(),
        create_namespace: true,
        ..Default::default()
    }
}

/// Polls `f` until it holds (at most 20 s): orders test steps without
/// relying on how fast a loaded machine runs them.
pub async fn wait_for(f: impl Fn() -> bool) {
    for _ in 0..400 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("condition not reached in 20 s");
}

pub fn config_map(server: &TestApiServer, ns: &str, name: &str) -> Value {
    server
        .object("", "configmaps", ns, name)
        .unwrap_or(Value::Null)
}

/// A small chart: a ConfigMap from values, an optional second one, and a
/// keep-annotated one that can be switched off.
pub fn small_chart(dir: &Path) -> windlass::chart::Chart {
    std::fs::create_dir_all(dir.join("templates")).unwrap();
    std::fs::write(
        dir.join("Chart.yaml"),
        "apiVersion: v2\nname: small\nversion: 1.0.0\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("values.yaml"),
        "data: one\nextra: true\nkept: true\nbig: 0\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("templates/cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{Release.Name}}-main\ndata:\n  value: {{quote Values.data}}\n\
{{#if Values.extra}}---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{Release.Name}}-extra\ndata:\n  a: b\n{{/if}}\
{{#if Values.kept}}---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{Release.Name}}-kept\n  annotations:\n    helm.sh/resource-policy: keep\ndata:\n  a: b\n{{/if}}\
{{#each (range Values.big) as |i|}}---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: big-{{i}}\ndata:\n  blob: {{sha256sum (printf \"%d-a\" i)}}{{sha256sum (printf \"%d-b\" i)}}{{sha256sum (printf \"%d-c\" i)}}{{sha256sum (printf \"%d-d\" i)}}\n{{/each}}",
    )
    .unwrap();
    windlass::chart::load(dir).unwrap()
}

pub fn object_writes(server: &TestApiServer, from: usize) -> usize {
    server
        .requests_since(from)
        .iter()
        .filter(|r| {
            r.is_write()
                && !r.path.contains("/secrets/windlass.release")
                && !r.path.contains("/leases")
        })
        .count()
}

/// Uninstall options with a short timeout.
pub fn uninstall_opts(keep_history: bool, wait: bool) -> windlass::action::UninstallOptions {
    windlass::action::UninstallOptions {
        keep_history,
        wait,
        timeout: std::time::Duration::from_secs(5),
        ..Default::default()
    }
}
