//! Requests per step for an 813-object release (the HDFS chart at 200
//! datanodes x 4 volumes in poc mode), against the test API server. Request
//! counts are deterministic, so they are asserted; times are not (they are
//! in docs/benchmarks.md, from `cargo bench --bench apply`).

mod support;

use std::time::Duration;

use support::apiserver::{Logged, TestApiServer};
use support::release::*;
use windlass::action::{self, UninstallOptions, ValuesMode};

const POC: &str = "charts/hdfs/examples/poc-single-node.yaml";
const BIG: [&str; 2] = ["datanode.replicas=200", "datanode.volumesPerPod=4"];

fn summary(reqs: &[Logged]) -> String {
    let mut by: std::collections::BTreeMap<String, usize> = Default::default();
    for r in reqs {
        let kind = r
            .path
            .split('/')
            .nth_back(
                if r.verb == "get" || r.verb == "apply" || r.verb == "delete" || r.verb == "update"
                {
                    1
                } else {
                    0
                },
            )
            .unwrap_or("");
        *by.entry(format!(
            "{} {}{}",
            r.verb,
            kind,
            if r.dry_run { " (dry run)" } else { "" }
        ))
        .or_default() += 1;
    }
    format!("{by:#?}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_813_object_release_costs_one_request_per_changed_object() {
    let server = TestApiServer::start().await;
    let mut c = ctx(&server, "hdfs", 2).await;
    // No renewal during the test: counts stay deterministic.
    c.lock_duration = Duration::from_secs(600);
    let chart = windlass::chart::load(&root().join("charts/hdfs")).unwrap();
    let big = values(&[POC], &BIG);
    let step = |from: usize| server.requests_since(from);

    let from = server.requests().len();
    let out = action::install(&c, &chart, &big, &opts("hdfs"))
        .await
        .unwrap();
    let objects = out.lines.len();
    assert_eq!(objects, 813);
    let install = step(from);
    assert!(
        install.len() as f64 <= 1.05 * objects as f64,
        "install: {} requests for {objects} objects\n{}",
        install.len(),
        summary(&install)
    );
    assert_eq!(install.iter().filter(|r| r.dry_run).count(), 0);

    let from = server.requests().len();
    let noop = action::upgrade(&c, &chart, &big, &opts("hdfs"), ValuesMode::Reset, false)
        .await
        .unwrap();
    let noop_reqs = step(from);
    assert!(noop.lines.iter().all(|l| l.action == "unchanged"));
    assert!(
        noop_reqs.len() <= 30,
        "no-op upgrade: {} requests\n{}",
        noop_reqs.len(),
        summary(&noop_reqs)
    );
    let object_applies = noop_reqs
        .iter()
        .filter(|r| r.verb == "apply" && !r.path.contains("/secrets/windlass.release"))
        .count();
    assert_eq!(object_applies, 0, "{}", summary(&noop_reqs));

    let from = server.requests().len();
    let mut sets = BIG.to_vec();
    sets.push("hdfs.hdfsSite.dfs\\.blocksize=268435456");
    let one = action::upgrade(
        &c,
        &chart,
        &values(&[POC], &sets),
        &opts("hdfs"),
        ValuesMode::Reset,
        false,
    )
    .await
    .unwrap();
    let one_reqs = step(from);
    let changed = one.lines.iter().filter(|l| l.action == "update").count();
    assert_eq!(
        changed, 4,
        "the ConfigMap and the three StatefulSets that read it"
    );
    assert!(
        one_reqs.len() <= 30 + 2 * changed,
        "one-value upgrade: {} requests\n{}",
        one_reqs.len(),
        summary(&one_reqs)
    );
    assert_eq!(one_reqs.iter().filter(|r| r.dry_run).count(), changed);

    let from = server.requests().len();
    action::rollback(&c, "hdfs", None, &opts("hdfs"))
        .await
        .unwrap();
    let back = step(from);
    assert!(
        back.len() <= 30 + 2 * changed,
        "rollback: {}\n{}",
        back.len(),
        summary(&back)
    );

    let from = server.requests().len();
    action::uninstall(&c, "hdfs", &UninstallOptions::default())
        .await
        .unwrap();
    let gone = step(from);
    // The exact counts (docs/benchmarks.md explains each). A change to
    // any of them is a change in what windlass sends: look at the summary.
    for (label, reqs, expected) in [
        // Three GETs each for the chart's lookups: the running datanode
        // StatefulSet (whether the decommission hook runs), the namenode
        // StatefulSet (HA cannot be switched by an upgrade) and the
        // namenode's poc PV under its old name (old releases keep theirs).
        ("install", &install, 833),
        ("no-op upgrade", &noop_reqs, 18),
        ("one-value upgrade", &one_reqs, 26),
        // 22 (a dry run and an apply more for the secondary namenode's
        // StatefulSet) + 12: every rollback runs the decommission hook
        // (pre-rollback): four objects read and created, the Job polled once.
        ("rollback", &back, 34),
        // 37 (the secondary namenode's Service and StatefulSet read and
        // deleted) + 9: the chart's hook objects read (the test Pod, the
        // four of the decommission hook) and those the rollback left deleted.
        ("uninstall", &gone, 46),
    ] {
        assert_eq!(reqs.len(), expected, "{label}\n{}", summary(reqs));
    }
    let deletes = gone.iter().filter(|r| r.verb == "delete").count();
    assert!(
        gone.len() <= 40 + 2 * (objects - 801),
        "uninstall: {} requests ({deletes} deletes)\n{}",
        gone.len(),
        summary(&gone)
    );
}
