//! One lifecycle suite, two backends. In CI every scenario runs against
//! the test API server; with `WINDLASS_E2E_KUBECONFIG` naming the
//! kubeconfig of a disposable cluster (kind, minikube, k3d), the same code
//! runs against it:
//!
//!     WINDLASS_E2E_KUBECONFIG=$HOME/.kube/config cargo test --test lifecycle
//!
//! Every scenario works in a namespace of its own and, on a real cluster,
//! removes it afterwards (with the volumes the HDFS examples create).
//! Scenarios that pause the garbage collector or hold requests only exist
//! on the test server and are skipped, with a notice, on a real cluster.
//! Operations run back to back with no pause between them: a real server
//! finishes deletions asynchronously, and windlass must not depend on it.

mod support;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use support::apiserver::TestApiServer;
use windlass::action::{self, Context, DeployOptions, UninstallOptions, ValuesMode};
use windlass::cluster::{Cluster, ConnectOptions, Propagation};
use windlass::release::Status;
use windlass::values::{SetFlag, SetKind, UserValues, ValueSources};

/// Where the scenarios run.
enum Backend {
    Test(TestApiServer),
    Real(PathBuf),
}

impl Backend {
    async fn start() -> Backend {
        match std::env::var_os("WINDLASS_E2E_KUBECONFIG") {
            Some(p) => Backend::Real(PathBuf::from(p)),
            None => Backend::Test(TestApiServer::start().await),
        }
    }

    fn kubeconfig(&self) -> PathBuf {
        match self {
            Backend::Test(s) => s.kubeconfig.clone(),
            Backend::Real(p) => p.clone(),
        }
    }

    /// The test server, for scenarios only it can run.
    fn test_server(&self, scenario: &str) -> Option<&TestApiServer> {
        match self {
            Backend::Test(s) => Some(s),
            Backend::Real(_) => {
                eprintln!(
                    "skipped on a real cluster (needs the test server's fault control): {scenario}"
                );
                None
            }
        }
    }

    /// A namespace no other scenario or run uses.
    fn namespace(&self, scenario: &str) -> String {
        static N: AtomicUsize = AtomicUsize::new(0);
        match self {
            Backend::Test(_) => scenario.to_string(),
            Backend::Real(_) => format!(
                "wl-e2e-{}-{}-{scenario}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ),
        }
    }

    async fn context(&self, ns: &str) -> Context {
        let cluster = Cluster::connect(&ConnectOptions {
            kubeconfig: Some(self.kubeconfig()),
            context: None,
            namespace: Some(ns.into()),
        })
        .await
        .expect("the cluster is reachable");
        let mut c = Context::new(Arc::new(cluster));
        c.poll = Duration::from_millis(50);
        c
    }

    /// On a real cluster, removes what a scenario left: its namespace and
    /// the volumes of its releases. (windlass itself never deletes either.)
    async fn clean_up(&self, ns: &str) {
        if let Backend::Real(_) = self {
            let c = self.context(ns).await;
            for pv in c
                .cluster
                .list_all("v1", "PersistentVolume", "")
                .await
                .unwrap_or_default()
            {
                let name = pv["metadata"]["name"].as_str().unwrap_or("");
                if pv["spec"]["claimRef"]["namespace"] == ns || name.starts_with(&format!("{ns}-"))
                {
                    let _ = c.cluster.delete("v1", "PersistentVolume", None, name).await;
                }
            }
            let _ = c.cluster.delete("v1", "Namespace", None, ns).await;
        }
    }
}

fn values(sets: &[&str]) -> UserValues {
    UserValues::load(&ValueSources {
        files: Vec::new(),
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

fn opts(release: &str) -> DeployOptions {
    DeployOptions {
        release: release.into(),
        create_namespace: true,
        timeout: Duration::from_secs(60),
        ..Default::default()
    }
}

/// A chart with two ConfigMaps (one optional), a Service and a Secret.
fn small_chart(dir: &Path) -> windlass::chart::Chart {
    std::fs::create_dir_all(dir.join("templates")).unwrap();
    std::fs::write(
        dir.join("Chart.yaml"),
        "apiVersion: v2\nname: small\nversion: 1.0.0\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("values.yaml"),
        "data: one\nextra: true\nmode: 0644\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("templates/objects.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: main\ndata:\n  value: {{quote Values.data}}\n\
{{#if Values.extra}}---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\ndata:\n  a: b\n{{/if}}\
---\napiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  selector:\n    app: web\n  ports:\n  - name: http\n    port: 80\n\
---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\nstringData:\n  password: s3cret\n",
    )
    .unwrap();
    windlass::chart::load(dir).unwrap()
}

/// Installs release `r` of the small chart; the chart's directory lives
/// as long as the returned guard.
async fn install_small(c: &Context) -> (tempfile::TempDir, windlass::chart::Chart) {
    let dir = tempfile::tempdir().unwrap();
    let chart = small_chart(dir.path());
    action::install(c, &chart, &values(&[]), &opts("r"))
        .await
        .unwrap();
    (dir, chart)
}

async fn config_value(c: &Context, name: &str) -> Option<Value> {
    c.cluster
        .get("v1", "ConfigMap", None, name)
        .await
        .unwrap()
        .map(|cm| cm["data"]["value"].clone())
}

async fn statuses(c: &Context, release: &str) -> Vec<Status> {
    action::history(c, release)
        .await
        .unwrap()
        .iter()
        .map(|r| r.status)
        .collect()
}

/// install, upgrade, no-op upgrade, rollback, uninstall, install again:
/// each starts the moment the one before returns.
async fn back_to_back(c: &Context, dir: &Path) {
    let chart = small_chart(dir);
    action::install(c, &chart, &values(&[]), &opts("r"))
        .await
        .unwrap();
    assert_eq!(config_value(c, "main").await, Some(json!("one")));
    action::upgrade(
        c,
        &chart,
        &values(&["data=two", "extra=false"]),
        &opts("r"),
        ValuesMode::Reset,
        false,
    )
    .await
    .unwrap();
    assert_eq!(config_value(c, "main").await, Some(json!("two")));
    let noop = action::upgrade(
        c,
        &chart,
        &values(&["data=two", "extra=false"]),
        &opts("r"),
        ValuesMode::Reset,
        false,
    )
    .await
    .unwrap();
    assert!(
        noop.lines.iter().all(|l| l.action == "unchanged"),
        "{:?}",
        noop.lines
    );
    action::rollback(c, "r", Some(1), &opts("r")).await.unwrap();
    assert_eq!(config_value(c, "main").await, Some(json!("one")));
    assert_eq!(
        statuses(c, "r").await,
        [
            Status::Superseded,
            Status::Superseded,
            Status::Superseded,
            Status::Deployed
        ]
    );
    let gone = action::uninstall(c, "r", &UninstallOptions::default())
        .await
        .unwrap();
    assert!(gone.deleted.len() >= 4, "{:?}", gone.deleted);
    // Right away: the Lease was released, and what is still being deleted
    // is waited for, not applied to.
    action::install(c, &chart, &values(&["data=three"]), &opts("r"))
        .await
        .unwrap();
    assert_eq!(config_value(c, "main").await, Some(json!("three")));
    assert_eq!(statuses(c, "r").await, [Status::Deployed]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn back_to_back_operations() {
    let backend = Backend::start().await;
    let ns = backend.namespace("back-to-back");
    let c = backend.context(&ns).await;
    let dir = tempfile::tempdir().unwrap();
    back_to_back(&c, dir.path()).await;
    backend.clean_up(&ns).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn back_to_back_operations_with_the_garbage_collector_paused() {
    let backend = Backend::start().await;
    let Some(server) = backend.test_server("back to back, garbage collector paused") else {
        return;
    };
    server.pause_controllers(true);
    let c = backend.context("paused").await;
    let dir = tempfile::tempdir().unwrap();
    back_to_back(&c, dir.path()).await;
    // Nothing waited on the garbage collector: every Lease is gone already.
    assert!(server
        .keys()
        .iter()
        .all(|(gp, _, _)| gp != "coordination.k8s.io/leases"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uninstall_wait_waits_for_deletion_to_finish_or_says_what_holds_it() {
    let backend = Backend::start().await;
    let ns = backend.namespace("uninstall-wait");
    let c = backend.context(&ns).await;
    let dir = tempfile::tempdir().unwrap();
    let chart = small_chart(dir.path());
    let wait = UninstallOptions {
        wait: true,
        timeout: Duration::from_secs(60),
        cascade: Propagation::Foreground,
        ..Default::default()
    };
    action::install(&c, &chart, &values(&[]), &opts("r"))
        .await
        .unwrap();
    action::uninstall(&c, "r", &wait).await.unwrap();
    for name in ["main", "extra"] {
        assert!(
            c.cluster
                .get("v1", "ConfigMap", None, name)
                .await
                .unwrap()
                .is_none(),
            "{name} is gone"
        );
    }
    if let Some(server) = backend.test_server("uninstall --wait with the garbage collector paused")
    {
        server.pause_controllers(true);
        action::install(&c, &chart, &values(&[]), &opts("r"))
            .await
            .unwrap();
        let short = UninstallOptions {
            timeout: Duration::from_millis(300),
            ..wait.clone()
        };
        let e = action::uninstall(&c, "r", &short)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("ConfigMap uninstall-wait/main: terminating, waiting for finalizers: foregroundDeletion"),
            "{e}"
        );
        server.pause_controllers(false);
    }
    backend.clean_up(&ns).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminating_object_in_the_way_is_waited_for() {
    let backend = Backend::start().await;
    let Some(server) = backend.test_server("an install waits for objects still terminating") else {
        return;
    };
    server.pause_controllers(true);
    let c = backend.context("in-the-way").await;
    let (_dir, chart) = install_small(&c).await;
    let foreground = UninstallOptions {
        cascade: Propagation::Foreground,
        ..Default::default()
    };
    action::uninstall(&c, "r", &foreground).await.unwrap();
    let main = server
        .object("", "configmaps", "in-the-way", "main")
        .expect("still terminating");
    assert!(main["metadata"]["deletionTimestamp"].is_string());
    // Within a short --timeout it gives up, names what holds the object,
    // and changes nothing.
    let short = DeployOptions {
        timeout: Duration::from_millis(200),
        ..opts("r")
    };
    let e = action::install(&c, &chart, &values(&["data=again"]), &short)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("still being deleted") && e.contains("ConfigMap in-the-way/main: terminating, waiting for finalizers: foregroundDeletion"),
        "{e}"
    );
    let main = server
        .object("", "configmaps", "in-the-way", "main")
        .unwrap();
    assert_eq!(main["data"]["value"], "one");
    // The install sees it terminating and waits; the garbage collector
    // runs once it is waiting.
    let mut c = c;
    let waited = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (flag, switch) = (waited.clone(), server.controller_switch());
    c.progress = Box::new(move |line: &str| {
        if line.starts_with("waiting for") {
            flag.store(true, Ordering::SeqCst);
            switch.pause(false);
        }
    });
    action::install(&c, &chart, &values(&["data=again"]), &opts("r"))
        .await
        .unwrap();
    assert!(waited.load(Ordering::SeqCst), "the install waited");
    let main = server
        .object("", "configmaps", "in-the-way", "main")
        .unwrap();
    assert!(main["metadata"]["deletionTimestamp"].is_null());
    assert_eq!(main["data"]["value"], "again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_left_terminating_by_an_older_windlass_is_cleared() {
    let backend = Backend::start().await;
    let Some(server) = backend.test_server("a terminating Lease is cleared") else {
        return;
    };
    server.pause_controllers(true);
    let c = backend.context("old-lease").await;
    let (_dir, chart) = install_small(&c).await;
    // What an older windlass left: its Lease, deleted in the foreground,
    // waiting for a garbage collector that is not running.
    let lease = json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "windlass-lock-r", "namespace": "old-lease"},
        "spec": {"holderIdentity": "windlass/1@old-host#0", "leaseDurationSeconds": 30}});
    c.cluster.create(&lease).await.unwrap();
    c.cluster
        .delete_with(
            "coordination.k8s.io/v1",
            "Lease",
            Some("old-lease"),
            "windlass-lock-r",
            &windlass::cluster::DeleteOptions {
                propagation: Propagation::Foreground,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let held = server
        .object(
            "coordination.k8s.io",
            "leases",
            "old-lease",
            "windlass-lock-r",
        )
        .unwrap();
    assert_eq!(
        held["metadata"]["finalizers"],
        json!(["foregroundDeletion"])
    );
    action::upgrade(
        &c,
        &chart,
        &values(&["data=next"]),
        &opts("r"),
        ValuesMode::Reset,
        false,
    )
    .await
    .unwrap();
    assert_eq!(config_value(&c, "main").await, Some(json!("next")));
    assert!(server
        .object(
            "coordination.k8s.io",
            "leases",
            "old-lease",
            "windlass-lock-r"
        )
        .is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diff_and_drift_see_what_another_manager_changed() {
    let backend = Backend::start().await;
    let ns = backend.namespace("drift");
    let c = backend.context(&ns).await;
    let (_dir, chart) = install_small(&c).await;
    let items = action::diff_upgrade(&c, &chart, &values(&["data=two"]), "r", ValuesMode::Reset)
        .await
        .unwrap();
    assert!(windlass::diff::has_changes(&items));
    let unchanged = action::diff_upgrade(&c, &chart, &values(&[]), "r", ValuesMode::Reset)
        .await
        .unwrap();
    assert!(
        !windlass::diff::has_changes(&unchanged),
        "server defaults are not changes"
    );
    // Another tool changes the ConfigMap, as kubectl would.
    let edit = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "main", "namespace": ns}, "data": {"value": "edited"}});
    let kube = kube::Client::try_from(
        kube::Config::from_custom_kubeconfig(
            kube::config::Kubeconfig::read_from(backend.kubeconfig()).unwrap(),
            &Default::default(),
        )
        .await
        .unwrap(),
    )
    .unwrap();
    let api: kube::Api<kube::api::DynamicObject> = kube::Api::namespaced_with(
        kube,
        &ns,
        &kube::api::ApiResource::erase::<k8s_openapi::api::core::v1::ConfigMap>(&()),
    );
    api.patch(
        "main",
        &kube::api::PatchParams::apply("kubectl-edit").force(),
        &kube::api::Patch::Apply(&edit),
    )
    .await
    .unwrap();
    let drift = action::drift(&c, "r").await.unwrap();
    let main = drift
        .iter()
        .find(|d| d.object.ends_with("/main"))
        .expect("main listed");
    assert!(
        format!("{:?}", main.state).contains("kubectl-edit"),
        "{main:?}"
    );
    action::fix_drift(&c, "r").await.unwrap();
    assert_eq!(config_value(&c, "main").await, Some(json!("one")));
    backend.clean_up(&ns).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_hdfs_example_installs_and_uninstalls() {
    let backend = Backend::start().await;
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let chart = windlass::chart::load(&root.join("charts/hdfs")).unwrap();
    let mut examples: Vec<PathBuf> = std::fs::read_dir(root.join("charts/hdfs/examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    examples.sort();
    assert!(examples.len() >= 3);
    for example in examples {
        let stem = example.file_stem().unwrap().to_string_lossy().to_string();
        let ns = backend.namespace(&format!("hdfs-{stem}"));
        let c = backend.context(&ns).await;
        // A ServiceMonitor needs the Prometheus Operator's CRD, which this
        // suite never installs into a cluster (a real one may lack it).
        let served = c
            .cluster
            .list("monitoring.coreos.com/v1", "ServiceMonitor", Some(&ns), "")
            .await
            .is_ok();
        let sets = if served {
            Vec::new()
        } else {
            vec![SetFlag {
                kind: SetKind::Typed,
                expression: "metrics.serviceMonitor.enabled=false".into(),
            }]
        };
        let user = UserValues::load(&ValueSources {
            files: vec![example.clone()],
            sets,
        })
        .unwrap();
        let out = action::install(&c, &chart, &user, &opts("hdfs"))
            .await
            .unwrap_or_else(|e| panic!("{stem}: {e}"));
        assert_eq!(out.release.status, Status::Deployed, "{stem}");
        let sts = c
            .cluster
            .get("apps/v1", "StatefulSet", None, "hdfs-datanode")
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{stem}: the datanode StatefulSet exists"));
        let modes: Vec<&Value> = sts["spec"]["template"]["spec"]["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|v| v["configMap"].get("defaultMode"))
            .collect();
        assert!(
            modes.iter().all(|m| m.is_u64()),
            "{stem}: modes are numbers: {modes:?}"
        );
        action::uninstall(&c, "hdfs", &UninstallOptions::default())
            .await
            .unwrap();
        backend.clean_up(&ns).await;
    }
}
