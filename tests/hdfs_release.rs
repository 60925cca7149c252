//! The HDFS chart installed as releases against the test API server, where
//! releases meet: cluster-scoped objects (poc PersistentVolumes,
//! rack-awareness ClusterRoles) named from namespace and release.

mod support;

use serde_json::json;
use support::apiserver::TestApiServer;
use support::release::*;
use windlass::action::{self, ActionError};
use windlass::render::lookup::LookupKey;

/// Release `c` in namespace `a-b` and release `b-c` in namespace `a`: the
/// old PV names (`<namespace>-<fullname>-<claim>-<ordinal>`) were the same
/// for both (`a-b-c-hdfs-name-0`). PVs are now named `<claim>.<namespace>`
/// (no dot in either part), so both releases install side by side, each
/// PV bound to its own namespace's claim and directory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_releases_whose_names_join_alike_get_their_own_pvs() {
    let server = TestApiServer::start().await;
    let chart = windlass::chart::load(&root().join("charts/hdfs")).unwrap();
    let poc = values(&["charts/hdfs/examples/poc-single-node.yaml"], &[]);
    for (ns, release) in [("a-b", "c"), ("a", "b-c")] {
        let c = ctx(&server, ns, 0).await;
        action::install(&c, &chart, &poc, &opts(release))
            .await
            .unwrap_or_else(|e| panic!("{release} in {ns}: {e}"));
    }
    for (pv, ns, release) in [
        ("name-c-hdfs-namenode-0.a-b", "a-b", "c"),
        ("name-b-c-hdfs-namenode-0.a", "a", "b-c"),
    ] {
        let pv = server
            .object("", "persistentvolumes", "", pv)
            .unwrap_or_else(|| panic!("{pv}"));
        assert_eq!(pv["spec"]["claimRef"]["namespace"], ns);
        assert_eq!(
            pv["spec"]["hostPath"]["path"],
            format!("/var/lib/hdfs-poc/{ns}/{release}/namenode-0/name")
        );
    }
}

/// A PV of the release's name that someone else made is refused before
/// anything is written, naming it: it is never dry-run (its immutable
/// hostPath made the dry run fail and hid the real problem) nor taken over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pv_of_the_same_name_that_is_someone_elses_is_refused_not_taken_over() {
    let server = TestApiServer::start().await;
    let chart = windlass::chart::load(&root().join("charts/hdfs")).unwrap();
    let c = ctx(&server, "data", 0).await;
    let theirs = json!({"apiVersion": "v1", "kind": "PersistentVolume",
        "metadata": {"name": "name-hdfs-namenode-0.data"},
        "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": "Retain", "storageClassName": "manual",
            "hostPath": {"path": "/srv/someone-elses"}}});
    c.cluster
        .create(&json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "data"}}))
        .await
        .unwrap();
    c.cluster.create(&theirs).await.unwrap();
    let before = server
        .object("", "persistentvolumes", "", "name-hdfs-namenode-0.data")
        .unwrap();
    let from = server.requests().len();
    let poc = values(&["charts/hdfs/examples/poc-single-node.yaml"], &[]);
    // A server dry run says the same, without dry-running it either.
    let dry = action::install(
        &c,
        &chart,
        &poc,
        &action::DeployOptions {
            dry_run: action::DryRun::Server,
            ..opts("hdfs")
        },
    )
    .await
    .unwrap_err();
    assert!(matches!(dry, ActionError::NotOwned { .. }), "{dry}");
    let err = action::install(&c, &chart, &poc, &opts("hdfs"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ActionError::NotOwned { object, .. } if object.contains("name-hdfs-namenode-0.data")),
        "{err}"
    );
    assert!(
        err.to_string().contains("created outside windlass"),
        "{err}"
    );
    let after = server
        .object("", "persistentvolumes", "", "name-hdfs-namenode-0.data")
        .unwrap();
    assert_eq!(after["spec"], before["spec"]);
    let pv_requests: Vec<String> = server.requests()[from..]
        .iter()
        .filter(|r| {
            r.path
                .ends_with("/persistentvolumes/name-hdfs-namenode-0.data")
        })
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert!(
        pv_requests.iter().all(|r| !r.starts_with("PATCH")),
        "no apply, not even a dry run: {pv_requests:?}"
    );
}

/// A release installed before the rename keeps its PV names: a renamed PV
/// would be a second PV for a claim that is already bound. The chart looks
/// up the namenode's PV under the old name once.
#[test]
fn a_release_with_old_pv_names_keeps_them() {
    let chart = windlass::chart::load(&root().join("charts/hdfs")).unwrap();
    let resolved = windlass::values::resolve(
        &chart,
        &values(&["charts/hdfs/examples/poc-single-node.yaml"], &[]),
    )
    .unwrap();
    let names = |old_pv_exists: bool| {
        let mut opts = windlass::render::RenderOptions::offline("hdfs", "data");
        let key = LookupKey {
            api_version: "v1".into(),
            kind: "PersistentVolume".into(),
            namespace: String::new(),
            name: "data-hdfs-name-0".into(),
        };
        opts.lookups = Some(
            old_pv_exists
                .then(|| {
                    (
                        key,
                        json!({"metadata": {"name": "data-hdfs-name-0"}, "spec": {}}),
                    )
                })
                .into_iter()
                .collect(),
        );
        let r = windlass::render::render(&chart, &resolved, &opts).unwrap();
        let mut pvs: Vec<String> = r
            .manifests
            .iter()
            .filter(|m| m.kind == "PersistentVolume")
            .map(|m| m.name.clone())
            .collect();
        pvs.truncate(3);
        pvs
    };
    assert_eq!(
        names(false),
        [
            "name-hdfs-namenode-0.data",
            "checkpoint-hdfs-secondarynamenode-0.data",
            "data0-hdfs-datanode-0.data"
        ]
    );
    assert_eq!(
        names(true),
        [
            "data-hdfs-name-0",
            "data-hdfs-checkpoint-0",
            "data-hdfs-data0-0"
        ]
    );
}
