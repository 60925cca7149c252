//! Applies a few thousand objects through the real kube-rs client to the
//! test API server (HTTPS on 127.0.0.1) and reports requests per object and
//! objects per second, for an install and for a re-apply of the same set.
//! Run with `cargo bench --bench apply`; results are in docs/benchmarks.md.

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::Instant;

use serde_json::{json, Value};
use support::apiserver::TestApiServer;
use windlass::cluster::{ApplyOptions, Cluster, ConnectOptions};

const OBJECTS: usize = 3000;

fn objects() -> Vec<Value> {
    let mut out = Vec::with_capacity(OBJECTS);
    for i in 0..OBJECTS / 3 {
        out.push(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": format!("cm-{i}"), "labels": {"app": "bench"}}, "data": {"i": i.to_string()}}));
    }
    for i in 0..OBJECTS / 3 {
        out.push(json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": format!("svc-{i}")}, "spec": {"selector": {"app": "bench"}, "ports": [{"name": "http", "port": 80}]}}));
    }
    for i in 0..OBJECTS / 3 {
        out.push(json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": format!("dep-{i}")}, "spec": {
            "selector": {"matchLabels": {"app": format!("d{i}")}},
            "template": {"metadata": {"labels": {"app": format!("d{i}")}}, "spec": {"containers": [{"name": "c", "image": "nginx:1.27", "ports": [{"containerPort": 80}]}]}}}}));
    }
    out
}

fn report(label: &str, server: &TestApiServer, from: usize, elapsed: std::time::Duration) {
    let reqs = server.requests_since(from);
    let writes = reqs.iter().filter(|r| r.is_write()).count();
    let dry = reqs.iter().filter(|r| r.dry_run).count();
    let other = reqs.len() - writes - dry;
    println!(
        "{label:<22} {:>6} requests  {:>5.2} writes/object  {:>5.2} dry-runs/object  {:>3} discovery+list  {:>8.0} objects/s",
        reqs.len(),
        writes as f64 / OBJECTS as f64,
        dry as f64 / OBJECTS as f64,
        other,
        OBJECTS as f64 / elapsed.as_secs_f64()
    );
}

fn main() {
    // `cargo test --benches` runs benches with --test-like flags; only
    // `cargo bench` (which passes --bench) does the measurement.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let server = TestApiServer::start().await;
        let cluster = Cluster::connect(&ConnectOptions { kubeconfig: Some(server.kubeconfig.clone()), ..Default::default() })
            .await
            .unwrap();
        let objs = objects();
        println!("applying {OBJECTS} objects (ConfigMaps, Services, Deployments) with 8 requests in flight");
        let from = server.requests().len();
        let t = Instant::now();
        let r = cluster.apply_all(&objs, ApplyOptions::default()).await.unwrap();
        assert_eq!(r.created.len(), OBJECTS);
        report("install", &server, from, t.elapsed());
        let from = server.requests().len();
        let t = Instant::now();
        let r = cluster.apply_all(&objs, ApplyOptions::default()).await.unwrap();
        assert_eq!(r.unchanged.len(), OBJECTS);
        report("re-apply (no change)", &server, from, t.elapsed());

        // A release of the HDFS chart: install, then an upgrade that changes nothing.
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let chart = windlass::chart::load(&root.join("charts/hdfs")).unwrap();
        let user = windlass::values::UserValues::load(&windlass::values::ValueSources {
            files: vec![root.join("charts/hdfs/examples/poc-single-node.yaml")],
            sets: vec![],
        })
        .unwrap();
        let cluster = Cluster::connect(&ConnectOptions { kubeconfig: Some(server.kubeconfig.clone()), namespace: Some("hdfs".into()), ..Default::default() })
            .await
            .unwrap();
        let ctx = windlass::action::Context::new(std::sync::Arc::new(cluster));
        let opts = windlass::action::DeployOptions { release: "hdfs".into(), create_namespace: true, ..Default::default() };
        for (label, upgrade) in [("release install", false), ("release no-op upgrade", true)] {
            let from = server.requests().len();
            let out = if upgrade {
                windlass::action::upgrade(&ctx, &chart, &user, &opts, windlass::action::ValuesMode::Reset, false).await.unwrap()
            } else {
                windlass::action::install(&ctx, &chart, &user, &opts).await.unwrap()
            };
            let n = out.lines.len() as f64;
            let reqs = server.requests_since(from);
            let object_writes = reqs.iter().filter(|r| r.is_write() && !r.path.contains("/secrets/") && !r.path.contains("/leases")).count();
            let bookkeeping = reqs.iter().filter(|r| r.is_write()).count() - object_writes;
            println!(
                "{label:<22} {:>6} requests for {} objects: {:.2} requests/object, {:.2} object writes/object, {} record and lock writes",
                reqs.len(),
                n,
                reqs.len() as f64 / n,
                object_writes as f64 / n,
                bookkeeping
            );
        }
    });
}
