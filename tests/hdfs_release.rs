//! The HDFS chart installed as releases against the test API server, where
//! two releases meet: cluster-scoped objects (poc PersistentVolumes,
//! rack-awareness ClusterRoles) named from namespace and release.

mod support;

use support::apiserver::TestApiServer;
use support::release::*;
use windlass::action::{self, ActionError};

/// PV names join namespace and base name with '-', so release `c` in
/// namespace `a-b` and release `b-c` in namespace `a` name their poc PVs
/// alike (`a-b-c-hdfs-name-0`). The second install must not take the first
/// one's volumes: it is refused before anything is written, naming the
/// owner, and the PV still belongs to the first release's claim.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pv_name_shared_by_two_releases_is_refused_not_taken_over() {
    let server = TestApiServer::start().await;
    let chart = windlass::chart::load(&root().join("charts/hdfs")).unwrap();
    let poc = values(&["charts/hdfs/examples/poc-single-node.yaml"], &[]);
    let first = ctx(&server, "a-b", 0).await;
    action::install(&first, &chart, &poc, &opts("c"))
        .await
        .unwrap();
    let pv = server
        .object("", "persistentvolumes", "", "a-b-c-hdfs-name-0")
        .expect("the first release's namenode PV");
    assert_eq!(pv["spec"]["claimRef"]["namespace"], "a-b");

    let second = ctx(&server, "a", 0).await;
    let from = server.requests().len();
    let err = action::install(&second, &chart, &poc, &opts("b-c"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ActionError::NotOwned { object, .. } if object.contains("a-b-c-hdfs-name-0")),
        "{err}"
    );
    assert!(
        err.to_string().contains("is not owned by release b-c"),
        "{err}"
    );
    let after = server
        .object("", "persistentvolumes", "", "a-b-c-hdfs-name-0")
        .unwrap();
    assert_eq!(
        after["spec"], pv["spec"],
        "the first release's PV is untouched"
    );
    let writes: Vec<String> = server.requests()[from..]
        .iter()
        .filter(|r| r.is_write() && r.path.contains("persistentvolumes"))
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert!(writes.is_empty(), "{writes:?}");
}
