//! The cluster layer through the real kube-rs client, over HTTPS, against
//! the test API server: discovery, apply, plans, waits (errors:
//! cluster_errors.rs; the CLI against it: cluster_cli.rs).

mod support;

use std::time::Duration;

use serde_json::{json, Value};
use support::apiserver::{Fault, FaultAction, Matcher, TestApiServer};
use support::cluster::{cm, connect, sts};
use windlass::cluster::{ApplyOptions, ClusterError};

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
