//! Release records survive any interruption: a chunked record is
//! interrupted between every pair of its writes and read back after each;
//! a damaged record is reported, not fatal.

mod support;

use serde_json::json;
use support::apiserver::{Fault, FaultAction, Matcher, TestApiServer};
use windlass::cluster::{Cluster, ConnectOptions, RetryPolicy};
use windlass::release::{ChartRef, Release, Status, Store};

async fn cluster(server: &TestApiServer) -> Cluster {
    let c = Cluster::connect(&ConnectOptions {
        kubeconfig: Some(server.kubeconfig.clone()),
        context: None,
        namespace: Some("apps".into()),
    })
    .await
    .unwrap()
    .with_retry(RetryPolicy {
        max_retries: 0,
        ..Default::default()
    });
    c.apply(
        &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "apps"}}),
        Default::default(),
    )
    .await
    .unwrap();
    c
}

/// Text gzip cannot shrink much: about `len` bytes of pseudo-random hex.
fn noise(seed: u64, len: usize) -> String {
    let mut x = seed | 1;
    let mut s = String::with_capacity(len);
    while s.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.push_str(&format!("{x:016x}"));
    }
    s
}

fn record(status: Status, manifest: String) -> Release {
    Release {
        name: "big".into(),
        namespace: "apps".into(),
        revision: 1,
        status,
        description: format!("{status} record"),
        first_deployed: "2026-11-26T00:00:00Z".into(),
        last_deployed: "2026-11-26T00:00:00Z".into(),
        chart: ChartRef {
            name: "big".into(),
            version: "1.0.0".into(),
            app_version: String::new(),
            digest: String::new(),
        },
        config: json!({}),
        computed: json!({}),
        manifest,
        notes: String::new(),
        created: Vec::new(),
        owned: Default::default(),
        hooks: Vec::new(),
        lookups: Vec::new(),
        damaged: None,
    }
}

fn chunk_secrets(server: &TestApiServer) -> Vec<String> {
    server
        .keys()
        .into_iter()
        .filter(|(gp, ns, name)| gp == "/secrets" && ns == "apps" && name.contains(".c"))
        .map(|(_, _, n)| n)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunked_record_interrupted_between_any_two_writes_stays_readable() {
    let server = TestApiServer::start().await;
    let c = cluster(&server).await;
    let store = Store::new(&c, "apps");
    // About 0.85 MB compressed: two parts.
    let old = record(Status::PendingInstall, noise(1, 1_600_000));
    let new = record(Status::Deployed, noise(2, 1_600_000));
    store.save(&old).await.unwrap();
    assert_eq!(chunk_secrets(&server).len(), 1);

    let mut interrupted_at = 0;
    for k in 1.. {
        let before = server.requests().len();
        server.inject(Fault {
            matcher: Matcher::Nth(before + k),
            action: FaultAction::Status(403),
            times: 1,
        });
        let saved = store.save(&new).await;
        server.clear_faults();
        let h = store.history("big").await.unwrap();
        assert_eq!(h.len(), 1);
        let r = &h[0];
        assert!(
            r.damaged.is_none(),
            "after failing request {k}: {:?}",
            r.damaged
        );
        let is_old = r.status == Status::PendingInstall && r.manifest == old.manifest;
        let is_new = r.status == Status::Deployed && r.manifest == new.manifest;
        assert!(is_old || is_new, "request {k}: a mix of two records");
        assert_eq!(r.description, format!("{} record", r.status));
        let listed = store.list(false).await.unwrap();
        assert_eq!(listed[0].status, r.status);
        if saved.is_ok() {
            // The fault fell past the last request: every point was tried.
            break;
        }
        interrupted_at = k;
        // Back to the old record for the next round.
        store.save(&old).await.unwrap();
        assert_eq!(
            store.history("big").await.unwrap()[0].manifest,
            old.manifest
        );
    }
    assert!(
        interrupted_at >= 4,
        "chunks, main, list, deletes: {interrupted_at}"
    );
    // The finished save left only its own set behind.
    assert_eq!(
        chunk_secrets(&server).len(),
        1,
        "{:?}",
        chunk_secrets(&server)
    );
    // A status change is one write of the main Secret (the chunks exist).
    let before = server.requests().len();
    let mut failed = new.clone();
    failed.status = Status::Failed;
    store.save(&failed).await.unwrap();
    let writes: Vec<_> = server
        .requests_since(before)
        .into_iter()
        .filter(|r| r.is_write() && r.status < 300)
        .collect();
    assert_eq!(writes.len(), 1, "{writes:?}");
    assert_eq!(
        store.history("big").await.unwrap()[0].status,
        Status::Failed
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_record_is_reported_and_the_rest_still_reads() {
    let server = TestApiServer::start().await;
    let c = cluster(&server).await;
    let store = Store::new(&c, "apps");
    let mut one = record(Status::Superseded, noise(3, 1_600_000));
    store.save(&one).await.unwrap();
    one.revision = 2;
    one.status = Status::Deployed;
    one.manifest = "---\nkind: ConfigMap\n".into();
    store.save(&one).await.unwrap();
    // Someone deletes a chunk of revision 1.
    let chunk = chunk_secrets(&server).into_iter().next().unwrap();
    c.delete("v1", "Secret", Some("apps"), &chunk)
        .await
        .unwrap();
    let h = store.history("big").await.unwrap();
    assert_eq!(h.len(), 2);
    let why = h[0].damaged.as_deref().unwrap();
    assert!(why.contains("is missing"), "{why}");
    assert_eq!(h[0].status, Status::Superseded);
    assert_eq!(h[0].description, "superseded record");
    assert!(h[1].damaged.is_none());
    // Never written back.
    assert!(store.save(&h[0]).await.is_err());
    // The CLI shows it with a warning, and exits 0.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_windlass"))
        .args(["history", "big", "-n", "apps", "--kubeconfig"])
        .arg(&server.kubeconfig)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("warning: release record windlass.release.v1.big.v1 is damaged"),
        "{stderr}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("superseded"));
    // Rolling back to it is refused, naming why.
    let mut ctx = windlass::action::Context::new(std::sync::Arc::new(cluster(&server).await));
    ctx.namespace = "apps".into();
    let e = windlass::action::rollback(&ctx, "big", Some(1), &Default::default())
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("revision 1 of release big cannot be used"),
        "{e}"
    );
}
