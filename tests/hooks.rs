//! Hooks with Helm's annotations: every event, weight order, delete
//! policies, failures (with the hook's log), `--no-hooks`, and `windlass
//! test`, asserted from the test API server's request log. The test server
//! plays the Job controller: a Job starts one Pod labelled `job-name`, and
//! both end as `TestApiServer::outcome` says.

mod support;

use std::time::Duration;

use support::apiserver::TestApiServer;
use support::release::*;
use windlass::action::{self, ActionError, DryRun, TestOptions, UninstallOptions, ValuesMode};
use windlass::release::Status;

const NS: &str = "hk";

fn job(name: &str, annotations: &str) -> String {
    format!(
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: {name}\n  annotations:\n{annotations}spec:\n  backoffLimit: 0\n  template:\n    spec:\n      restartPolicy: Never\n      containers:\n        - name: main\n          image: busybox:1.36\n          command: [\"true\"]\n"
    )
}

fn pod(name: &str, annotations: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  annotations:\n{annotations}spec:\n  restartPolicy: Never\n  containers:\n    - name: main\n      image: busybox:1.36\n      command: [\"true\"]\n"
    )
}

fn hook(events: &str, weight: i32, policy: Option<&str>) -> String {
    let mut a = format!("    helm.sh/hook: {events}\n    helm.sh/hook-weight: \"{weight}\"\n");
    if let Some(p) = policy {
        a.push_str(&format!("    helm.sh/hook-delete-policy: {p}\n"));
    }
    a
}

/// A ConfigMap and a hook of every kind.
fn chart(dir: &std::path::Path) -> windlass::chart::Chart {
    std::fs::create_dir_all(dir.join("templates")).unwrap();
    std::fs::write(
        dir.join("Chart.yaml"),
        "apiVersion: v2\nname: hooked\nversion: 1.0.0\n",
    )
    .unwrap();
    std::fs::write(dir.join("values.yaml"), "data: one\n").unwrap();
    std::fs::write(
        dir.join("templates/cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: main\ndata:\n  value: {{quote Values.data}}\n",
    )
    .unwrap();
    let docs = [
        job("pre-a", &hook("pre-install,pre-upgrade", 5, None)),
        pod(
            "pre-b",
            &hook("pre-install,pre-upgrade", -1, Some("hook-succeeded")),
        ),
        job(
            "post",
            &hook(
                "post-install,post-upgrade",
                0,
                Some("before-hook-creation,hook-succeeded"),
            ),
        ),
        job("rb", &hook("pre-rollback,post-rollback", 0, None)),
        job("del-pre", &hook("pre-delete", 0, None)),
        job("del-post", &hook("post-delete", 0, Some("hook-succeeded"))),
        pod("test-ok", &hook("test", 1, None)),
        job("test-job", &hook("test", 0, None)),
    ];
    std::fs::write(dir.join("templates/hooks.yaml"), docs.join("---\n")).unwrap();
    windlass::chart::load(dir).unwrap()
}

/// Hook and chart-object writes since `from`, as `create jobs/pre-a`,
/// `delete pods/pre-b`, `apply configmaps/main` (records, Leases and the
/// Namespace left out).
fn writes(server: &TestApiServer, from: usize) -> Vec<String> {
    server
        .requests_since(from)
        .iter()
        .filter(|r| r.is_write() && r.status < 300)
        .filter(|r| !r.path.contains("/secrets/") && !r.path.contains("/leases"))
        .filter(|r| !r.path.ends_with("/namespaces") && !r.path.ends_with("/namespaces/hk"))
        .map(|r| {
            let segs: Vec<&str> = r.path.trim_matches('/').split('/').collect();
            let (plural, name) = if r.verb == "create" {
                (segs[segs.len() - 1], r.created.as_str())
            } else {
                (segs[segs.len() - 2], segs[segs.len() - 1])
            };
            format!("{} {plural}/{name}", r.verb)
        })
        .collect()
}

fn value(server: &TestApiServer) -> String {
    config_map(server, NS, "main")["data"]["value"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

async fn setup() -> (TestApiServer, windlass::action::Context, tempfile::TempDir) {
    let server = TestApiServer::start().await;
    server.auto_ready(Some(Duration::ZERO));
    let dir = tempfile::tempdir().unwrap();
    let c = ctx(&server, NS, 0).await;
    (server, c, dir)
}

#[tokio::test]
async fn hooks_run_in_weight_order_with_their_delete_policies_through_a_whole_life() {
    let (server, c, dir) = setup().await;
    let chart = chart(dir.path());

    // Install: pre-install hooks by weight (pre-b -1 before pre-a 5), the
    // hook-succeeded one deleted once both succeeded, then the chart's
    // objects, then post-install.
    let from = server.requests().len();
    let out = action::install(&c, &chart, &values(&[], &[]), &opts("r"))
        .await
        .unwrap();
    assert_eq!(
        writes(&server, from),
        [
            "create pods/pre-b",
            "create jobs/pre-a",
            "delete pods/pre-b",
            "apply configmaps/main",
            "create jobs/post",
            "delete jobs/post",
        ]
    );
    let ran: Vec<(String, String, String)> = out
        .release
        .hooks
        .iter()
        .map(|h| (h.event.clone(), h.object.clone(), h.phase.clone()))
        .collect();
    assert_eq!(
        ran,
        [
            (
                "pre-install".into(),
                "Pod hk/pre-b".into(),
                "Succeeded".into()
            ),
            (
                "pre-install".into(),
                "Job hk/pre-a".into(),
                "Succeeded".into()
            ),
            (
                "post-install".into(),
                "Job hk/post".into(),
                "Succeeded".into()
            ),
        ]
    );
    assert_eq!(
        out.hooks,
        [
            "pre-install: Pod hk/pre-b succeeded",
            "pre-install: Job hk/pre-a succeeded",
            "post-install: Job hk/post succeeded"
        ]
    );
    // The stored record lists them too.
    let stored = action::get(&c, "r", Some(1)).await.unwrap();
    assert_eq!(stored.hooks.len(), 3);
    // A deleted Job takes its Pod with it (Background propagation: batch/v1
    // Jobs would orphan their Pods by default).
    server.settle();
    assert!(
        !server
            .keys()
            .iter()
            .any(|(gp, _, n)| gp == "/pods" && n.starts_with("post-")),
        "the post Job's Pod was orphaned: {:?}",
        server.keys()
    );
    assert!(
        server.object("batch", "jobs", NS, "pre-a").is_some(),
        "kept until its next run"
    );

    // Upgrade: pre-a (before-hook-creation, the default) is deleted and
    // created again; the chart object changes after the pre hooks.
    let from = server.requests().len();
    let mut o = opts("r");
    o.wait = true;
    action::upgrade(
        &c,
        &chart,
        &values(&[], &["data=two"]),
        &o,
        ValuesMode::Reset,
        false,
    )
    .await
    .unwrap();
    assert_eq!(
        writes(&server, from),
        [
            "create pods/pre-b",
            "delete jobs/pre-a",
            "create jobs/pre-a",
            "delete pods/pre-b",
            "apply configmaps/main",
            "create jobs/post",
            "delete jobs/post",
        ]
    );
    assert_eq!(value(&server), "two");

    // Rollback runs the rollback hooks of the revision it returns to.
    let from = server.requests().len();
    let back = action::rollback(&c, "r", None, &opts("r")).await.unwrap();
    assert_eq!(
        writes(&server, from),
        [
            "create jobs/rb",
            "apply configmaps/main",
            "delete jobs/rb",
            "create jobs/rb",
        ]
    );
    assert_eq!(value(&server), "one");
    assert_eq!(back.release.hooks.len(), 2);

    // Uninstall: pre-delete before anything is deleted, post-delete after;
    // hook objects left by earlier runs go with the release.
    let from = server.requests().len();
    let gone = action::uninstall(&c, "r", &UninstallOptions::default())
        .await
        .unwrap();
    let w = writes(&server, from);
    assert_eq!(w[0], "create jobs/del-pre", "{w:?}");
    assert_eq!(w[1], "delete configmaps/main", "{w:?}");
    assert_eq!(w[2], "create jobs/del-post", "{w:?}");
    assert_eq!(w[3], "delete jobs/del-post", "{w:?}");
    let mut rest: Vec<&String> = w[4..].iter().collect();
    rest.sort();
    assert_eq!(
        rest,
        ["delete jobs/del-pre", "delete jobs/pre-a", "delete jobs/rb"],
        "{w:?}"
    );
    assert_eq!(
        gone.hooks,
        [
            "pre-delete: Job hk/del-pre succeeded",
            "post-delete: Job hk/del-post succeeded"
        ]
    );
    server.settle();
    let left: Vec<_> = server
        .keys()
        .into_iter()
        .filter(|(gp, ns, _)| ns == NS && (gp == "/pods" || gp == "batch/jobs"))
        .collect();
    assert!(left.is_empty(), "hook objects left behind: {left:?}");
}

#[tokio::test]
async fn a_failed_pre_upgrade_hook_writes_no_chart_object_and_names_its_log() {
    let (server, c, dir) = setup().await;
    let chart = chart(dir.path());
    action::install(&c, &chart, &values(&[], &[]), &opts("r"))
        .await
        .unwrap();
    server.outcome(
        "pre-a",
        false,
        "starting\nchecking live datanodes\nrefusing: only 2 live datanodes for replication 3\n",
    );
    let from = server.requests().len();
    let mut o = opts("r");
    o.atomic = true;
    let err = action::upgrade(
        &c,
        &chart,
        &values(&[], &["data=two"]),
        &o,
        ValuesMode::Reset,
        false,
    )
    .await
    .unwrap_err();
    let msg = err.to_string();
    match err.cause() {
        ActionError::Hook {
            event,
            object,
            reason,
            logs,
        } => {
            assert_eq!(event, "pre-upgrade");
            assert_eq!(object, "Job hk/pre-a");
            assert!(reason.contains("BackoffLimitExceeded"), "{reason}");
            // Prefixed with the name of the Pod the Job started.
            assert!(logs.last().unwrap().starts_with("pre-a-"), "{logs:?}");
            assert!(
                logs.last()
                    .unwrap()
                    .ends_with("refusing: only 2 live datanodes for replication 3"),
                "{logs:?}"
            );
        }
        other => panic!("not a hook failure: {other}"),
    }
    assert!(
        msg.contains("pre-upgrade hook Job hk/pre-a failed"),
        "{msg}"
    );
    assert!(msg.contains("last lines of its log"), "{msg}");
    assert!(
        msg.contains("--atomic did nothing: the pre-upgrade hooks failed before any chart object was written"),
        "{msg}"
    );
    // Nothing of the chart was written, the failed hook is kept for
    // inspection (no hook-failed policy), and revision 1 is still deployed.
    let w = writes(&server, from);
    assert!(!w.iter().any(|x| x.contains("configmaps")), "{w:?}");
    assert_eq!(value(&server), "one");
    let h = action::history(&c, "r").await.unwrap();
    assert_eq!(h[0].status, Status::Deployed);
    assert_eq!(h[1].status, Status::Failed);
    assert_eq!(h[1].hooks.last().unwrap().phase, "Failed");
    assert!(server.object("batch", "jobs", NS, "pre-a").is_some());

    // --no-hooks: no hook is created at all, and the upgrade goes through.
    let from = server.requests().len();
    let mut o = opts("r");
    o.no_hooks = true;
    let out = action::upgrade(
        &c,
        &chart,
        &values(&[], &["data=two"]),
        &o,
        ValuesMode::Reset,
        false,
    )
    .await
    .unwrap();
    assert_eq!(writes(&server, from), ["apply configmaps/main"]);
    assert!(out.release.hooks.is_empty());
}

#[tokio::test]
async fn dry_runs_and_diffs_list_the_hooks_that_would_run() {
    let (server, c, dir) = setup().await;
    let chart = chart(dir.path());
    let mut o = opts("r");
    o.dry_run = DryRun::Client;
    let out = action::install(&c, &chart, &values(&[], &[]), &o)
        .await
        .unwrap();
    assert_eq!(
        out.hooks,
        [
            "pre-install: Pod hk/pre-b (weight -1)",
            "pre-install: Job hk/pre-a (weight 5)",
            "post-install: Job hk/post (weight 0)"
        ]
    );
    action::install(&c, &chart, &values(&[], &[]), &opts("r"))
        .await
        .unwrap();
    let from = server.requests().len();
    let plan = action::diff_upgrade_plan(&c, &chart, &values(&[], &[]), "r", ValuesMode::Reset)
        .await
        .unwrap();
    assert_eq!(plan.hooks[0], "pre-upgrade: Pod hk/pre-b (weight -1)");
    assert_eq!(plan.hooks.len(), 3);
    assert!(writes(&server, from).is_empty(), "a diff runs no hook");
    action::upgrade(
        &c,
        &chart,
        &values(&[], &["data=two"]),
        &opts("r"),
        ValuesMode::Reset,
        false,
    )
    .await
    .unwrap();
    let plan = action::diff_rollback_plan(&c, "r", None).await.unwrap();
    assert_eq!(
        plan.hooks,
        [
            "pre-rollback: Job hk/rb (weight 0)",
            "post-rollback: Job hk/rb (weight 0)"
        ]
    );
}

#[tokio::test]
async fn windlass_test_passes_and_fails_as_its_pods_do() {
    let (server, c, dir) = setup().await;
    let chart = chart(dir.path());
    action::install(&c, &chart, &values(&[], &[]), &opts("r"))
        .await
        .unwrap();
    server.outcome("test-ok", true, "wrote /tmp/probe\nread it back\n");
    let report = action::test(
        &c,
        "r",
        &TestOptions {
            logs: Some(100),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(report.failure.is_none());
    let names: Vec<&str> = report.runs.iter().map(|r| r.object.as_str()).collect();
    assert_eq!(names, ["Job hk/test-job", "Pod hk/test-ok"], "weight order");
    assert_eq!(
        report.logs[1],
        (
            "Pod hk/test-ok".to_string(),
            vec![
                "test-ok: wrote /tmp/probe".to_string(),
                "test-ok: read it back".to_string()
            ]
        )
    );
    // The deployed record keeps the last test run.
    let r = action::get(&c, "r", None).await.unwrap();
    assert_eq!(
        r.hooks.iter().filter(|h| h.event == "test").count(),
        2,
        "{:?}",
        r.hooks
    );

    server.outcome("test-ok", false, "fsck: CORRUPT\n");
    let report = action::test(&c, "r", &TestOptions::default())
        .await
        .unwrap();
    let failure = report.failure.expect("the failing Pod fails the test");
    let msg = failure.to_string();
    assert!(
        msg.contains("test hook Pod hk/test-ok failed: container main exited with code 1"),
        "{msg}"
    );
    assert!(msg.contains("test-ok: fsck: CORRUPT"), "{msg}");
    let r = action::get(&c, "r", None).await.unwrap();
    let tests: Vec<&str> = r
        .hooks
        .iter()
        .filter(|h| h.event == "test")
        .map(|h| h.phase.as_str())
        .collect();
    assert_eq!(
        tests,
        ["Succeeded", "Failed"],
        "the last run replaced the one before"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn windlass_test_exits_one_naming_the_failed_test() {
    let (server, c, dir) = setup().await;
    let chart_dir = dir.path().join("hooked");
    chart(&chart_dir);
    action::install(
        &c,
        &windlass::chart::load(&chart_dir).unwrap(),
        &values(&[], &[]),
        &opts("r"),
    )
    .await
    .unwrap();
    let kc = server.kubeconfig_path().to_str().unwrap().to_string();
    let run = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_windlass"))
            .args(["test", "r", "--logs", "--kubeconfig", &kc, "-n", NS])
            .output()
            .unwrap()
    };
    server.outcome("test-job", true, "all good\n");
    let out = run();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("TEST SUITE:     Job hk/test-job"),
        "{stdout}"
    );
    assert!(stdout.contains("Phase:          Succeeded"), "{stdout}");
    assert!(stdout.contains("test-job-"), "the Job's Pod log: {stdout}");
    assert!(stdout.contains("all good"), "{stdout}");

    server.outcome("test-job", false, "no datanodes\n");
    let out = run();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("test hook Job hk/test-job failed: BackoffLimitExceeded"),
        "{stderr}"
    );
    assert!(stderr.contains("no datanodes"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[tokio::test]
async fn bad_hook_annotations_fail_rendering_naming_the_template() {
    let dir = tempfile::tempdir().unwrap();
    chart(dir.path());
    std::fs::write(
        dir.path().join("templates/bad.yaml"),
        pod("bad", &hook("pre-instal", 0, None)),
    )
    .unwrap();
    let chart = windlass::chart::load(dir.path()).unwrap();
    let resolved = windlass::values::resolve(&chart, &values(&[], &[])).unwrap();
    let err = windlass::render::render(
        &chart,
        &resolved,
        &windlass::render::RenderOptions::offline("r", NS),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("hooked/templates/bad.yaml"), "{err}");
    assert!(err.contains("unknown hook `pre-instal`"), "{err}");
}

#[tokio::test]
async fn a_hook_that_never_finishes_fails_at_the_timeout_and_a_failed_post_delete_is_recorded() {
    let server = TestApiServer::start().await;
    // Pods never finish on their own here (no auto-ready): the pre-install
    // Pod hook waits until --timeout.
    let c = ctx(&server, NS, 0).await;
    let dir = tempfile::tempdir().unwrap();
    let chart = chart(dir.path());
    let mut o = opts("r");
    o.timeout = Duration::from_millis(300);
    let err = action::install(&c, &chart, &values(&[], &[]), &o)
        .await
        .unwrap_err();
    match err.cause() {
        ActionError::Hook { object, reason, .. } => {
            assert_eq!(object, "Pod hk/pre-b");
            assert!(
                reason.contains("did not finish within 0s (pod is Pending)"),
                "{reason}"
            );
            assert!(reason.contains("raise --timeout"), "{reason}");
        }
        other => panic!("not a hook failure: {other}"),
    }
    assert!(
        config_map(&server, NS, "main").is_null(),
        "no chart object written"
    );

    // Installed without hooks; then the post-delete Job fails: the objects
    // are gone, and the record says what failed instead of vanishing.
    let mut o = opts("r");
    o.no_hooks = true;
    action::install(&c, &chart, &values(&[], &[]), &o)
        .await
        .unwrap();
    server.outcome("del-post", false, "cleanup failed\n");
    let err = action::uninstall(&c, "r", &UninstallOptions::default())
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("post-delete hook Job hk/del-post failed"),
        "{err}"
    );
    assert!(
        config_map(&server, NS, "main").is_null(),
        "deleted before post-delete"
    );
    let h = action::history(&c, "r").await.unwrap();
    assert_eq!(h.last().unwrap().status, Status::Failed);
    assert!(
        h.last()
            .unwrap()
            .description
            .contains("run uninstall again (--no-hooks skips the hooks)"),
        "{}",
        h.last().unwrap().description
    );
    // Run again without hooks: gone.
    let u = UninstallOptions {
        no_hooks: true,
        ..Default::default()
    };
    action::uninstall(&c, "r", &u).await.unwrap();
    assert!(action::history(&c, "r").await.is_err());
}

#[tokio::test]
async fn a_hook_never_replaces_an_object_that_is_not_the_releases() {
    let (server, c, dir) = setup().await;
    let chart = chart(dir.path());
    c.cluster
        .create(
            &serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}),
        )
        .await
        .unwrap();
    // Someone else's Pod with the hook's name.
    c.cluster
        .create(&serde_json::json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "pre-b", "namespace": NS},
            "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]}}))
        .await
        .unwrap();
    let uid = server.object("", "pods", NS, "pre-b").unwrap()["metadata"]["uid"].clone();
    let err = action::install(&c, &chart, &values(&[], &[]), &opts("r"))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("pre-install hook Pod hk/pre-b failed: an object of that name exists and is not release r's"),
        "{err}"
    );
    assert_eq!(
        server.object("", "pods", NS, "pre-b").unwrap()["metadata"]["uid"],
        uid,
        "left alone"
    );
}

/// A re-created hook Job's failure shows its own Pod's log. The old Job's
/// Pod carries the same `job-name` label and lingers until the garbage
/// collector runs (paused here; under load it ran between the list and the
/// log read, and the failure came without its log). Whatever the Pods'
/// timestamps say, only a Pod owned by the failed Job's uid is read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_hook_job_shows_its_own_pods_log_not_an_older_jobs() {
    let (server, c, dir) = setup().await;
    let chart = chart(dir.path());
    action::install(&c, &chart, &values(&[], &[]), &opts("r"))
        .await
        .unwrap();
    server.pause_controllers(true);
    server.outcome("test-job", true, "all good\n");
    let report = action::test(&c, "r", &TestOptions::default())
        .await
        .unwrap();
    assert!(report.failure.is_none());
    // The old Pod looks newest.
    let old = server.with_store(|s| {
        let (_, pod) = s
            .objects
            .iter_mut()
            .find(|(_, p)| p.obj["metadata"]["labels"]["job-name"] == "test-job")
            .expect("the first run's Pod");
        pod.obj["metadata"]["creationTimestamp"] = serde_json::json!("2999-01-01T00:00:00Z");
        pod.obj["metadata"]["name"].as_str().unwrap().to_string()
    });
    server.outcome("test-job", false, "no datanodes\n");
    let report = action::test(&c, "r", &TestOptions::default())
        .await
        .unwrap();
    let msg = report.failure.expect("the Job fails").to_string();
    assert!(msg.contains("no datanodes"), "{msg}");
    assert!(
        !msg.contains(&old),
        "the old Job's Pod {old} was read: {msg}"
    );
    server.pause_controllers(false);
}
