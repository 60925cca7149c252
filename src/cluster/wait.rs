//! Waiting: for objects to become ready, polled until a timeout.

use std::time::Duration;

use serde_json::Value;

use super::{describe, ready, Cluster, ClusterError};

impl Cluster {
    /// Polls the objects until each is ready or `timeout` passes; then fails
    /// with one line per object that is not ready and why.
    pub async fn wait_ready(
        &self,
        objects: &[Value],
        timeout: Duration,
        poll: Duration,
    ) -> Result<(), ClusterError> {
        self.wait_ready_with(objects, timeout, poll, &|_| {}).await
    }

    /// Like [`Cluster::wait_ready`], calling `progress` after each poll with
    /// the objects not ready yet and why.
    pub async fn wait_ready_with(
        &self,
        objects: &[Value],
        timeout: Duration,
        poll: Duration,
        progress: &(dyn Fn(&[String]) + Sync),
    ) -> Result<(), ClusterError> {
        poll_until(timeout, poll, progress, || async {
            let mut not_ready = Vec::new();
            for obj in objects {
                let (_, obj) = self.prepare(obj).await?;
                let live = self.get_object(&obj).await?;
                let state = match &live {
                    None => ready::Readiness::NotReady("does not exist".into()),
                    Some(l) => ready::readiness(l),
                };
                if let ready::Readiness::NotReady(why) = state {
                    not_ready.push(format!("{}: {why}", describe(&obj)));
                }
            }
            Ok(not_ready)
        })
        .await
    }
}

/// Runs `check` every `poll` until it reports nothing left (each report a
/// line per object still waited for, passed to `progress`), or `timeout`
/// passes: then [`ClusterError::Timeout`] with the last report.
pub(crate) async fn poll_until<F, Fut>(
    timeout: Duration,
    poll: Duration,
    progress: &(dyn Fn(&[String]) + Sync),
    mut check: F,
) -> Result<(), ClusterError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Vec<String>, ClusterError>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let left = check().await?;
        progress(&left);
        if left.is_empty() {
            return Ok(());
        }
        if tokio::time::Instant::now() + poll > deadline {
            return Err(ClusterError::Timeout {
                seconds: timeout.as_secs(),
                not_ready: left,
            });
        }
        tokio::time::sleep(poll).await;
    }
}
