//! The cluster layer through the real kube-rs client, over HTTPS, against
//! the test API server.

mod support;

use std::time::Duration;

use serde_json::{json, Value};
use support::apiserver::{Fault, FaultAction, Matcher, TestApiServer};
use windlass::cluster::{ApplyOptions, Cluster, ClusterError, ConnectOptions, RetryPolicy};

async fn connect(server: &TestApiServer, ns: Option<&str>) -> Cluster {
    Cluster::connect(&ConnectOptions {
        kubeconfig: Some(server.kubeconfig.clone()),
        context: None,
        namespace: ns.map(str::to_string),
    })
    .await
    .expect("connects")
    .with_retry(RetryPolicy {
        max_retries: 2,
        min_delay: Duration::from_millis(10),
        max_delay: Duration::from_secs(2),
        max_total: Duration::from_secs(10),
    })
}

fn cm(name: &str, data: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": {"app.kubernetes.io/managed-by": "windlass"}}, "data": data})
}

fn sts(name: &str, replicas: i64, storage: &str) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": name},
        "spec": {
            "serviceName": name, "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "dn", "image": "apache/hadoop:3.4.1"}]}},
            "volumeClaimTemplates": [{"metadata": {"name": "data0"}, "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": storage}}}}]
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connects_over_tls_and_discovers_scopes() {
    let server = TestApiServer::start().await;
    assert!(server.url.starts_with("https://127.0.0.1:"));
    let c = connect(&server, None).await;
    assert_eq!(c.server(), server.url);
    assert_eq!(c.namespace(), "default", "the context's namespace");
    assert_eq!(c.server_version().await.unwrap(), "v1.32.13");
    let s = c.resolve("apps/v1", "StatefulSet").await.unwrap();
    assert!(s.namespaced);
    assert_eq!(s.api_resource.plural, "statefulsets");
    let pv = c.resolve("v1", "PersistentVolume").await.unwrap();
    assert!(!pv.namespaced);
    let e = c.resolve("apps/v1", "Gadget").await.unwrap_err();
    assert_eq!(e.to_string(), "the cluster does not serve Gadget in apps/v1 (is a CRD missing, or the apiVersion outdated?)");
    let e = c.resolve("example.com/v1", "Widget").await.unwrap_err();
    assert!(matches!(e, ClusterError::UnknownKind { .. }), "{e}");
    // Discovery is cached: resolving again makes no request.
    let before = server.requests().len();
    c.resolve("apps/v1", "Deployment").await.unwrap();
    assert_eq!(server.requests().len(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_round_trips_in_both_scopes() {
    let server = TestApiServer::start().await;
    let c = connect(&server, Some("data")).await;
    let labels = json!({"app.kubernetes.io/managed-by": "windlass", "suite": "kinds"});
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "data", "labels": labels}});
    c.apply(&ns, ApplyOptions::default()).await.unwrap();
    let objects = vec![
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm", "labels": labels}, "data": {"a": "1"}}),
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "labels": labels}, "stringData": {"k": "v"}}),
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "svc", "labels": labels}, "spec": {"ports": [{"port": 80}]}}),
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "sa", "labels": labels}}),
        json!({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "pv", "labels": labels}, "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "hostPath": {"path": "/tmp/x"}}}),
        json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "pvc", "labels": labels}, "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}),
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "pod", "labels": labels}, "spec": {"containers": [{"name": "c", "image": "busybox:1"}]}}),
        {
            let mut s = sts("sts", 1, "1Gi");
            s["metadata"]["labels"] = labels.clone();
            s
        },
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "dep", "labels": labels}, "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "nginx:1"}]}}}}),
        json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "ds", "labels": labels}, "spec": {"selector": {"matchLabels": {"a": "d"}}, "template": {"metadata": {"labels": {"a": "d"}}, "spec": {"containers": [{"name": "c", "image": "nginx:1"}]}}}}),
        json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "pdb", "labels": labels}, "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"a": "b"}}}}),
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "np", "labels": labels}, "spec": {"podSelector": {}}}),
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "ing", "labels": labels}, "spec": {"defaultBackend": {"service": {"name": "svc", "port": {"number": 80}}}}}),
        json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "job", "labels": labels}, "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox:1"}]}}}}),
        json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "sc", "labels": labels}, "provisioner": "kubernetes.io/no-provisioner"}),
        json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "lease", "labels": labels}, "spec": {"holderIdentity": "me"}}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "role", "labels": labels}, "rules": []}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "rb", "labels": labels}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "role"}, "subjects": []}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "cr", "labels": labels}, "rules": []}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "crb", "labels": labels}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cr"}, "subjects": []}),
    ];
    for o in &objects {
        let stored = c
            .apply(o, ApplyOptions::default())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let (av, kind, name) = (
            o["apiVersion"].as_str().unwrap(),
            o["kind"].as_str().unwrap(),
            o["metadata"]["name"].as_str().unwrap(),
        );
        let namespaced = c.resolve(av, kind).await.unwrap().namespaced;
        assert_eq!(
            stored["metadata"]["namespace"].as_str(),
            namespaced.then_some("data"),
            "{kind}"
        );
        let got = c
            .get(av, kind, None, name)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{kind} stored"));
        assert_eq!(got["metadata"]["uid"], stored["metadata"]["uid"]);
        let listed = c.list(av, kind, None, "suite=kinds").await.unwrap();
        assert_eq!(listed.len(), 1, "{kind}");
        assert_eq!(listed[0]["kind"], kind);
        assert!(c
            .list(av, kind, None, "suite=other")
            .await
            .unwrap()
            .is_empty());
    }
    let secret = c.get("v1", "Secret", None, "s").await.unwrap().unwrap();
    assert_eq!(secret["data"]["k"], "dg==", "stringData is stored as data");
    for o in objects.iter().rev() {
        let (av, kind, name) = (
            o["apiVersion"].as_str().unwrap(),
            o["kind"].as_str().unwrap(),
            o["metadata"]["name"].as_str().unwrap(),
        );
        assert!(
            c.delete(av, kind, None, name).await.unwrap(),
            "{kind} existed"
        );
        // Claims and volumes carry protection finalizers: a delete only
        // starts their deletion, and a controller finishes it.
        c.wait_deleted(
            std::slice::from_ref(o),
            Duration::from_secs(10),
            Duration::from_millis(20),
            &|_| {},
        )
        .await
        .unwrap_or_else(|e| panic!("{kind}: {e}"));
        assert!(
            c.get(av, kind, None, name).await.unwrap().is_none(),
            "{kind} deleted"
        );
        assert!(
            !c.delete(av, kind, None, name).await.unwrap(),
            "a second delete of {kind} is not an error"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_follows_server_side_apply_rules() {
    let server = TestApiServer::start().await;
    let c = connect(&server, None).await;
    // Dry run: the object as it would be stored, and nothing stored.
    let dry = c
        .apply(
            &cm("hdfs-config", json!({"a": "1", "b": "2"})),
            ApplyOptions {
                dry_run: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(dry["metadata"]["uid"].is_string());
    assert!(dry["metadata"].get("resourceVersion").is_none());
    assert!(c
        .get("v1", "ConfigMap", None, "hdfs-config")
        .await
        .unwrap()
        .is_none());
    let first = c
        .apply(
            &cm("hdfs-config", json!({"a": "1", "b": "2"})),
            ApplyOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(first["metadata"]["managedFields"][0]["manager"], "windlass");
    assert_eq!(
        first["metadata"]["managedFields"][0]["fieldsV1"],
        json!({"f:data": {"f:a": {}, "f:b": {}}, "f:metadata": {"f:labels": {"f:app.kubernetes.io/managed-by": {}}}})
    );
    // The same apply again writes nothing.
    let again = c
        .apply(
            &cm("hdfs-config", json!({"a": "1", "b": "2"})),
            ApplyOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        again["metadata"]["resourceVersion"],
        first["metadata"]["resourceVersion"]
    );
    // A field no longer applied is removed.
    let fewer = c
        .apply(
            &cm("hdfs-config", json!({"a": "1"})),
            ApplyOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(fewer["data"], json!({"a": "1"}));
    // Server defaults are filled in and owned by nobody.
    let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "nn"}, "spec": {"clusterIP": "None", "selector": {"app": "nn"}, "ports": [{"name": "rpc", "port": 8020}]}});
    let svc = c.apply(&svc, ApplyOptions::default()).await.unwrap();
    assert_eq!(svc["spec"]["sessionAffinity"], "None");
    assert_eq!(svc["spec"]["ports"][0]["protocol"], "TCP");
    assert_eq!(
        svc["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"]["f:ports"],
        json!({"k:{\"port\":8020,\"protocol\":\"TCP\"}": {".": {}, "f:name": {}, "f:port": {}}})
    );
    // Generation moves with the spec only.
    let s1 = c
        .apply(&sts("dn", 2, "1Gi"), ApplyOptions::default())
        .await
        .unwrap();
    assert_eq!(s1["metadata"]["generation"], 1);
    let s2 = c
        .apply(&sts("dn", 3, "1Gi"), ApplyOptions::default())
        .await
        .unwrap();
    assert_eq!(s2["metadata"]["generation"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_mapped_to_user_terms() {
    let server = TestApiServer::start().await;
    let c = connect(&server, None).await;
    let mut lost = cm("x", json!({}));
    lost["metadata"]["namespace"] = json!("nope");
    let e = c.apply(&lost, ApplyOptions::default()).await.unwrap_err();
    assert_eq!(
        e.to_string(),
        "apply ConfigMap nope/x: not found: namespaces \"nope\" not found"
    );

    let e = c
        .apply(&cm("Bad_Name", json!({})), ApplyOptions::default())
        .await
        .unwrap_err();
    let text = e.to_string();
    assert!(text.starts_with("apply ConfigMap default/Bad_Name: rejected as invalid:\n  - metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain"), "{text}");

    c.apply(&sts("dn", 2, "1Gi"), ApplyOptions::default())
        .await
        .unwrap();
    let e = c
        .apply(
            &sts("dn", 2, "2Gi"),
            ApplyOptions {
                dry_run: true,
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    let text = e.to_string();
    assert!(text.contains("dry-run apply StatefulSet default/dn: rejected as invalid:\n  - spec: Forbidden: updates to statefulset spec for fields other than 'replicas'"), "{text}");
    assert!(
        text.contains("`kubectl delete statefulset dn --cascade=orphan`"),
        "{text}"
    );

    let pv = |path: &str| json!({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "pv0"}, "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "hostPath": {"path": path, "type": "DirectoryOrCreate"}}});
    c.apply(&pv("/data/a"), ApplyOptions::default())
        .await
        .unwrap();
    let e = c
        .apply(&pv("/data/b"), ApplyOptions::default())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("spec.persistentvolumesource: Forbidden: spec.persistentvolumesource is immutable after creation"), "{e}");

    let lease = json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "lock"}, "spec": {"holderIdentity": "a"}});
    let created = c.create(&lease).await.unwrap();
    let e = c.create(&lease).await.unwrap_err();
    assert_eq!(e.to_string(), "create Lease default/lock: already exists: leases.coordination.k8s.io \"lock\" already exists");
    let mut stale = created.clone();
    stale["spec"]["holderIdentity"] = json!("b");
    c.replace(&stale).await.unwrap();
    stale["spec"]["holderIdentity"] = json!("c");
    let e = c.replace(&stale).await.unwrap_err();
    assert!(matches!(e, ClusterError::Conflict { .. }), "{e}");
    assert!(
        e.to_string()
            .contains("the object was modified by someone else meanwhile"),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_conflicts_name_the_other_manager_and_field() {
    let server = TestApiServer::start().await;
    let c = connect(&server, None).await;
    c.apply(&sts("dn", 2, "1Gi"), ApplyOptions::default())
        .await
        .unwrap();
    // `kubectl scale` through the scale subresource, with the real client.
    server.scale_as("kubectl-scale", "default", "dn", 5).await;
    let live = c
        .get("apps/v1", "StatefulSet", None, "dn")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(live["spec"]["replicas"], 5);
    let owners: Vec<_> = live["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["manager"].as_str().unwrap().to_string())
        .collect();
    assert!(owners.contains(&"kubectl-scale".to_string()));
    let e = c
        .apply(&sts("dn", 2, "1Gi"), ApplyOptions::default())
        .await
        .unwrap_err();
    match &e {
        ClusterError::ApplyConflict { conflicts, .. } => {
            assert_eq!(conflicts.len(), 1);
            assert_eq!(conflicts[0].manager, "kubectl-scale");
            assert_eq!(conflicts[0].field, ".spec.replicas");
        }
        other => panic!("expected a conflict, got {other}"),
    }
    assert_eq!(
        e.to_string(),
        "apply StatefulSet default/dn: conflicts with fields another field manager owns: .spec.replicas (owned by \"kubectl-scale\"); change them back, or re-run with --force-conflicts to take them over"
    );
    // Applying the value the other manager set is no conflict (shared).
    c.apply(&sts("dn", 5, "1Gi"), ApplyOptions::default())
        .await
        .unwrap();
    // Forcing takes the field over.
    let forced = c
        .apply(
            &sts("dn", 2, "1Gi"),
            ApplyOptions {
                force: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(forced["spec"]["replicas"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_errors_are_clear() {
    let server = TestApiServer::start().await;
    // A wrong token: 401.
    let bad = Cluster::connect(&ConnectOptions {
        kubeconfig: Some(server.kubeconfig.clone()),
        context: Some("bad-token".into()),
        namespace: None,
    })
    .await
    .unwrap();
    let e = bad.server_version().await.unwrap_err();
    assert_eq!(e.to_string(), format!("the API server at {} rejected the credentials (401 Unauthorized): check the user's token or client certificate in the kubeconfig", server.url));
    // A CA that did not sign the server's certificate.
    let other = TestApiServer::start().await;
    let text = std::fs::read_to_string(&server.kubeconfig).unwrap();
    let wrong_ca = text.replace(&other.url, "UNUSED");
    let url_line = |t: &str| {
        t.lines()
            .find(|l| l.contains("certificate-authority-data"))
            .unwrap()
            .to_string()
    };
    let mixed = wrong_ca.replace(
        &url_line(&text),
        &url_line(&std::fs::read_to_string(&other.kubeconfig).unwrap()),
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("kc"), mixed).unwrap();
    let c = Cluster::connect(&ConnectOptions {
        kubeconfig: Some(dir.path().join("kc")),
        ..Default::default()
    })
    .await
    .unwrap();
    let e = c.server_version().await.unwrap_err();
    assert!(matches!(e, ClusterError::Tls { .. }), "{e}");
    assert!(
        e.to_string()
            .starts_with(&format!("TLS handshake with {} failed", server.url)),
        "{e}"
    );
    // Nothing listening.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    std::fs::write(
        dir.path().join("kc2"),
        text.replace(&server.url, &format!("https://127.0.0.1:{port}")),
    )
    .unwrap();
    let c = Cluster::connect(&ConnectOptions {
        kubeconfig: Some(dir.path().join("kc2")),
        ..Default::default()
    })
    .await
    .unwrap()
    .with_retry(RetryPolicy {
        max_retries: 1,
        min_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(20),
        max_total: Duration::from_secs(1),
    });
    let e = c.server_version().await.unwrap_err();
    assert_eq!(e.to_string(), format!("cannot reach the Kubernetes API server at https://127.0.0.1:{port}: connection refused"));
    // A kubeconfig that does not exist.
    let e = Cluster::connect(&ConnectOptions {
        kubeconfig: Some(dir.path().join("missing")),
        ..Default::default()
    })
    .await
    .err()
    .unwrap();
    assert!(
        e.to_string().starts_with(&format!(
            "kubeconfig {}",
            dir.path().join("missing").display()
        )),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_failures_are_retried_and_user_errors_are_not() {
    let server = TestApiServer::start().await;
    let c = connect(&server, None).await;
    let patches = |s: &TestApiServer, name: &str| {
        s.requests()
            .iter()
            .filter(|r| r.method == "PATCH" && r.path.ends_with(name))
            .count()
    };

    server.inject(Fault {
        matcher: Matcher::Request {
            method: Some("PATCH".into()),
            path_contains: "/configmaps/r1".into(),
        },
        action: FaultAction::Status(503),
        times: 1,
    });
    c.apply(&cm("r1", json!({})), ApplyOptions::default())
        .await
        .unwrap();
    assert_eq!(
        patches(&server, "/configmaps/r1"),
        2,
        "one 503, then success"
    );

    server.inject(Fault {
        matcher: Matcher::Request {
            method: Some("PATCH".into()),
            path_contains: "/configmaps/r2".into(),
        },
        action: FaultAction::Drop,
        times: 1,
    });
    c.apply(&cm("r2", json!({})), ApplyOptions::default())
        .await
        .unwrap();
    assert_eq!(
        patches(&server, "/configmaps/r2"),
        2,
        "a dropped connection, then success"
    );

    let e = c
        .apply(&cm("Bad_Name", json!({})), ApplyOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(e, ClusterError::Invalid { .. }));
    assert_eq!(
        patches(&server, "/configmaps/Bad_Name"),
        1,
        "422 is not retried"
    );

    server.inject(Fault {
        matcher: Matcher::Request {
            method: Some("PATCH".into()),
            path_contains: "/configmaps/r3".into(),
        },
        action: FaultAction::Status(500),
        times: 100,
    });
    let e = c
        .apply(&cm("r3", json!({})), ApplyOptions::default())
        .await
        .unwrap_err();
    assert_eq!(
        patches(&server, "/configmaps/r3"),
        3,
        "max_retries=2: three attempts"
    );
    assert_eq!(e.to_string(), "apply ConfigMap default/r3: the API server kept failing (500 injected failure (500)); gave up after 3 attempts");

    server.inject(Fault {
        matcher: Matcher::Request {
            method: Some("PATCH".into()),
            path_contains: "/configmaps/r4".into(),
        },
        action: FaultAction::TooManyRequests(1),
        times: 1,
    });
    let started = std::time::Instant::now();
    c.apply(&cm("r4", json!({})), ApplyOptions::default())
        .await
        .unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After is honoured"
    );
    assert_eq!(patches(&server, "/configmaps/r4"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_all_writes_each_object_once_and_nothing_when_unchanged() {
    let server = TestApiServer::start().await;
    let c = connect(&server, Some("hdfs")).await;
    c.apply(
        &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "hdfs"}}),
        ApplyOptions::default(),
    )
    .await
    .unwrap();
    let chart = windlass::chart::load(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("charts/hdfs"),
    )
    .unwrap();
    let user = windlass::values::UserValues::load(&windlass::values::ValueSources {
        files: vec![std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("charts/hdfs/examples/poc-single-node.yaml")],
        sets: vec![],
    })
    .unwrap();
    let resolved = windlass::values::resolve(&chart, &user).unwrap();
    let rendered = windlass::render::render(
        &chart,
        &resolved,
        &windlass::render::RenderOptions::offline("hdfs", "hdfs"),
    )
    .unwrap();
    let objects: Vec<Value> = rendered
        .manifests
        .iter()
        .map(|m| m.object.clone())
        .collect();
    let n = objects.len();

    let start = server.requests().len();
    let report = c
        .apply_all(&objects, ApplyOptions::default())
        .await
        .unwrap();
    assert_eq!(report.created.len(), n);
    let reqs = server.requests_since(start);
    assert_eq!(
        reqs.iter().filter(|r| r.is_write()).count(),
        n,
        "one write per object on install"
    );
    let reads = reqs.iter().filter(|r| !r.is_write()).count();
    assert!(
        reads <= 12,
        "a bounded number of discovery and list calls, got {reads}"
    );
    assert!(server
        .object("apps", "statefulsets", "hdfs", "hdfs-datanode")
        .is_some());
    assert!(server
        .object("", "persistentvolumes", "", "data0-hdfs-datanode-0.hdfs")
        .is_some());

    let start = server.requests().len();
    let report = c
        .apply_all(&objects, ApplyOptions::default())
        .await
        .unwrap();
    assert_eq!(report.unchanged.len(), n, "{report:?}");
    assert_eq!(
        server
            .requests_since(start)
            .iter()
            .filter(|r| r.is_write())
            .count(),
        0,
        "no writes for an unchanged set"
    );

    let mut changed = objects.clone();
    let cm_index = changed
        .iter()
        .position(|o| o["metadata"]["name"] == "hdfs-config")
        .unwrap();
    changed[cm_index]["data"]["extra"] = json!("1");
    let start = server.requests().len();
    let report = c
        .apply_all(&changed, ApplyOptions::default())
        .await
        .unwrap();
    assert_eq!(
        report.updated,
        vec!["ConfigMap hdfs/hdfs-config".to_string()]
    );
    assert_eq!(
        server
            .requests_since(start)
            .iter()
            .filter(|r| r.is_write())
            .count(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_ready_reports_what_is_not_ready() {
    let server = TestApiServer::start().await;
    let c = connect(&server, None).await;
    server.auto_ready(None);
    let s = sts("dn", 3, "1Gi");
    c.apply(&s, ApplyOptions::default()).await.unwrap();
    let e = c
        .wait_ready(
            std::slice::from_ref(&s),
            Duration::from_millis(300),
            Duration::from_millis(50),
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("StatefulSet default/dn: the controller has not seen the latest change yet (observed generation 0 < 1)"), "{e}");
    server.set_status("apps", "statefulsets", "default", "dn", json!({"observedGeneration": 1, "replicas": 3, "readyReplicas": 1, "updatedReplicas": 3, "currentRevision": "a", "updateRevision": "a"}));
    let e = c
        .wait_ready(
            std::slice::from_ref(&s),
            Duration::from_millis(200),
            Duration::from_millis(50),
        )
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("StatefulSet default/dn: 1/3 replicas ready"),
        "{e}"
    );
    server.auto_ready(Some(Duration::from_millis(100)));
    c.apply(&sts("dn", 4, "1Gi"), ApplyOptions::default())
        .await
        .unwrap();
    c.wait_ready(
        &[sts("dn", 4, "1Gi")],
        Duration::from_secs(10),
        Duration::from_millis(50),
    )
    .await
    .unwrap();
}

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_immutable_fields_and_scopes() {
    let server = TestApiServer::start().await;
    let c = connect(&server, None).await;
    let pvc = |size: &str, class: &str| json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "claim"}, "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": class, "resources": {"requests": {"storage": size}}}});
    c.apply(&pvc("1Gi", "a"), ApplyOptions::default())
        .await
        .unwrap();
    c.apply(&pvc("2Gi", "a"), ApplyOptions::default())
        .await
        .expect("storage requests may grow");
    let e = c
        .apply(&pvc("2Gi", "b"), ApplyOptions::default())
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains(
            "spec: Forbidden: spec is immutable after creation except resources.requests"
        ),
        "{e}"
    );
    let svc = |ip: &str| json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": {"clusterIP": ip, "ports": [{"port": 80}]}});
    c.apply(&svc("None"), ApplyOptions::default())
        .await
        .unwrap();
    let e = c
        .apply(&svc("10.96.0.50"), ApplyOptions::default())
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("spec.clusterIP: Invalid value: \"10.96.0.50\": field is immutable"),
        "{e}"
    );
    let job = |image: &str| json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"}, "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": image}]}}}});
    c.apply(&job("busybox:1"), ApplyOptions::default())
        .await
        .unwrap();
    let e = c
        .apply(&job("busybox:2"), ApplyOptions::default())
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("spec.template: Invalid value"),
        "{e}"
    );
    // A cluster-scoped object never carries a namespace, whatever the manifest says.
    let pv = json!({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "pv1", "namespace": "default"}, "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "hostPath": {"path": "/x"}}});
    let stored = c.apply(&pv, ApplyOptions::default()).await.unwrap();
    assert!(stored["metadata"].get("namespace").is_none());
    assert!(server
        .requests()
        .iter()
        .any(|r| r.path == "/api/v1/persistentvolumes/pv1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forbidden_and_nth_request_faults() {
    let server = TestApiServer::start().await;
    let c = connect(&server, None).await;
    c.server_version().await.unwrap();
    // Aggregated discovery (/api, /apis), then the apply.
    let next = server.requests().len() + 3;
    server.inject(Fault {
        matcher: Matcher::Nth(next),
        action: FaultAction::Status(403),
        times: 1,
    });
    let e = c
        .apply(&cm("f", json!({})), ApplyOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(e, ClusterError::Forbidden { .. }), "{e}");
    assert_eq!(
        e.to_string(),
        "apply ConfigMap default/f: forbidden: injected failure (403)"
    );
    assert_eq!(server.requests().len(), next, "403 is not retried");
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_applies_are_bounded() {
    let server = TestApiServer::start().await;
    let c = connect(&server, None).await.with_concurrency(4);
    let objects: Vec<Value> = (0..40)
        .map(|i| cm(&format!("c{i}"), json!({"i": i.to_string()})))
        .collect();
    // Every write takes a while, so parallel requests overlap.
    server.inject(Fault {
        matcher: Matcher::Request {
            method: Some("PATCH".into()),
            path_contains: "/configmaps/c".into(),
        },
        action: FaultAction::Delay(Duration::from_millis(30)),
        times: 1000,
    });
    c.apply_all(&objects, ApplyOptions::default())
        .await
        .unwrap();
    let max = server.max_in_flight();
    assert!(max <= 4, "at most 4 requests in flight, saw {max}");
    assert!(
        max >= 2,
        "objects of one kind are applied in parallel, saw {max}"
    );
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_500_without_a_reason_is_the_server_refusing_and_is_not_retried() {
    let server = TestApiServer::start().await;
    let c = connect(&server, Some("default"))
        .await
        .with_retry(RetryPolicy {
            max_retries: 5,
            min_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(20),
            max_total: Duration::from_secs(2),
        });
    let typo = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web-typo"},
        "spec": {"replicas": "3", "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]}}}});
    let before = server.requests().len();
    let e = c.apply(&typo, ApplyOptions::default()).await.unwrap_err();
    assert!(matches!(e, ClusterError::Refused { .. }), "{e:?}");
    assert_eq!(
        e.to_string(),
        "apply Deployment default/web-typo: the API server refused it: .spec.replicas: expected numeric (int or float), got string"
    );
    let sent: Vec<_> = server
        .requests_since(before)
        .into_iter()
        .filter(|r| r.path.ends_with("/deployments/web-typo"))
        .collect();
    assert_eq!(sent.len(), 1, "sent once, not retried: {sent:?}");
    // A 500 whose Status says the server failed (InternalError) is retried.
    server.inject(Fault {
        matcher: Matcher::Request {
            method: Some("PATCH".into()),
            path_contains: "configmaps/ok".into(),
        },
        action: FaultAction::Status(500),
        times: 2,
    });
    c.apply(&cm("ok", json!({"a": "1"})), ApplyOptions::default())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kind_whose_crd_was_just_applied_is_waited_for() {
    let server = TestApiServer::start().await;
    let c = connect(&server, Some("default")).await;
    let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.windlass.io"},
        "spec": {"group": "example.windlass.io", "scope": "Namespaced",
                 "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
                 "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {
                     "type": "object", "properties": {"spec": {"type": "object", "required": ["size"],
                     "properties": {"size": {"type": "integer", "minimum": 1}}}}}}}]}});
    let widget = json!({"apiVersion": "example.windlass.io/v1", "kind": "Widget", "metadata": {"name": "w1"}, "spec": {"size": 2}});
    // Before the CRD, the kind is unknown at once.
    assert!(matches!(
        c.apply(&widget, ApplyOptions::default()).await.unwrap_err(),
        ClusterError::UnknownKind { .. }
    ));
    c.apply(&crd, ApplyOptions::default()).await.unwrap();
    // The group is not served yet the first two times discovery asks.
    server.hide_from_discovery("example.windlass.io", 2);
    let from = server.requests().len();
    let stored = c.apply(&widget, ApplyOptions::default()).await.unwrap();
    assert_eq!(stored["spec"]["size"], 2);
    let apis = server
        .requests_since(from)
        .iter()
        .filter(|r| r.path == "/apis")
        .count();
    assert_eq!(apis, 3, "asked until the group was served");
    // The CRD's schema is enforced: below its minimum is a 422 naming the field.
    let e = c
        .apply(&json!({"apiVersion": "example.windlass.io/v1", "kind": "Widget", "metadata": {"name": "w2"}, "spec": {"size": 0}}), ApplyOptions::default())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("spec.size: Invalid value: 0"), "{e}");
}
