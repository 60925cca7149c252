//! Releases stay safe when things go wrong: prune and uninstall delete only
//! what is still the release's, a lost lock or a signal stops the writes,
//! and every verb reads history the same way.

mod support;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use support::apiserver::{Fault, FaultAction, Matcher, TestApiServer};
use support::release::*;
use windlass::action::{self, ActionError, AtomicOutcome, DryRun, ValuesMode};
use windlass::release::Status;

fn cm(name: &str, annotations: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "apps", "annotations": annotations},
        "data": {"by": "someone else"}})
}

async fn upgrade(
    c: &action::Context,
    chart: &windlass::chart::Chart,
    sets: &[&str],
) -> Result<action::Outcome, ActionError> {
    action::upgrade(
        c,
        chart,
        &values(&[], sets),
        &opts("r"),
        ValuesMode::Reset,
        false,
    )
    .await
}

fn line<'a>(o: &'a action::Outcome, object: &str) -> Option<&'a str> {
    o.lines
        .iter()
        .find(|l| l.object == object)
        .map(|l| l.action)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_leaves_objects_that_are_no_longer_the_releases() {
    let server = TestApiServer::start().await;
    let c = ctx(&server, "apps", 0).await;
    let dir = tempfile::tempdir().unwrap();
    let chart = small_chart(dir.path());
    action::install(&c, &chart, &values(&[], &[]), &opts("r"))
        .await
        .unwrap();
    // Someone deletes r-extra and creates their own under the same name.
    c.cluster
        .delete("v1", "ConfigMap", Some("apps"), "r-extra")
        .await
        .unwrap();
    c.cluster.create(&cm("r-extra", json!({}))).await.unwrap();
    let out = upgrade(&c, &chart, &["extra=false"]).await.unwrap();
    assert_eq!(line(&out, "ConfigMap apps/r-extra"), Some("skip"));
    assert!(out.summary().contains("1 left alone"), "{}", out.summary());
    assert_eq!(
        config_map(&server, "apps", "r-extra")["data"]["by"],
        "someone else"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keep_annotation_on_the_live_object_is_honoured() {
    let server = TestApiServer::start().await;
    let c = ctx(&server, "apps", 0).await;
    let dir = tempfile::tempdir().unwrap();
    let chart = small_chart(dir.path());
    action::install(&c, &chart, &values(&[], &[]), &opts("r"))
        .await
        .unwrap();
    // An operator marks the live object keep (the chart never did).
    let mut live = c
        .cluster
        .get("v1", "ConfigMap", Some("apps"), "r-extra")
        .await
        .unwrap()
        .unwrap();
    live["metadata"]["annotations"]["windlass.io/resource-policy"] = json!("keep");
    c.cluster.replace(&live).await.unwrap();
    let out = upgrade(&c, &chart, &["extra=false"]).await.unwrap();
    assert_eq!(line(&out, "ConfigMap apps/r-extra"), Some("keep"));
    assert!(config_map(&server, "apps", "r-extra").is_object());
    // And on uninstall.
    action::uninstall(&c, "r", &action::UninstallOptions::default())
        .await
        .unwrap();
    assert!(config_map(&server, "apps", "r-extra").is_object());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_carries_the_uid_read_so_a_recreated_object_survives() {
    let server = TestApiServer::start().await;
    let c = ctx(&server, "apps", 0).await;
    let dir = tempfile::tempdir().unwrap();
    let chart = small_chart(dir.path());
    action::install(&c, &chart, &values(&[], &[]), &opts("r"))
        .await
        .unwrap();
    let held = server.hold(Matcher::Write {
        method: Some("DELETE".into()),
        path_contains: "configmaps/r-extra".into(),
    });
    let (c2, ch2) = (Arc::new(ctx(&server, "apps", 0).await), chart.clone());
    let up = tokio::spawn(async move { upgrade(&c2, &ch2, &["extra=false"]).await });
    held.arrived().await;
    // Between the read and the delete, the object is replaced by a new one
    // (a different uid) that even carries the release's annotations.
    let mut again = config_map(&server, "apps", "r-extra");
    c.cluster
        .delete("v1", "ConfigMap", Some("apps"), "r-extra")
        .await
        .unwrap();
    for k in [
        "uid",
        "resourceVersion",
        "creationTimestamp",
        "managedFields",
    ] {
        again["metadata"].as_object_mut().unwrap().remove(k);
    }
    again["data"] = json!({"a": "new"});
    c.cluster.create(&again).await.unwrap();
    held.release();
    let out = up.await.unwrap().unwrap();
    assert_eq!(line(&out, "ConfigMap apps/r-extra"), Some("delete"));
    assert_eq!(config_map(&server, "apps", "r-extra")["data"]["a"], "new");
    let deletes: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.method == "DELETE" && r.path.contains("configmaps/r-extra"))
        .collect();
    // A real kube-apiserver answers a uid mismatch with 409 Conflict
    // (etcd3 store checkPreconditions: "Precondition failed: UID in
    // precondition: ..."); the test server gives the same answer.
    assert_eq!(deletes.len(), 2, "the held one and the test's own");
    assert!(
        deletes.iter().any(|d| d.status == 409),
        "the uid precondition refused the release's delete: {deletes:?}"
    );
}

fn namespace_chart(dir: &std::path::Path) -> windlass::chart::Chart {
    std::fs::create_dir_all(dir.join("templates")).unwrap();
    std::fs::write(
        dir.join("Chart.yaml"),
        "apiVersion: v2\nname: ns\nversion: 1.0.0\n",
    )
    .unwrap();
    std::fs::write(dir.join("values.yaml"), "space: true\n").unwrap();
    std::fs::write(
        dir.join("templates/ns.yaml"),
        "{{#if Values.space}}apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {{Release.Name}}-space\n{{/if}}",
    )
    .unwrap();
    windlass::chart::load(dir).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaces_and_crds_are_deleted_only_when_asked() {
    let server = TestApiServer::start().await;
    let c = ctx(&server, "apps", 0).await;
    let dir = tempfile::tempdir().unwrap();
    let chart = namespace_chart(dir.path());
    action::install(&c, &chart, &values(&[], &[]), &opts("r"))
        .await
        .unwrap();
    let out = upgrade(&c, &chart, &["space=false"]).await.unwrap();
    assert_eq!(line(&out, "Namespace r-space"), Some("keep"));
    assert!(server.object("", "namespaces", "", "r-space").is_some());
    // Uninstall keeps it too, unless asked.
    action::upgrade(
        &c,
        &chart,
        &values(&[], &[]),
        &opts("r"),
        ValuesMode::Reset,
        false,
    )
    .await
    .unwrap();
    let gone = action::uninstall(&c, "r", &action::UninstallOptions::default())
        .await
        .unwrap();
    assert_eq!(gone.kept, ["Namespace r-space"]);
    assert!(server.object("", "namespaces", "", "r-space").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namespace_is_deleted_with_the_explicit_flag() {
    let server = TestApiServer::start().await;
    let c = ctx(&server, "apps", 0).await;
    let dir = tempfile::tempdir().unwrap();
    let chart = namespace_chart(dir.path());
    action::install(&c, &chart, &values(&[], &[]), &opts("r"))
        .await
        .unwrap();
    let mut o = opts("r");
    o.delete_namespaces_and_crds = true;
    let out = action::upgrade(
        &c,
        &chart,
        &values(&[], &["space=false"]),
        &o,
        ValuesMode::Reset,
        false,
    )
    .await
    .unwrap();
    assert_eq!(line(&out, "Namespace r-space"), Some("delete"));
}

fn lease_key(server: &TestApiServer) -> Option<Value> {
    server.object("coordination.k8s.io", "leases", "apps", "windlass-lock-r")
}

fn deletes_since(server: &TestApiServer, from: usize) -> usize {
    server
        .requests_since(from)
        .iter()
        .filter(|r| r.method == "DELETE" && r.path.contains("configmaps"))
        .count()
}

/// Release `r` of the small chart installed, and an upgrade of it (data
/// two, extra removed) held by the server at its write of r-main: the
/// operation holds its lock and has written its pending record.
struct HeldUpgrade {
    c: Arc<action::Context>,
    held: support::apiserver::Hold,
    up: tokio::task::JoinHandle<Result<action::Outcome, ActionError>>,
    _dir: tempfile::TempDir,
}

async fn held_upgrade(server: &TestApiServer, lock: Option<Duration>, atomic: bool) -> HeldUpgrade {
    let mut c = ctx(server, "apps", 0).await;
    if let Some(d) = lock {
        c.lock_duration = d;
    }
    let c = Arc::new(c);
    let dir = tempfile::tempdir().unwrap();
    let chart = small_chart(dir.path());
    action::install(&c, &chart, &values(&[], &[]), &opts("r"))
        .await
        .unwrap();
    let held = server.hold(Matcher::Write {
        method: Some("PATCH".into()),
        path_contains: "configmaps/r-main?".into(),
    });
    let c1 = c.clone();
    let up = tokio::spawn(async move {
        let mut o = opts("r");
        o.atomic = atomic;
        action::upgrade(
            &c1,
            &chart,
            &values(&[], &["data=two", "extra=false"]),
            &o,
            ValuesMode::Reset,
            false,
        )
        .await
    });
    held.arrived().await;
    HeldUpgrade {
        c,
        held,
        up,
        _dir: dir,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stolen_lock_stops_the_operation_before_its_next_write() {
    let server = TestApiServer::start().await;
    let HeldUpgrade { c, held, up, .. } =
        held_upgrade(&server, Some(Duration::from_millis(900)), false).await;
    // Another holder takes the Lease over.
    let mut lease = lease_key(&server).unwrap();
    lease["spec"]["holderIdentity"] = json!("someone-else");
    for k in ["managedFields", "creationTimestamp"] {
        lease["metadata"].as_object_mut().unwrap().remove(k);
    }
    lease["apiVersion"] = json!("coordination.k8s.io/v1");
    lease["kind"] = json!("Lease");
    c.cluster.replace(&lease).await.unwrap();
    // Three renewal periods: the renewal has seen it.
    tokio::time::sleep(Duration::from_millis(900)).await;
    let from = server.requests().len();
    held.release();
    let e = up.await.unwrap().unwrap_err();
    assert!(matches!(e, ActionError::LockLost { .. }), "{e}");
    assert!(e.to_string().contains("taken over by someone-else"), "{e}");
    // Nothing more was written: no prune, no record, and the Lease is
    // the new holder's.
    assert_eq!(deletes_since(&server, from), 0);
    assert!(config_map(&server, "apps", "r-extra").is_object());
    let h = action::history(&c, "r").await.unwrap();
    assert_eq!(h.last().unwrap().status, Status::PendingUpgrade);
    assert_eq!(
        lease_key(&server).unwrap()["spec"]["holderIdentity"],
        "someone-else"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renewals_failing_for_longer_than_the_lease_lose_the_lock() {
    let server = TestApiServer::start().await;
    let HeldUpgrade { held, up, .. } =
        held_upgrade(&server, Some(Duration::from_millis(900)), false).await;
    // Every renewal now fails (held by the server for longer than a
    // renewal may take, then answered 503).
    server.inject(Fault {
        matcher: Matcher::Request {
            method: Some("PUT".into()),
            path_contains: "leases/windlass-lock-r".into(),
        },
        action: FaultAction::Status(503),
        times: 1000,
    });
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let from = server.requests().len();
    held.release();
    let e = up.await.unwrap().unwrap_err();
    assert!(e.to_string().contains("could not renew its Lease"), "{e}");
    assert_eq!(deletes_since(&server, from), 0);
    server.clear_faults();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupt_stops_records_the_failure_undoes_and_unlocks() {
    let server = TestApiServer::start().await;
    let HeldUpgrade { c, held, up, .. } = held_upgrade(&server, None, true).await;
    c.interrupt.raise();
    let from = server.requests().len();
    held.release();
    let e = up.await.unwrap().unwrap_err();
    match &e {
        ActionError::Failed {
            cause,
            atomic,
            revision,
            ..
        } => {
            assert!(matches!(**cause, ActionError::Interrupted), "{e}");
            assert_eq!(*revision, 2);
            assert_eq!(
                *atomic,
                Some(AtomicOutcome::RolledBack { to: 1, revision: 3 })
            );
        }
        _ => panic!("{e}"),
    }
    // The prune of r-extra never happened; the rollback put r-main back.
    assert_eq!(deletes_since(&server, from), 0);
    assert_eq!(
        config_map(&server, "apps", "r-main")["data"]["value"],
        "one"
    );
    let h = action::history(&c, "r").await.unwrap();
    let statuses: Vec<Status> = h.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        [Status::Superseded, Status::Failed, Status::Deployed]
    );
    assert!(lease_key(&server).is_none(), "the lock was released");
}

/// Fails the next non-dry-run apply of r-main, without retries.
fn fail_next_apply(server: &TestApiServer) {
    server.inject(Fault {
        matcher: Matcher::Write {
            method: Some("PATCH".into()),
            path_contains: "configmaps/r-main?".into(),
        },
        action: FaultAction::Status(403),
        times: 1,
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_failed_upgrade_rollback_its_diff_and_reuse_values_agree() {
    let server = TestApiServer::start().await;
    let c = ctx(&server, "apps", 0).await;
    let dir = tempfile::tempdir().unwrap();
    let chart = small_chart(dir.path());
    action::install(&c, &chart, &values(&[], &["extra=false"]), &opts("r"))
        .await
        .unwrap();
    upgrade(&c, &chart, &["data=two", "extra=false"])
        .await
        .unwrap();
    fail_next_apply(&server);
    let e = upgrade(&c, &chart, &["data=bad", "extra=false"])
        .await
        .unwrap_err();
    assert!(matches!(e, ActionError::Failed { revision: 3, .. }), "{e}");
    // `diff rollback` and `rollback` both go back to revision 2.
    let items = action::diff_rollback(&c, "r", None).await.unwrap();
    let main = items
        .iter()
        .find(|i| {
            i.after
                .as_ref()
                .is_some_and(|a| a["metadata"]["name"] == "r-main")
        })
        .unwrap();
    assert_eq!(main.after.as_ref().unwrap()["data"]["value"], "two");
    // --reuse-values starts from revision 2's values, not the failed ones.
    let mut o = opts("r");
    o.dry_run = DryRun::Server;
    let dry = action::upgrade(&c, &chart, &values(&[], &[]), &o, ValuesMode::Reuse, false)
        .await
        .unwrap();
    assert!(dry.manifest.contains("value: two"), "{}", dry.manifest);
    assert!(!dry.manifest.contains("r-extra"), "{}", dry.manifest);
    let back = action::rollback(&c, "r", None, &opts("r")).await.unwrap();
    assert_eq!(back.release.description, "Rollback to 2");
    assert_eq!(
        config_map(&server, "apps", "r-main")["data"]["value"],
        "two"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_rollback_after_an_atomic_failure_does_not_target_the_failed_revision() {
    let server = TestApiServer::start().await;
    let c = ctx(&server, "apps", 0).await;
    let dir = tempfile::tempdir().unwrap();
    let chart = small_chart(dir.path());
    action::install(&c, &chart, &values(&[], &[]), &opts("r"))
        .await
        .unwrap();
    upgrade(&c, &chart, &["data=two"]).await.unwrap();
    fail_next_apply(&server);
    let mut o = opts("r");
    o.atomic = true;
    let e = action::upgrade(
        &c,
        &chart,
        &values(&[], &["data=bad"]),
        &o,
        ValuesMode::Reset,
        false,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            e,
            ActionError::Failed {
                atomic: Some(AtomicOutcome::RolledBack { to: 2, revision: 4 }),
                ..
            }
        ),
        "{e}"
    );
    let items = action::diff_rollback(&c, "r", None).await.unwrap();
    assert!(items
        .iter()
        .all(|i| i.after.as_ref().is_none_or(|a| a["data"]["value"] != "bad")));
    let back = action::rollback(&c, "r", None, &opts("r")).await.unwrap();
    assert_eq!(back.release.description, "Rollback to 2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_upgrade_prunes_only_what_it_created_on_the_next_upgrade() {
    let server = TestApiServer::start().await;
    let c = ctx(&server, "apps", 0).await;
    let dir = tempfile::tempdir().unwrap();
    // A Secret (applied in an earlier batch than ConfigMaps, as Helm
    // orders kinds) that the failing upgrade creates before it fails.
    small_chart(dir.path());
    std::fs::write(
        dir.path().join("templates/secret.yaml"),
        "{{#if Values.extra}}apiVersion: v1\nkind: Secret\nmetadata:\n  name: r-token\nstringData:\n  a: b\n{{/if}}",
    )
    .unwrap();
    let chart = windlass::chart::load(dir.path()).unwrap();
    let secret = |server: &TestApiServer| server.object("", "secrets", "apps", "r-token");
    action::install(&c, &chart, &values(&[], &["extra=false"]), &opts("r"))
        .await
        .unwrap();
    fail_next_apply(&server);
    upgrade(&c, &chart, &["extra=true", "data=two"])
        .await
        .unwrap_err();
    let h = action::history(&c, "r").await.unwrap();
    let mut created: Vec<&str> = h[1].created.iter().map(|r| r.name.as_str()).collect();
    created.sort();
    assert_eq!(created, ["r-extra", "r-token"]);
    assert!(secret(&server).is_some());
    let out = upgrade(&c, &chart, &["extra=false"]).await.unwrap();
    assert_eq!(line(&out, "Secret apps/r-token"), Some("delete"));
    assert!(secret(&server).is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_dry_run_makes_the_ownership_checks_the_real_run_makes() {
    let server = TestApiServer::start().await;
    let c = ctx(&server, "apps", 0).await;
    let dir = tempfile::tempdir().unwrap();
    let chart = small_chart(dir.path());
    // r-main exists, created outside windlass: the real install refuses
    // to adopt it, and so must its server dry run.
    c.cluster
        .create(&json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "apps"}}))
        .await
        .unwrap();
    c.cluster.create(&cm("r-main", json!({}))).await.unwrap();
    let mut o = opts("r");
    o.dry_run = DryRun::Server;
    let e = action::install(&c, &chart, &values(&[], &[]), &o)
        .await
        .unwrap_err();
    assert!(matches!(e, ActionError::NotOwned { .. }), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirm_sees_the_plan_with_the_lock_held_and_no_means_nothing_written() {
    let server = Arc::new(TestApiServer::start().await);
    let mut c = ctx(&server, "apps", 0).await;
    let dir = tempfile::tempdir().unwrap();
    let chart = small_chart(dir.path());
    action::install(&c, &chart, &values(&[], &[]), &opts("r"))
        .await
        .unwrap();
    let seen = Arc::new(std::sync::Mutex::new(None));
    let (s, srv) = (seen.clone(), server.clone());
    c.confirm = Some(Box::new(move |items| {
        let updates = items
            .iter()
            .filter(|i| i.action == windlass::diff::Action::Update)
            .count();
        *s.lock().unwrap() = Some((updates, lease_key(&srv).is_some()));
        false
    }));
    let from = server.requests().len();
    let e = upgrade(&c, &chart, &["data=two"]).await.unwrap_err();
    assert!(matches!(e, ActionError::NotConfirmed), "{e}");
    assert_eq!(*seen.lock().unwrap(), Some((1, true)));
    // Only the lock itself was written (taken and released).
    let writes: Vec<_> = server
        .requests_since(from)
        .into_iter()
        .filter(|r| r.is_write() && !r.path.contains("/leases"))
        .collect();
    assert!(writes.is_empty(), "{writes:?}");
    assert_eq!(action::history(&c, "r").await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_during_a_cli_upgrade_leaves_a_failed_revision_and_no_lock() {
    let server = TestApiServer::start().await;
    let kc = server.kubeconfig.display().to_string();
    let dir = tempfile::tempdir().unwrap();
    small_chart(dir.path());
    let chart = dir.path().display().to_string();
    let cli = |args: &[&str]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_windlass"));
        cmd.args(args)
            .args(["--kubeconfig", &kc, "-n", "apps"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        cmd
    };
    let out = cli(&["install", "r", &chart, "--create-namespace"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let held = server.hold(Matcher::Write {
        method: Some("PATCH".into()),
        path_contains: "configmaps/r-main?".into(),
    });
    let mut child = cli(&["upgrade", "r", &chart, "--set", "data=two,extra=false"])
        .spawn()
        .unwrap();
    // stderr line by line, so the test knows when the signal was handled.
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let err = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        let mut all = String::new();
        for l in std::io::BufReader::new(err).lines().map_while(Result::ok) {
            let _ = tx.send(l.clone());
            all.push_str(&l);
            all.push('\n');
        }
        all
    });
    held.arrived().await;
    let kill = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let handled = tokio::task::spawn_blocking(move || {
        rx.iter()
            .any(|l| l.contains("interrupted; stopping before the next write"))
    })
    .await
    .unwrap();
    assert!(handled, "the first signal is handled, not fatal");
    held.release();
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    let stderr = reader.join().unwrap();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("interrupted; stopping before the next write"),
        "{stderr}"
    );
    assert!(
        stderr.contains("upgrade failed: interrupted (Ctrl-C or SIGTERM)")
            && stderr.contains("revision 2 is recorded as failed"),
        "{stderr}"
    );
    assert!(lease_key(&server).is_none(), "the lock was released");
    assert!(
        config_map(&server, "apps", "r-extra").is_object(),
        "not pruned"
    );
    // The next command starts at once: no lock to wait out.
    let from = server.requests().len();
    let out = cli(&["upgrade", "r", &chart]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let refused = server
        .requests_since(from)
        .iter()
        .filter(|r| r.path.contains("/leases") && r.method == "POST" && r.status == 409)
        .count();
    assert_eq!(refused, 0, "the lock was free: created at the first try");

    // A second signal exits at once, the held write still in flight.
    let held = server.hold(Matcher::Write {
        method: Some("PATCH".into()),
        path_contains: "configmaps/r-main?".into(),
    });
    let mut child = cli(&["upgrade", "r", &chart, "--set", "data=three"])
        .spawn()
        .unwrap();
    let err = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for l in std::io::BufReader::new(err).lines().map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    held.arrived().await;
    let pid = child.id().to_string();
    let int = |pid: &str| {
        std::process::Command::new("kill")
            .args(["-INT", pid])
            .status()
            .unwrap()
    };
    assert!(int(&pid).success());
    let rx = tokio::task::spawn_blocking(move || {
        let seen = rx.iter().any(|l| l.contains("interrupted; stopping"));
        (seen, rx)
    })
    .await
    .unwrap();
    assert!(rx.0);
    assert!(int(&pid).success());
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert_eq!(status.code(), Some(130));
    assert!(rx
        .1
        .iter()
        .any(|l| l.contains("interrupted again; exiting now")));
    held.release();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_can_tell_failures_apart_by_type() {
    let server = TestApiServer::start().await;
    let c = ctx(&server, "apps", 0).await;
    let dir = tempfile::tempdir().unwrap();
    let chart = small_chart(dir.path());
    let e = action::rollback(&c, "r", None, &opts("r"))
        .await
        .unwrap_err();
    assert!(matches!(e, ActionError::NotFound { .. }), "{e}");
    let e = upgrade(&c, &chart, &[]).await.unwrap_err();
    assert!(matches!(e, ActionError::NotInstalled { .. }), "{e}");
    action::install(&c, &chart, &values(&[], &[]), &opts("r"))
        .await
        .unwrap();
    let e = action::install(&c, &chart, &values(&[], &[]), &opts("r"))
        .await
        .unwrap_err();
    assert!(
        matches!(e, ActionError::AlreadyDeployed { revision: 1, .. }),
        "{e}"
    );
    let e = action::rollback(&c, "r", None, &opts("r"))
        .await
        .unwrap_err();
    assert!(matches!(e, ActionError::NoRollbackTarget { .. }), "{e}");
    // A wait that runs out: the cause is the cluster's timeout.
    let sts_chart = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(sts_chart.path().join("templates")).unwrap();
    std::fs::write(
        sts_chart.path().join("Chart.yaml"),
        "apiVersion: v2\nname: s\nversion: 1.0.0\n",
    )
    .unwrap();
    std::fs::write(
        sts_chart.path().join("templates/pvc.yaml"),
        "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: data\nspec:\n  accessModes: [ReadWriteOnce]\n  resources:\n    requests:\n      storage: 1Gi\n",
    )
    .unwrap();
    let s = windlass::chart::load(sts_chart.path()).unwrap();
    let mut o = opts("s");
    o.wait = true;
    o.timeout = Duration::from_millis(1);
    let e = action::install(&c, &s, &values(&[], &[]), &o)
        .await
        .unwrap_err();
    assert!(
        matches!(
            e.cause(),
            ActionError::Cluster(windlass::cluster::ClusterError::Timeout { .. })
        ),
        "{e}"
    );
}
