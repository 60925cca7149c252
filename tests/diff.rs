//! Diffs and drift through the CLI against the test API server.

mod support;

use std::process::Output;

use serde_json::{json, Value};
use support::apiserver::TestApiServer;

fn root() -> String {
    env!("CARGO_MANIFEST_DIR").to_string()
}

async fn windlass(server: &TestApiServer, args: &[&str]) -> Output {
    let mut v: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    v.extend([
        "--kubeconfig".to_string(),
        server.kubeconfig.display().to_string(),
    ]);
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_windlass"))
            .args(v)
            .env_remove("NO_COLOR")
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

fn small_chart(dir: &std::path::Path) -> String {
    std::fs::create_dir_all(dir.join("templates")).unwrap();
    std::fs::write(
        dir.join("Chart.yaml"),
        "apiVersion: v2\nname: small\nversion: 1.0.0\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("values.yaml"),
        "data: one\nextra: true\npassword: hunter2-s3cret\nport: 80\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("templates/objects.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: main\ndata:\n  value: {{quote Values.data}}\n\
{{#if Values.extra}}---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\ndata:\n  a: b\n{{/if}}\
---\napiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  selector:\n    app: web\n  ports:\n    - name: http\n      port: {{Values.port}}\n\
---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\nstringData:\n  password: {{quote Values.password}}\n",
    )
    .unwrap();
    dir.display().to_string()
}

fn golden(name: &str, actual: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var("WINDLASS_UPDATE_GOLDEN").as_deref() == Ok("1") {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "{} missing; run with WINDLASS_UPDATE_GOLDEN=1",
            path.display()
        )
    });
    assert_eq!(expected, actual, "{name} differs from the golden file");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn golden_diffs_of_create_update_delete_unchanged() {
    let server = TestApiServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let chart = small_chart(dir.path());
    // A release that does not exist: everything is a create.
    let o = windlass(&server, &["diff", "upgrade", "r", &chart, "-n", "apps"]).await;
    assert!(o.status.success(), "{}", err(&o));
    assert!(
        out(&o).contains("apps/ConfigMap/main (core): create"),
        "{}",
        out(&o)
    );
    let o = windlass(
        &server,
        &["install", "r", &chart, "-n", "apps", "--create-namespace"],
    )
    .await;
    assert!(o.status.success(), "{}", err(&o));
    // Nothing changed: server defaults (the Service's sessionAffinity,
    // clusterIP, protocol...) are not changes.
    let o = windlass(
        &server,
        &[
            "diff",
            "upgrade",
            "r",
            &chart,
            "-n",
            "apps",
            "--detailed-exitcode",
        ],
    )
    .await;
    assert_eq!(o.status.code(), Some(0), "{}{}", out(&o), err(&o));
    assert_eq!(out(&o), "no changes\n");
    let o = windlass(
        &server,
        &[
            "diff",
            "upgrade",
            "r",
            &chart,
            "-n",
            "apps",
            "--set",
            "data=two,extra=false,port=8080",
            "-v",
            "--detailed-exitcode",
        ],
    )
    .await;
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    golden("diff-small-upgrade.txt", &out(&o));
    let o = windlass(
        &server,
        &[
            "diff",
            "upgrade",
            "r",
            &chart,
            "-n",
            "apps",
            "--set",
            "data=two,extra=false",
            "-o",
            "json",
        ],
    )
    .await;
    let changes: Value = serde_json::from_str(&out(&o)).unwrap();
    assert_eq!(
        changes,
        json!([
            {"kind": "ConfigMap", "name": "main", "namespace": "apps", "apiVersion": "v1", "action": "update", "changedPaths": ["data.value"]},
            {"kind": "ConfigMap", "name": "extra", "namespace": "apps", "apiVersion": "v1", "action": "delete",
             "changedPaths": ["apiVersion", "data.a", "kind", "metadata.annotations.windlass.io/release-name", "metadata.annotations.windlass.io/release-namespace", "metadata.labels.app.kubernetes.io/managed-by", "metadata.name", "metadata.namespace"]}
        ])
    );
    // --ignore hides a path.
    let o = windlass(
        &server,
        &[
            "diff",
            "upgrade",
            "r",
            &chart,
            "-n",
            "apps",
            "--set",
            "port=8080",
            "--ignore",
            "spec.ports",
            "--detailed-exitcode",
        ],
    )
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hdfs_values_change_touches_only_config_and_checksums() {
    let server = TestApiServer::start().await;
    let chart = format!("{}/charts/hdfs", root());
    let poc = format!("{}/charts/hdfs/examples/poc-single-node.yaml", root());
    let o = windlass(
        &server,
        &[
            "install",
            "hdfs",
            &chart,
            "-f",
            &poc,
            "-n",
            "hdfs",
            "--create-namespace",
        ],
    )
    .await;
    assert!(o.status.success(), "{}", err(&o));
    let o = windlass(
        &server,
        &[
            "diff",
            "upgrade",
            "hdfs",
            &chart,
            "-f",
            &poc,
            "-n",
            "hdfs",
            "--set",
            r"hdfs.hdfsSite.dfs\.blocksize=268435456",
        ],
    )
    .await;
    assert!(o.status.success(), "{}", err(&o));
    let text = out(&o);
    let headers: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with([' ', '+', '-', '@']))
        .collect();
    assert_eq!(
        headers,
        [
            "hdfs/ConfigMap/hdfs-config (core): update",
            "hdfs/StatefulSet/hdfs-datanode (apps): update",
            "hdfs/StatefulSet/hdfs-namenode (apps): update",
            // It reads hdfs-site too (the namenode's checksum).
            "hdfs/StatefulSet/hdfs-secondarynamenode (apps): update"
        ]
    );
    golden("diff-hdfs-blocksize.txt", &text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_appear_in_clear_text() {
    let server = TestApiServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let chart = small_chart(dir.path());
    let secret = "hunter2-s3cret";
    let b64 = "aHVudGVyMi1zM2NyZXQ=";
    let leaks = |o: &Output| {
        out(o).contains(secret)
            || out(o).contains(b64)
            || err(o).contains(secret)
            || err(o).contains(b64)
    };
    let o = windlass(
        &server,
        &["install", "r", &chart, "-n", "apps", "--dry-run"],
    )
    .await;
    assert!(
        o.status.success() && !leaks(&o),
        "client dry run: {}",
        out(&o)
    );
    assert!(
        out(&o).contains("<redacted: 14 bytes, sha256:"),
        "{}",
        out(&o)
    );
    let o = windlass(
        &server,
        &["install", "r", &chart, "-n", "apps", "--create-namespace"],
    )
    .await;
    assert!(o.status.success() && !leaks(&o), "install: {}", out(&o));
    let o = windlass(
        &server,
        &[
            "upgrade",
            "r",
            &chart,
            "-n",
            "apps",
            "--set",
            "password=other-s3cret",
            "--dry-run=server",
        ],
    )
    .await;
    assert!(
        o.status.success() && !leaks(&o) && !out(&o).contains("other-s3cret"),
        "server dry run: {}",
        out(&o)
    );
    let o = windlass(
        &server,
        &[
            "diff",
            "upgrade",
            "r",
            &chart,
            "-n",
            "apps",
            "--set",
            "password=other-s3cret",
        ],
    )
    .await;
    assert!(
        !leaks(&o) && !out(&o).contains("other-s3cret"),
        "diff: {}",
        out(&o)
    );
    assert!(
        out(&o).contains("apps/Secret/creds (core): update")
            && out(&o).contains("<redacted: 12 bytes, sha256:"),
        "{}",
        out(&o)
    );
    for args in [
        vec!["get", "manifest", "r", "-n", "apps"],
        vec!["history", "r", "-n", "apps", "-o", "json"],
        vec!["status", "r", "-n", "apps", "-o", "yaml"],
        vec!["diff", "revision", "r", "1", "1", "-n", "apps", "-v"],
        vec!["drift", "r", "-n", "apps", "-o", "json"],
    ] {
        let o = windlass(&server, &args).await;
        assert!(o.status.success(), "{args:?}: {}", err(&o));
        assert!(!leaks(&o), "{args:?} leaks the secret: {}", out(&o));
    }
    let o = windlass(
        &server,
        &[
            "diff",
            "upgrade",
            "r",
            &chart,
            "-n",
            "apps",
            "--set",
            "password=other-s3cret",
            "--show-secrets",
        ],
    )
    .await;
    // The server stores stringData as base64 data, as a real one does.
    assert!(
        out(&o).contains("b3RoZXItczNjcmV0"),
        "--show-secrets lifts the mask: {}",
        out(&o)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_names_the_field_and_its_manager_and_fix_restores() {
    let server = TestApiServer::start().await;
    let chart = format!("{}/charts/hdfs", root());
    let poc = format!("{}/charts/hdfs/examples/poc-single-node.yaml", root());
    let o = windlass(
        &server,
        &[
            "install",
            "hdfs",
            &chart,
            "-f",
            &poc,
            "-n",
            "hdfs",
            "--create-namespace",
        ],
    )
    .await;
    assert!(o.status.success(), "{}", err(&o));
    let o = windlass(
        &server,
        &["drift", "hdfs", "-n", "hdfs", "--detailed-exitcode"],
    )
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    assert!(out(&o).contains("release hdfs matches its deployed revision"));

    // Out of band: kubectl scale, and a deleted ConfigMap.
    server
        .scale_as("kubectl-scale", "hdfs", "hdfs-datanode", 5)
        .await;
    let cms: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
        kube::Api::namespaced(server.client("test").await, "hdfs");
    cms.delete("hdfs-config", &Default::default())
        .await
        .unwrap();

    let o = windlass(
        &server,
        &[
            "status",
            "hdfs",
            "-n",
            "hdfs",
            "--drift",
            "--detailed-exitcode",
        ],
    )
    .await;
    assert_eq!(o.status.code(), Some(2), "{}{}", out(&o), err(&o));
    let text = out(&o);
    assert!(text.contains("changed  StatefulSet hdfs/hdfs-datanode\n           .spec.replicas changed by kubectl-scale"), "{text}");
    assert!(
        text.contains("deleted  ConfigMap hdfs/hdfs-config (deleted outside windlass)"),
        "{text}"
    );
    assert!(
        text.contains("in sync  StatefulSet hdfs/hdfs-namenode"),
        "{text}"
    );

    let o = windlass(&server, &["drift", "hdfs", "-n", "hdfs", "--fix"]).await;
    assert!(o.status.success(), "{}", err(&o));
    assert!(
        out(&o).contains("fixed: re-applied the deployed revision (2 object(s) written)"),
        "{}",
        out(&o)
    );
    assert_eq!(
        server
            .object("apps", "statefulsets", "hdfs", "hdfs-datanode")
            .unwrap()["spec"]["replicas"],
        3
    );
    assert!(server
        .object("", "configmaps", "hdfs", "hdfs-config")
        .is_some());
    let o = windlass(
        &server,
        &["drift", "hdfs", "-n", "hdfs", "--detailed-exitcode"],
    )
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diff_rollback_shows_exactly_what_rollback_does() {
    let server = TestApiServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let chart = small_chart(dir.path());
    assert!(windlass(
        &server,
        &["install", "r", &chart, "-n", "apps", "--create-namespace"]
    )
    .await
    .status
    .success());
    assert!(windlass(
        &server,
        &[
            "upgrade",
            "r",
            &chart,
            "-n",
            "apps",
            "--set",
            "data=two,extra=false,port=81"
        ]
    )
    .await
    .status
    .success());
    let o = windlass(
        &server,
        &["diff", "rollback", "r", "-n", "apps", "-o", "json"],
    )
    .await;
    assert!(o.status.success(), "{}", err(&o));
    let planned: Value = serde_json::from_str(&out(&o)).unwrap();
    let mut planned: Vec<(String, String)> = planned
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["action"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    planned.sort();
    assert_eq!(
        planned,
        [
            ("extra".to_string(), "create".to_string()),
            ("main".into(), "update".into()),
            ("web".into(), "update".into())
        ]
    );
    let from = server.requests().len();
    assert!(windlass(&server, &["rollback", "r", "-n", "apps"])
        .await
        .status
        .success());
    let mut written: Vec<(String, String)> = server
        .requests_since(from)
        .iter()
        .filter(|r| {
            r.is_write()
                && !r.path.contains("/secrets/windlass.release")
                && !r.path.contains("/leases")
        })
        .map(|r| {
            let name = r.path.rsplit('/').next().unwrap().to_string();
            let action = if r.method == "DELETE" {
                "delete"
            } else if planned.iter().any(|(n, a)| *n == name && a == "create") {
                "create"
            } else {
                "update"
            };
            (name, action.to_string())
        })
        .collect();
    written.sort();
    assert_eq!(
        written, planned,
        "the rollback wrote exactly what the diff showed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirm_needs_a_terminal() {
    let server = TestApiServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let chart = small_chart(dir.path());
    let o = windlass(
        &server,
        &[
            "install",
            "r",
            &chart,
            "-n",
            "apps",
            "--create-namespace",
            "--confirm",
        ],
    )
    .await;
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err(&o).contains("--confirm needs a terminal"),
        "{}",
        err(&o)
    );
    assert!(
        server.object("", "configmaps", "apps", "main").is_none(),
        "nothing applied"
    );
}
