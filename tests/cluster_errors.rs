//! The cluster layer's errors and retries against the test API server:
//! user terms, conflicts, connection failures, transient and permanent
//! faults, and kinds whose CRD was just applied.

mod support;

use std::time::Duration;

use serde_json::json;
use support::apiserver::{Fault, FaultAction, Matcher, TestApiServer};
use support::cluster::{cm, connect, sts};
use windlass::cluster::{ApplyOptions, Cluster, ClusterError, ConnectOptions, RetryPolicy};

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
