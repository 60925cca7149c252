//! The windlass binary against the test API server: cluster-info, a
//! release's whole life, offline type errors, YAML 1.1 octal modes.

mod support;

use serde_json::Value;
use support::apiserver::TestApiServer;

async fn run_cli(args: Vec<String>) -> std::process::Output {
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_windlass"))
            .args(args)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_cluster_info_reaches_the_server_or_says_why_not() {
    let server = TestApiServer::start().await;
    let kc = server.kubeconfig.display().to_string();
    let out = run_cli(vec![
        "cluster-info".into(),
        "--kubeconfig".into(),
        kc.clone(),
        "-n".into(),
        "hdfs".into(),
    ])
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("Kubernetes API server: {}", server.url)),
        "{text}"
    );
    assert!(
        text.contains("v1.32.13") && text.contains("Namespace:             hdfs"),
        "{text}"
    );
    let out = run_cli(vec![
        "cluster-info".into(),
        "--kubeconfig".into(),
        kc,
        "--kube-context".into(),
        "bad-token".into(),
    ])
    .await;
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("rejected the credentials (401 Unauthorized)"),
        "{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    let out = run_cli(vec![
        "cluster-info".into(),
        "--kubeconfig".into(),
        "/nonexistent/kubeconfig".into(),
    ])
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("kubeconfig /nonexistent/kubeconfig"));
}

fn cli_args(kc: &str, args: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    v.extend(["--kubeconfig".to_string(), kc.to_string()]);
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_release_lifecycle() {
    let server = TestApiServer::start().await;
    let kc = server.kubeconfig.display().to_string();
    let root = env!("CARGO_MANIFEST_DIR");
    let chart = format!("{root}/charts/hdfs");
    let poc = format!("{root}/charts/hdfs/examples/poc-single-node.yaml");
    let run = |args: &[&str]| run_cli(cli_args(&kc, args));
    let text = |o: &std::process::Output| {
        (
            String::from_utf8_lossy(&o.stdout).to_string(),
            String::from_utf8_lossy(&o.stderr).to_string(),
        )
    };

    let out = run(&[
        "install",
        "hdfs",
        &chart,
        "-f",
        &poc,
        "-n",
        "hdfs",
        "--dry-run=server",
        "--create-namespace",
    ])
    .await;
    let (o, e) = text(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "server dry run needs the namespace: {o}{e}"
    );
    assert!(
        e.contains("namespaces \"hdfs\" not found") || e.contains("namespace hdfs"),
        "{e}"
    );

    let out = run(&[
        "install",
        "hdfs",
        &chart,
        "-f",
        &poc,
        "-n",
        "hdfs",
        "--create-namespace",
    ])
    .await;
    let (o, e) = text(&out);
    assert!(out.status.success(), "{e}");
    assert!(
        o.contains("STATUS: deployed") && o.contains("REVISION: 1") && o.contains("NOTES:"),
        "{o}"
    );
    assert!(
        e.contains("revision 1: 19 to create, 0 to update, 0 unchanged, 0 to delete"),
        "the plan summary comes first: {e}"
    );
    assert!(
        o.contains("CHANGES: 19 created, 0 updated, 0 unchanged, 0 deleted, 0 kept"),
        "{o}"
    );

    let out = run(&[
        "upgrade",
        "hdfs",
        &chart,
        "-f",
        &poc,
        "-n",
        "hdfs",
        "--set",
        r"hdfs.hdfsSite.dfs\.blocksize=268435456",
        "--dry-run=server",
    ])
    .await;
    let (o, e) = text(&out);
    assert!(out.status.success(), "{e}");
    assert!(
        o.contains("PLAN (server dry run):") && o.contains("update    ConfigMap hdfs/hdfs-config"),
        "{o}"
    );
    assert!(o.contains("DRY RUN: nothing was changed"));

    let out = run(&[
        "upgrade",
        "hdfs",
        &chart,
        "-f",
        &poc,
        "-n",
        "hdfs",
        "--set",
        r"hdfs.hdfsSite.dfs\.blocksize=268435456",
    ])
    .await;
    let (o, e) = text(&out);
    assert!(out.status.success(), "{e}");
    assert!(o.contains("REVISION: 2") && o.contains("4 updated"), "{o}");

    let out = run(&["rollback", "hdfs", "-n", "hdfs"]).await;
    assert!(out.status.success(), "{}", text(&out).1);
    assert!(text(&out).0.contains("REVISION: 3"));

    let out = run(&["history", "hdfs", "-n", "hdfs", "-o", "json"]).await;
    let h: Value = serde_json::from_slice(&out.stdout).unwrap();
    let statuses: Vec<_> = h
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(statuses, ["superseded", "superseded", "deployed"]);
    assert_eq!(h[2]["description"], "Rollback to 1");
    let out = run(&["history", "hdfs", "-n", "hdfs"]).await;
    assert!(
        text(&out).0.starts_with("REVISION  UPDATED"),
        "{}",
        text(&out).0
    );

    let out = run(&["list", "-A"]).await;
    let (o, _) = text(&out);
    assert!(
        o.contains("hdfs  hdfs       3") || (o.contains("hdfs") && o.contains("deployed")),
        "{o}"
    );
    let out = run(&["status", "hdfs", "-n", "hdfs", "-o", "yaml"]).await;
    assert!(text(&out).0.contains("status: deployed"));
    let out = run(&["get", "values", "hdfs", "-n", "hdfs", "--revision", "2"]).await;
    assert!(
        text(&out).0.contains("dfs.blocksize: 268435456"),
        "{}",
        text(&out).0
    );
    let out = run(&["get", "manifest", "hdfs", "-n", "hdfs"]).await;
    assert!(text(&out)
        .0
        .contains("# Source: hdfs/templates/namenode-statefulset.yaml"));

    let out = run(&["install", "hdfs", &chart, "-n", "hdfs"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out).1.trim_end(), "Error: release hdfs already exists in namespace hdfs (revision 3 is deployed); use `windlass upgrade`");

    let out = run(&["uninstall", "hdfs", "-n", "hdfs", "--keep-history"]).await;
    let (o, e) = text(&out);
    assert!(out.status.success(), "{e}");
    assert!(
        o.contains("release \"hdfs\" uninstalled")
            && o.contains("PersistentVolume name-hdfs-namenode-0.hdfs"),
        "{o}"
    );
    let out = run(&["list", "-n", "hdfs", "--all", "-o", "json"]).await;
    let l: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(l[0]["status"], "uninstalled");
}

/// A chart whose Deployment has `replicas: "3"` and `containerPort: "8080"`
/// (strings where Kubernetes wants integers).
fn typo_chart(dir: &std::path::Path) -> std::path::PathBuf {
    let chart = dir.join("typo");
    std::fs::create_dir_all(chart.join("templates")).unwrap();
    std::fs::write(
        chart.join("Chart.yaml"),
        "apiVersion: v2\nname: typo\nversion: 0.1.0\n",
    )
    .unwrap();
    std::fs::write(
        chart.join("templates/web.yaml"),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: \"3\"\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - name: app\n        image: nginx:1.27\n        ports:\n        - containerPort: \"8080\"\n",
    )
    .unwrap();
    chart
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_types_fail_offline_naming_file_object_and_path_and_send_nothing() {
    let server = TestApiServer::start().await;
    let kc = server.kubeconfig.display().to_string();
    let dir = tempfile::tempdir().unwrap();
    let chart = typo_chart(dir.path()).display().to_string();
    let replicas = "Deployment web (typo/templates/web.yaml): .spec.replicas: expected integer, got string \"3\"";
    let port = "Deployment web (typo/templates/web.yaml): .spec.template.spec.containers[0].ports[0].containerPort: expected integer, got string \"8080\"";

    let lint = run_cli(vec!["lint".into(), chart.clone()]).await;
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&lint.stdout),
        String::from_utf8_lossy(&lint.stderr)
    );
    assert_eq!(lint.status.code(), Some(1), "{all}");
    assert!(
        all.contains(".spec.replicas: expected integer, got string \"3\""),
        "{all}"
    );
    assert!(all.contains("typo/templates/web.yaml"), "{all}");

    for args in [
        vec!["template", "r", &chart, "--validate"],
        vec!["install", "r", &chart, "--kubeconfig", &kc],
        vec!["upgrade", "r", &chart, "--install", "--kubeconfig", &kc],
        vec![
            "install",
            "r",
            &chart,
            "--dry-run=client",
            "--kubeconfig",
            &kc,
        ],
    ] {
        let out = run_cli(args.iter().map(|a| a.to_string()).collect()).await;
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.contains(replicas) && err.contains(port),
            "{args:?}: {err}"
        );
        assert!(out.stdout.is_empty(), "{args:?} printed manifests");
    }
    assert!(
        server.requests().is_empty(),
        "requests were sent: {:?}",
        server.requests()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unquoted_octal_mode_is_sent_as_the_number_kubectl_sends() {
    let server = TestApiServer::start().await;
    let kc = server.kubeconfig.display().to_string();
    let root = env!("CARGO_MANIFEST_DIR");
    let out = run_cli(cli_args(
        &kc,
        &[
            "install",
            "hdfs",
            &format!("{root}/charts/hdfs"),
            "-f",
            &format!("{root}/charts/hdfs/examples/poc-single-node.yaml"),
            "-n",
            "hdfs",
            "--create-namespace",
        ],
    ))
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sts = server
        .object("apps", "statefulsets", "hdfs", "hdfs-datanode")
        .expect("the datanode StatefulSet was applied");
    let scripts = sts["spec"]["template"]["spec"]["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "scripts")
        .expect("the scripts volume");
    // The template says `defaultMode: 0555`: octal, as kubectl reads it.
    assert_eq!(scripts["configMap"]["defaultMode"], 365);
}
