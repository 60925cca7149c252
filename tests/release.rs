//! Releases end to end through the real kube-rs client against the test API
//! server: lifecycle, pruning, no-op upgrades, adoption, chunked records,
//! locking, waiting, and failure at every request of an upgrade.

mod support;

use std::time::Duration;

use serde_json::json;
use support::apiserver::{Fault, FaultAction, Matcher, TestApiServer};
use support::release::*;
use windlass::action::{self, ActionError, ValuesMode};
use windlass::release::Status;

fn hdfs() -> windlass::chart::Chart {
    windlass::chart::load(&root().join("charts/hdfs")).unwrap()
}

const POC: &str = "charts/hdfs/examples/poc-single-node.yaml";

/// Objects the test server holds, other than release bookkeeping.
fn workload_keys(server: &TestApiServer) -> Vec<String> {
    let mut v: Vec<String> = server
        .keys()
        .into_iter()
        .filter(|(gp, _, name)| {
            !(gp == "/secrets" && name.starts_with("windlass.release"))
                && gp != "/namespaces"
                && gp != "coordination.k8s.io/leases"
        })
        .map(|(gp, ns, name)| format!("{gp} {ns}/{name}"))
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn install_upgrade_rollback_history_uninstall() {
    let server = TestApiServer::start().await;
    let c = ctx(&server, "hdfs", 2).await;
    let chart = hdfs();

    let out = action::install(&c, &chart, &values(&[POC], &[]), &opts("hdfs"))
        .await
        .unwrap();
    assert_eq!(out.release.revision, 1);
    assert_eq!(out.release.status, Status::Deployed);
    let installed = workload_keys(&server);
    assert_eq!(installed.len(), out.lines.len(), "{installed:?}");
    assert!(
        installed.contains(&"/persistentvolumes /data1-hdfs-datanode-2.hdfs".to_string()),
        "{installed:?}"
    );
    let sts = server
        .object("apps", "statefulsets", "hdfs", "hdfs-datanode")
        .unwrap();
    assert_eq!(
        sts["metadata"]["annotations"]["windlass.io/release-name"],
        "hdfs"
    );
    assert_eq!(
        sts["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "windlass"
    );

    let e = action::install(&c, &chart, &values(&[POC], &[]), &opts("hdfs"))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("release hdfs already exists in namespace hdfs (revision 1 is deployed); use `windlass upgrade`"), "{e}");

    let up = action::upgrade(
        &c,
        &chart,
        &values(&[POC], &["datanode.replicas=4"]),
        &opts("hdfs"),
        ValuesMode::Reset,
        false,
    )
    .await
    .unwrap();
    assert_eq!(up.release.revision, 2);
    assert_eq!(
        server
            .object("apps", "statefulsets", "hdfs", "hdfs-datanode")
            .unwrap()["spec"]["replicas"],
        4
    );
    assert!(server
        .object("", "persistentvolumes", "", "data0-hdfs-datanode-3.hdfs")
        .is_some());

    let back = action::rollback(&c, "hdfs", None, &opts("hdfs"))
        .await
        .unwrap();
    assert_eq!(back.release.revision, 3);
    assert_eq!(back.release.description, "Rollback to 1");
    assert_eq!(
        server
            .object("apps", "statefulsets", "hdfs", "hdfs-datanode")
            .unwrap()["spec"]["replicas"],
        3
    );
    // The fourth datanode's volumes are not in revision 1, but volumes are never deleted.
    let kept: Vec<_> = back
        .lines
        .iter()
        .filter(|l| l.action == "keep")
        .map(|l| l.object.clone())
        .collect();
    assert_eq!(
        kept,
        [
            "PersistentVolume data1-hdfs-datanode-3.hdfs",
            "PersistentVolume data0-hdfs-datanode-3.hdfs"
        ]
    );
    let mut expected = installed.clone();
    expected.extend([
        "/persistentvolumes /data0-hdfs-datanode-3.hdfs".to_string(),
        "/persistentvolumes /data1-hdfs-datanode-3.hdfs".to_string(),
        // The rollback shrinks the datanodes 4 -> 3, so the chart's
        // decommission hook ran first (pre-rollback); its objects stay
        // until its next run (uninstall removes them).
        "/serviceaccounts hdfs/hdfs-decommission".to_string(),
        "batch/jobs hdfs/hdfs-decommission".to_string(),
        "rbac.authorization.k8s.io/rolebindings hdfs/hdfs-decommission".to_string(),
        "rbac.authorization.k8s.io/roles hdfs/hdfs-decommission".to_string(),
    ]);
    expected.sort();
    let mut live = workload_keys(&server);
    // The Pod the Job started (its name has a generated suffix).
    live.retain(|k| !k.starts_with("/pods hdfs/hdfs-decommission-"));
    assert_eq!(live, expected);
    assert_eq!(
        back.release
            .hooks
            .iter()
            .map(|h| format!("{} {} {}", h.event, h.object, h.phase))
            .collect::<Vec<_>>(),
        [
            "pre-rollback ServiceAccount hdfs/hdfs-decommission Succeeded",
            "pre-rollback Role hdfs/hdfs-decommission Succeeded",
            "pre-rollback RoleBinding hdfs/hdfs-decommission Succeeded",
            "pre-rollback Job hdfs/hdfs-decommission Succeeded",
        ]
    );

    let h = action::history(&c, "hdfs").await.unwrap();
    let summary: Vec<_> = h
        .iter()
        .map(|r| (r.revision, r.status, r.description.clone()))
        .collect();
    assert_eq!(
        summary,
        [
            (1, Status::Superseded, "Install complete".to_string()),
            (2, Status::Superseded, "Upgrade complete".to_string()),
            (3, Status::Deployed, "Rollback to 1".to_string())
        ]
    );
    assert_eq!(h[2].config, h[0].config);

    // A claim a StatefulSet made holds data: uninstall leaves it and says so.
    let pvc = json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data0-hdfs-datanode-0", "namespace": "hdfs"}, "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "5Gi"}}}});
    c.cluster.apply(&pvc, Default::default()).await.unwrap();
    let gone = action::uninstall(&c, "hdfs", &uninstall_opts(false, true))
        .await
        .unwrap();
    assert_eq!(gone.claims, ["data0-hdfs-datanode-0"]);
    assert!(
        gone.kept.iter().all(|k| k.starts_with("PersistentVolume ")),
        "{:?}",
        gone.kept
    );
    // The decommission Job's Pod goes when the garbage collector gets to
    // it (background propagation), as on a real cluster: let it run.
    server.settle();
    let left = workload_keys(&server);
    assert!(
        left.iter()
            .all(|k| k.starts_with("/persistentvolumes ")
                || k.starts_with("/persistentvolumeclaims ")),
        "{left:?}"
    );
    assert_eq!(
        left.len(),
        8 + 2 + 1,
        "the chart's 8 PVs (the secondary namenode's too), 2 from revision 2 and the claim: {left:?}"
    );
    assert!(
        action::history(&c, "hdfs").await.is_err(),
        "history deleted without --keep-history"
    );
    assert!(
        c.cluster
            .get(
                "coordination.k8s.io/v1",
                "Lease",
                None,
                "windlass-lock-hdfs"
            )
            .await
            .unwrap()
            .is_none(),
        "lock released"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrades_prune_keep_and_skip_unchanged_objects() {
    let server = TestApiServer::start().await;
    let c = ctx(&server, "apps", 2).await;
    let dir = tempfile::tempdir().unwrap();
    let chart = small_chart(dir.path());
    action::install(&c, &chart, &values(&[], &[]), &opts("r"))
        .await
        .unwrap();
    assert!(config_map(&server, "apps", "r-extra").is_object());

    let from = server.requests().len();
    let same = action::upgrade(
        &c,
        &chart,
        &values(&[], &[]),
        &opts("r"),
        ValuesMode::Reset,
        false,
    )
    .await
    .unwrap();
    assert_eq!(
        object_writes(&server, from),
        0,
        "an unchanged upgrade writes no object"
    );
    assert!(
        same.lines.iter().all(|l| l.action == "unchanged"),
        "{:?}",
        same.lines
    );

    let out = action::upgrade(
        &c,
        &chart,
        &values(&[], &["extra=false,kept=false,data=two"]),
        &opts("r"),
        ValuesMode::Reset,
        false,
    )
    .await
    .unwrap();
    assert!(
        config_map(&server, "apps", "r-extra").is_null(),
        "dropped object pruned"
    );
    assert!(
        config_map(&server, "apps", "r-kept").is_object(),
        "keep-annotated object survives"
    );
    assert_eq!(
        config_map(&server, "apps", "r-main")["data"]["value"],
        "two"
    );
    let actions: Vec<_> = out
        .lines
        .iter()
        .map(|l| (l.object.as_str(), l.action))
        .collect();
    assert!(
        actions.contains(&("ConfigMap apps/r-extra", "delete")),
        "{actions:?}"
    );
    assert!(
        actions.contains(&("ConfigMap apps/r-kept", "keep")),
        "{actions:?}"
    );

    // --reuse-values keeps data=two while changing another value.
    action::upgrade(
        &c,
        &chart,
        &values(&[], &["extra=true"]),
        &opts("r"),
        ValuesMode::Reuse,
        false,
    )
    .await
    .unwrap();
    assert_eq!(
        config_map(&server, "apps", "r-main")["data"]["value"],
        "two"
    );
    assert!(config_map(&server, "apps", "r-extra").is_object());

    // --history-max prunes the oldest records, never the deployed one.
    let mut o = opts("r");
    o.history_max = 2;
    action::upgrade(
        &c,
        &chart,
        &values(&[], &["data=three"]),
        &o,
        ValuesMode::Reset,
        false,
    )
    .await
    .unwrap();
    let h = action::history(&c, "r").await.unwrap();
    assert_eq!(h.iter().map(|r| r.revision).collect::<Vec<_>>(), [4, 5]);
    assert_eq!(h[1].status, Status::Deployed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn existing_objects_are_not_silently_adopted() {
    let server = TestApiServer::start().await;
    let c = ctx(&server, "apps", 2).await;
    let dir = tempfile::tempdir().unwrap();
    let chart = small_chart(dir.path());
    c.cluster
        .apply(
            &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "apps"}}),
            Default::default(),
        )
        .await
        .unwrap();
    c.cluster.apply(&json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "r-main", "namespace": "apps"}, "data": {"value": "mine"}}), Default::default()).await.unwrap();
    let e = action::install(&c, &chart, &values(&[], &[]), &opts("r"))
        .await
        .unwrap_err();
    assert!(matches!(e, ActionError::NotOwned { .. }), "{e}");
    assert_eq!(e.to_string(), "ConfigMap apps/r-main already exists and is not owned by release r (created outside windlass); pass --take-ownership to adopt it");
    assert!(
        config_map(&server, "apps", "r-extra").is_null(),
        "nothing was written"
    );
    assert!(
        action::history(&c, "r").await.is_err(),
        "no revision recorded"
    );
    let mut o = opts("r");
    o.take_ownership = true;
    action::install(&c, &chart, &values(&[], &[]), &o)
        .await
        .unwrap();
    let cm = config_map(&server, "apps", "r-main");
    assert_eq!(cm["data"]["value"], "one");
    assert_eq!(
        cm["metadata"]["annotations"]["windlass.io/release-name"],
        "r"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_succeeds_when_ready_and_reports_why_on_timeout() {
    let server = TestApiServer::start().await;
    let c = ctx(&server, "hdfs", 2).await;
    server.auto_ready(Some(Duration::from_millis(100)));
    let mut o = opts("hdfs");
    o.wait = true;
    o.timeout = Duration::from_secs(10);
    action::install(&c, &hdfs(), &values(&[POC], &[]), &o)
        .await
        .unwrap();
    server.auto_ready(None);
    o.timeout = Duration::from_millis(300);
    let e = action::upgrade(
        &c,
        &hdfs(),
        &values(&[POC], &["datanode.replicas=2"]),
        &o,
        ValuesMode::Reset,
        false,
    )
    .await
    .unwrap_err();
    let text = e.to_string();
    assert!(text.starts_with("upgrade failed: timed out after 0s waiting for: StatefulSet hdfs/hdfs-datanode: the controller has not seen the latest change yet"), "{text}");
    let h = action::history(&c, "hdfs").await.unwrap();
    // The upgrade changed the cluster before it failed: no record claims
    // to be deployed, the failed one says what happened.
    assert_eq!(
        (h[0].status, h[1].status),
        (Status::Superseded, Status::Failed)
    );
    assert!(
        h[1].description.contains("1/3 replicas ready")
            || h[1].description.contains("observed generation"),
        "{}",
        h[1].description
    );
}

/// Fails request k of an upgrade, for every k, and checks that the release
/// is never recorded deployed with content the cluster does not have, that
/// re-running succeeds, and that --atomic returns to the previous revision.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_any_request_of_an_upgrade_never_records_a_wrong_deploy() {
    let dir = tempfile::tempdir().unwrap();
    let chart = small_chart(dir.path());
    // How many requests an upgrade makes.
    let server = TestApiServer::start().await;
    let c = ctx(&server, "apps", 0).await;
    action::install(&c, &chart, &values(&[], &[]), &opts("r"))
        .await
        .unwrap();
    let from = server.requests().len();
    action::upgrade(
        &c,
        &chart,
        &values(&[], &["data=two,extra=false"]),
        &opts("r"),
        ValuesMode::Reset,
        false,
    )
    .await
    .unwrap();
    let n = server.requests().len() - from;
    assert!(n > 10, "an upgrade makes {n} requests");
    for atomic in [false, true] {
        for k in 1..=n {
            let server = TestApiServer::start().await;
            let mut c = ctx(&server, "apps", 0).await;
            c.lock_duration = Duration::from_secs(1);
            action::install(&c, &chart, &values(&[], &[]), &opts("r"))
                .await
                .unwrap();
            let start = server.requests().len();
            server.inject(Fault {
                matcher: Matcher::Nth(start + k),
                action: FaultAction::Status(500),
                times: 1,
            });
            let mut o = opts("r");
            o.atomic = atomic;
            let result = action::upgrade(
                &c,
                &chart,
                &values(&[], &["data=two,extra=false"]),
                &o,
                ValuesMode::Reset,
                false,
            )
            .await;
            let h = action::store_history(&c, "r").await;
            let deployed: Vec<_> = h.iter().filter(|r| r.status == Status::Deployed).collect();
            let live = config_map(&server, "apps", "r-main")["data"]["value"].clone();
            if let Some(d) = deployed.iter().max_by_key(|r| r.revision) {
                let recorded = if d.manifest.contains("value: two\n") {
                    "two"
                } else {
                    "one"
                };
                if result.is_ok() || !atomic {
                    // Whatever the newest deployed record says is what runs,
                    // unless the failure came after the cluster moved on and
                    // the record says failed for that revision.
                    if d.revision == h.last().unwrap().revision {
                        assert_eq!(
                            live, recorded,
                            "k={k} atomic={atomic}: deployed record matches the cluster"
                        );
                    }
                }
            }
            if atomic && result.is_err() && !server.requests_since(start).is_empty() {
                // Rolled back (or never changed): the previous content runs.
                assert_eq!(
                    live, "one",
                    "k={k}: --atomic leaves the previous revision running"
                );
            }
            let two = values(&[], &["data=two,extra=false"]);
            let plain = opts("r");
            let rerun = || action::upgrade(&c, &chart, &two, &plain, ValuesMode::Reset, false);
            let mut again = rerun().await;
            if matches!(again, Err(ActionError::Lock(_))) {
                // The failed request was the lock's release: the Lease
                // expires on its own (1 s here), then the upgrade goes on.
                tokio::time::sleep(Duration::from_millis(1100)).await;
                again = rerun().await;
            }
            assert!(
                again.is_ok(),
                "k={k} atomic={atomic}: re-running succeeds: {:?}",
                again.err()
            );
            assert_eq!(
                config_map(&server, "apps", "r-main")["data"]["value"],
                "two",
                "k={k}"
            );
            assert!(config_map(&server, "apps", "r-extra").is_null(), "k={k}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn atomic_install_removes_what_it_created_but_never_volumes() {
    let server = TestApiServer::start().await;
    let c = ctx(&server, "hdfs", 0).await;
    // The datanode StatefulSet's write fails after the PVs, services and
    // config were written.
    server.inject(Fault {
        matcher: Matcher::Write {
            method: Some("PATCH".into()),
            path_contains: "statefulsets/hdfs-datanode?".into(),
        },
        action: FaultAction::Status(500),
        times: 1,
    });
    let mut o = opts("hdfs");
    o.atomic = true;
    let e = action::install(&c, &hdfs(), &values(&[POC], &[]), &o)
        .await
        .unwrap_err();
    let text = e.to_string();
    assert!(text.starts_with("install failed: apply StatefulSet hdfs/hdfs-datanode: the API server kept failing (500"), "{text}");
    assert!(text.contains("--atomic removed the"), "{text}");
    let left = workload_keys(&server);
    assert!(
        !left.is_empty() && left.iter().all(|k| k.starts_with("/persistentvolumes ")),
        "only volumes remain: {left:?}"
    );
    let h = action::history(&c, "hdfs").await.unwrap();
    assert_eq!(h.last().unwrap().status, Status::Failed);
    // A later install goes ahead (the failed one is history, not a deployed release).
    action::install(&c, &hdfs(), &values(&[POC], &[]), &opts("hdfs"))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_version_is_checked_against_the_live_server() {
    let server = TestApiServer::start().await;
    let c = ctx(&server, "apps", 2).await;
    let dir = tempfile::tempdir().unwrap();
    small_chart(dir.path());
    std::fs::write(
        dir.path().join("Chart.yaml"),
        "apiVersion: v2\nname: small\nversion: 1.0.0\nkubeVersion: '>= 1.40.0-0'\n",
    )
    .unwrap();
    let chart = windlass::chart::load(dir.path()).unwrap();
    let e = action::install(&c, &chart, &values(&[], &[]), &opts("r"))
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "chart small requires Kubernetes >= 1.40.0-0, but the target is v1.32.13"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uninstall_with_history_then_install_again() {
    let server = TestApiServer::start().await;
    let c = ctx(&server, "apps", 0).await;
    let dir = tempfile::tempdir().unwrap();
    let chart = small_chart(dir.path());
    action::install(&c, &chart, &values(&[], &[]), &opts("r"))
        .await
        .unwrap();
    // An upgrade that fails while superseding revision 1: revision 2 is
    // left pending and revision 1 still says deployed.
    server.inject(Fault {
        matcher: Matcher::Write {
            method: Some("PATCH".into()),
            path_contains: "secrets/windlass.release.v1.r.v1?".into(),
        },
        action: FaultAction::Status(500),
        times: 1,
    });
    assert!(action::upgrade(
        &c,
        &chart,
        &values(&[], &["data=x"]),
        &opts("r"),
        ValuesMode::Reset,
        false
    )
    .await
    .is_err());
    let gone = action::uninstall(&c, "r", &uninstall_opts(true, false))
        .await
        .unwrap();
    assert!(
        gone.deleted.contains(&"ConfigMap apps/r-main".to_string()),
        "{:?}",
        gone.deleted
    );
    let h = action::history(&c, "r").await.unwrap();
    assert!(
        h.iter().all(|r| r.status != Status::Deployed),
        "{:?}",
        h.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert_eq!(h.last().unwrap().status, Status::Uninstalled);
    let again = action::install(&c, &chart, &values(&[], &[]), &opts("r"))
        .await
        .unwrap();
    assert_eq!(again.release.revision, h.last().unwrap().revision + 1);
    assert_eq!(
        config_map(&server, "apps", "r-main")["data"]["value"],
        "one"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hook_objects_such_as_the_chart_test_pod_are_recorded_not_applied() {
    let server = TestApiServer::start().await;
    let c = ctx(&server, "hdfs", 2).await;
    let out = action::install(
        &c,
        &hdfs(),
        &values(&[POC], &["tests.enabled=true"]),
        &opts("hdfs"),
    )
    .await
    .unwrap();
    assert!(
        out.manifest.contains("name: hdfs-test"),
        "the test Pod is part of the recorded manifest"
    );
    assert!(
        server.object("", "pods", "hdfs", "hdfs-test").is_none(),
        "but not applied"
    );
    assert!(out.lines.iter().all(|l| !l.object.contains("hdfs-test")));
    action::upgrade(
        &c,
        &hdfs(),
        &values(&[POC], &[]),
        &opts("hdfs"),
        ValuesMode::Reset,
        false,
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_see_the_live_servers_api_versions_and_version() {
    let server = TestApiServer::start().await;
    let c = ctx(&server, "apps", 0).await;
    let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "monitors.example.windlass.io"},
        "spec": {"group": "example.windlass.io", "scope": "Namespaced",
                 "names": {"plural": "monitors", "singular": "monitor", "kind": "Monitor"},
                 "versions": [{"name": "v1", "served": true, "storage": true,
                     "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}});
    c.cluster.apply(&crd, Default::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("templates")).unwrap();
    std::fs::write(
        dir.path().join("Chart.yaml"),
        "apiVersion: v2\nname: caps\nversion: 1.0.0\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("templates/cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: caps\ndata:\n  monitor: {{quote (has \"example.windlass.io/v1/Monitor\" Capabilities.APIVersions)}}\n  missing: {{quote (has \"nothing.example/v9\" Capabilities.APIVersions)}}\n  sts: {{quote (has \"apps/v1/StatefulSet\" Capabilities.APIVersions)}}\n  version: {{quote Capabilities.KubeVersion.Version}}\n",
    )
    .unwrap();
    let chart = windlass::chart::load(dir.path()).unwrap();
    let from = server.requests().len();
    action::install(&c, &chart, &values(&[], &[]), &opts("caps"))
        .await
        .unwrap();
    let data = config_map(&server, "apps", "caps")["data"].clone();
    assert_eq!(
        data,
        json!({"monitor": "true", "missing": "false", "sts": "true", "version": "v1.32.13"})
    );
    // Aggregated discovery: two requests for every group and kind (read
    // again because this connection applied a CRD since it was read).
    let discovery: Vec<String> = server
        .requests_since(from)
        .iter()
        .filter(|r| r.verb == "discovery" && r.path != "/version")
        .map(|r| r.path.clone())
        .collect();
    assert_eq!(discovery, ["/api", "/apis"]);
    // A server whose version cannot be read is an error, not a default.
    server.inject(Fault {
        matcher: Matcher::Request {
            method: Some("GET".into()),
            path_contains: "/version".into(),
        },
        action: FaultAction::Status(403),
        times: 1,
    });
    let e = action::upgrade(
        &c,
        &chart,
        &values(&[], &[]),
        &opts("caps"),
        ValuesMode::Reset,
        false,
    )
    .await
    .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("read the server version: forbidden"),
        "{e}"
    );
}
