//! Release records and locks against the test API server: records too
//! large for one Secret are chunked, operations exclude each other, and a
//! dead holder's Lease expires and is taken over.

mod support;

use std::sync::Arc;
use std::time::Duration;

use support::apiserver::{Fault, FaultAction, Matcher, TestApiServer};
use support::release::*;
use windlass::action::{self, ValuesMode};
use windlass::release::Status;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_records_are_chunked_and_read_back() {
    let server = TestApiServer::start().await;
    let c = ctx(&server, "apps", 2).await;
    let dir = tempfile::tempdir().unwrap();
    let chart = small_chart(dir.path());
    // 12,000 ConfigMaps of 256 random hex characters: several MiB rendered.
    let out = action::install(&c, &chart, &values(&[], &["big=12000"]), &opts("big"))
        .await
        .unwrap();
    assert!(
        out.manifest.len() > 4 * 1024 * 1024,
        "{} bytes",
        out.manifest.len()
    );
    let chunks: Vec<_> = server
        .keys()
        .into_iter()
        .filter(|(gp, _, n)| gp == "/secrets" && n.starts_with("windlass.release.v1.big.v1"))
        .collect();
    assert!(chunks.len() >= 2, "{chunks:?}");
    let back = action::get(&c, "big", None).await.unwrap();
    assert_eq!(back.manifest, out.manifest);
    assert_eq!(back.status, Status::Deployed);
    action::uninstall(&c, "big", &uninstall_opts(false, false))
        .await
        .unwrap();
    assert!(
        server
            .keys()
            .iter()
            .all(|(gp, _, n)| !(gp == "/secrets" && n.starts_with("windlass.release"))),
        "chunks deleted too"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_operations_exclude_each_other() {
    let server = TestApiServer::start().await;
    // A short lease, renewed every 0.5 s: the renewal is what tells the
    // second operation that the first one's holder is alive.
    let mut c = ctx(&server, "apps", 2).await;
    c.lock_duration = Duration::from_millis(1500);
    let c = Arc::new(c);
    let dir = tempfile::tempdir().unwrap();
    let chart = Arc::new(small_chart(dir.path()));
    action::install(&c, &chart, &values(&[], &[]), &opts("r"))
        .await
        .unwrap();
    // Hold the first upgrade's write of its ConfigMap: it then holds the
    // lock (and keeps renewing it) until the test lets it go on.
    let held = server.hold(Matcher::Write {
        method: Some("PATCH".into()),
        path_contains: "configmaps/r-main?".into(),
    });
    let (c1, ch1) = (c.clone(), chart.clone());
    let first = tokio::spawn(async move {
        action::upgrade(
            &c1,
            &ch1,
            &values(&[], &["data=a"]),
            &opts("r"),
            ValuesMode::Reset,
            false,
        )
        .await
    });
    held.arrived().await;
    let second = action::upgrade(
        &c,
        &chart,
        &values(&[], &["data=b"]),
        &opts("r"),
        ValuesMode::Reset,
        false,
    )
    .await;
    held.release();
    let first = first.await.unwrap();
    assert!(first.is_ok(), "{:?}", first.err());
    let e = second.unwrap_err();
    assert!(
        e.to_string()
            .starts_with("another operation on r is in progress (held by windlass/"),
        "{e}"
    );
    assert_eq!(config_map(&server, "apps", "r-main")["data"]["value"], "a");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_holder_leaves_a_lease_that_expires_and_is_taken_over() {
    let server = TestApiServer::start().await;
    let mut c = ctx(&server, "apps", 2).await;
    c.lock_duration = Duration::from_secs(2);
    let dir = tempfile::tempdir().unwrap();
    let chart = small_chart(dir.path());
    action::install(&c, &chart, &values(&[], &[]), &opts("r"))
        .await
        .unwrap();
    // An upgrade that dies after recording its pending revision: the client
    // is dropped while the (delayed) apply is in flight.
    server.inject(Fault {
        matcher: Matcher::Write {
            method: Some("PATCH".into()),
            path_contains: "configmaps/r-main?".into(),
        },
        action: FaultAction::Delay(Duration::from_secs(3)),
        times: 1,
    });
    let dying = {
        let c2 = ctx(&server, "apps", 2).await;
        let chart = chart.clone();
        tokio::spawn(async move {
            let mut c2 = c2;
            c2.lock_duration = Duration::from_secs(2);
            action::upgrade(
                &c2,
                &chart,
                &values(&[], &["data=lost"]),
                &opts("r"),
                ValuesMode::Reset,
                false,
            )
            .await
        })
    };
    // Kill it once its pending revision is recorded.
    wait_for(|| {
        server
            .object("", "secrets", "apps", "windlass.release.v1.r.v2")
            .is_some_and(|s| s["metadata"]["labels"]["status"] == "pending-upgrade")
    })
    .await;
    dying.abort();
    let h = action::history(&c, "r").await.unwrap();
    assert_eq!(h.last().unwrap().status, Status::PendingUpgrade);
    // The next operation watches the Lease; unrenewed for its whole
    // duration (timed here, not from the Lease's renewTime), it is taken
    // over and the interrupted revision recovered.
    let out = action::upgrade(
        &c,
        &chart,
        &values(&[], &["data=next"]),
        &opts("r"),
        ValuesMode::Reset,
        false,
    )
    .await
    .unwrap();
    let h = action::history(&c, "r").await.unwrap();
    assert_eq!(h[1].status, Status::Failed);
    assert!(
        h[1].description
            .contains("interrupted: its operation (held by windlass/"),
        "{}",
        h[1].description
    );
    assert_eq!(out.release.status, Status::Deployed);
    assert_eq!(
        config_map(&server, "apps", "r-main")["data"]["value"],
        "next"
    );
}
