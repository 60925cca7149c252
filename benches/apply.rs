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

        // The HDFS chart at 200 datanodes x 4 volumes in poc mode: 810
        // objects (801 hostPath PersistentVolumes), every release step.
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let chart = windlass::chart::load(&root.join("charts/hdfs")).unwrap();
        let values = |extra: &[&str]| {
            let mut sets: Vec<&str> = vec!["datanode.replicas=200", "datanode.volumesPerPod=4"];
            sets.extend(extra);
            windlass::values::UserValues::load(&windlass::values::ValueSources {
                files: vec![root.join("charts/hdfs/examples/poc-single-node.yaml")],
                sets: sets
                    .iter()
                    .map(|s| windlass::values::SetFlag { kind: windlass::values::SetKind::Typed, expression: s.to_string() })
                    .collect(),
            })
            .unwrap()
        };
        let cluster = Cluster::connect(&ConnectOptions { kubeconfig: Some(server.kubeconfig.clone()), namespace: Some("hdfs".into()), ..Default::default() })
            .await
            .unwrap();
        let mut ctx = windlass::action::Context::new(std::sync::Arc::new(cluster));
        // No Lease renewal inside a step: request counts stay deterministic.
        ctx.lock_duration = std::time::Duration::from_secs(600);
        let opts = windlass::action::DeployOptions { release: "hdfs".into(), create_namespace: true, ..Default::default() };
        let big = values(&[]);
        let blocksize = values(&["hdfs.hdfsSite.dfs\\.blocksize=268435456"]);
        println!("HDFS release, 810 objects:");
        for label in ["install", "no-op upgrade", "one-value upgrade", "rollback", "uninstall"] {
            let from = server.requests().len();
            let t = Instant::now();
            match label {
                "install" => drop(windlass::action::install(&ctx, &chart, &big, &opts).await.unwrap()),
                "no-op upgrade" => drop(windlass::action::upgrade(&ctx, &chart, &big, &opts, windlass::action::ValuesMode::Reset, false).await.unwrap()),
                "one-value upgrade" => drop(windlass::action::upgrade(&ctx, &chart, &blocksize, &opts, windlass::action::ValuesMode::Reset, false).await.unwrap()),
                "rollback" => drop(windlass::action::rollback(&ctx, "hdfs", None, &opts).await.unwrap()),
                _ => drop(windlass::action::uninstall(&ctx, "hdfs", &Default::default()).await.unwrap()),
            }
            let elapsed = t.elapsed();
            let reqs = server.requests_since(from);
            let dry = reqs.iter().filter(|r| r.dry_run).count();
            let object_writes = reqs.iter().filter(|r| r.is_write() && !r.path.contains("/secrets/windlass.release") && !r.path.contains("/leases")).count();
            println!(
                "  {label:<18} {:>5} requests ({object_writes} object writes, {dry} dry runs) in {:.2} s",
                reqs.len(),
                elapsed.as_secs_f64()
            );
        }
    });
}
