//! Which resource serves an apiVersion and kind, from the server's
//! discovery documents: one request per group version, cached for the
//! connection. A kind whose CustomResourceDefinition this connection just
//! applied may not be served for a moment; its 404 is retried for a
//! bounded time, as a controller establishing the CRD will serve it soon
//! (recording 105 shows it can be immediate; it is not guaranteed).

use std::time::Duration;

use kube::core::{ApiResource, GroupVersionKind};

use super::{Cluster, ClusterError, ResourceInfo};

/// How long a just-applied CRD's kind is waited for.
const CRD_WAIT: Duration = Duration::from_secs(10);
const CRD_POLL: Duration = Duration::from_millis(200);

impl Cluster {
    /// Remembers that this connection applied a CRD of `group`.
    pub(super) fn note_crd_group(&self, group: &str) {
        if let Ok(mut g) = self.crd_groups.lock() {
            g.insert(group.to_string());
        }
    }

    fn applied_crd_group(&self, api_version: &str) -> bool {
        let group = api_version.split_once('/').map_or("", |(g, _)| g);
        self.crd_groups
            .lock()
            .map(|g| g.contains(group))
            .unwrap_or(false)
    }

    /// Maps apiVersion and kind to the resource and its scope.
    pub async fn resolve(
        &self,
        api_version: &str,
        kind: &str,
    ) -> Result<ResourceInfo, ClusterError> {
        let deadline = tokio::time::Instant::now() + CRD_WAIT;
        loop {
            match self.resolve_once(api_version, kind).await {
                Err(ClusterError::UnknownKind { .. })
                    if self.applied_crd_group(api_version)
                        && tokio::time::Instant::now() < deadline =>
                {
                    self.discovery.lock().await.remove(api_version);
                    tokio::time::sleep(CRD_POLL).await;
                }
                other => return other,
            }
        }
    }

    async fn resolve_once(
        &self,
        api_version: &str,
        kind: &str,
    ) -> Result<ResourceInfo, ClusterError> {
        let unknown = || ClusterError::UnknownKind {
            api_version: api_version.into(),
            kind: kind.into(),
        };
        let mut cache = self.discovery.lock().await;
        if !cache.contains_key(api_version) {
            let action = format!("discover {api_version}");
            let list = if api_version.contains('/') {
                self.retrying(&action, || {
                    self.client.list_api_group_resources(api_version)
                })
                .await
            } else {
                self.retrying(&action, || self.client.list_core_api_resources(api_version))
                    .await
            };
            let list = match list {
                Ok(l) => l,
                Err(ClusterError::NotFound { .. }) => return Err(unknown()),
                Err(e) => return Err(e),
            };
            let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
            let entries = list
                .resources
                .iter()
                .filter(|r| !r.name.contains('/'))
                .map(|r| {
                    let gvk = GroupVersionKind::gvk(group, version, &r.kind);
                    (
                        r.kind.clone(),
                        ResourceInfo {
                            api_resource: ApiResource::from_gvk_with_plural(&gvk, &r.name),
                            namespaced: r.namespaced,
                        },
                    )
                })
                .collect();
            cache.insert(api_version.to_string(), entries);
        }
        cache
            .get(api_version)
            .and_then(|v| v.iter().find(|(k, _)| k == kind))
            .map(|(_, info)| info.clone())
            .ok_or_else(unknown)
    }
}
