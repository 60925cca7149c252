//! Which resource serves an apiVersion and kind, from the server's
//! discovery documents, cached for the connection. Aggregated discovery
//! (`apidiscovery.k8s.io/v2`, GA since Kubernetes 1.30) answers for every
//! group in two requests (`/api`, `/apis`); a server without it gets one
//! request per group version instead. A kind whose CustomResourceDefinition
//! this connection just applied may not be served for a moment; it is
//! looked up again for a bounded time, as a controller establishing the
//! CRD will serve it soon (recording 105 shows it can be immediate; it is
//! not guaranteed).

use std::collections::HashMap;
use std::time::Duration;

use kube::core::discovery::v2::APIGroupDiscoveryList;
use kube::core::{ApiResource, GroupVersionKind};

use super::{Cluster, ClusterError, ResourceInfo};

/// The kinds a connection has discovered, by apiVersion.
#[derive(Debug, Default)]
pub(super) struct Cache {
    by_version: HashMap<String, Vec<(String, ResourceInfo)>>,
    /// `Some(true)` once aggregated discovery has filled `by_version`
    /// with everything the server serves; `Some(false)` when the server
    /// does not offer it (then group versions are fetched one by one).
    aggregated: Option<bool>,
}

impl Cache {
    fn add_aggregated(&mut self, list: APIGroupDiscoveryList) -> usize {
        let mut n = 0;
        for group in list.items {
            let name = group
                .metadata
                .as_ref()
                .and_then(|m| m.name.clone())
                .unwrap_or_default();
            for v in group.versions {
                let Some(version) = v.version else { continue };
                let api_version = if name.is_empty() {
                    version.clone()
                } else {
                    format!("{name}/{version}")
                };
                let entries = v
                    .resources
                    .into_iter()
                    .filter_map(|r| {
                        let kind = r.response_kind?.kind?;
                        let plural = r.resource?;
                        let gvk = GroupVersionKind::gvk(&name, &version, &kind);
                        Some((
                            kind,
                            ResourceInfo {
                                api_resource: ApiResource::from_gvk_with_plural(&gvk, &plural),
                                namespaced: r.scope.as_deref() == Some("Namespaced"),
                            },
                        ))
                    })
                    .collect::<Vec<_>>();
                n += entries.len();
                self.by_version.insert(api_version, entries);
            }
        }
        n
    }
}

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
                    let mut cache = self.discovery.lock().await;
                    cache.by_version.remove(api_version);
                    // Aggregated discovery is loaded again as a whole.
                    if cache.aggregated == Some(true) {
                        cache.aggregated = None;
                    }
                    drop(cache);
                    tokio::time::sleep(CRD_POLL).await;
                }
                other => return other,
            }
        }
    }

    /// Loads aggregated discovery; false when the server does not offer
    /// it (an older server answers the same paths with plain lists, which
    /// hold no resources).
    async fn load_aggregated(&self, cache: &mut Cache) -> Result<bool, ClusterError> {
        let core = self
            .retrying("discover the core API", || {
                self.client.list_core_api_versions_aggregated()
            })
            .await;
        let core = match core {
            Ok(c) => c,
            Err(e @ (ClusterError::Unauthorized { .. } | ClusterError::Tls { .. })) => {
                return Err(e)
            }
            // Not offered (404, 406, a body of another shape): the
            // per-group requests will say what is wrong, if anything.
            Err(_) => return Ok(false),
        };
        let apis = self
            .retrying("discover API groups", || {
                self.client.list_api_groups_aggregated()
            })
            .await?;
        let mut fresh = Cache::default();
        if fresh.add_aggregated(core) == 0 {
            return Ok(false);
        }
        fresh.add_aggregated(apis);
        cache.by_version = fresh.by_version;
        Ok(true)
    }

    /// Every apiVersion the server serves, and each `apiVersion/Kind`, for
    /// templates' `Capabilities.APIVersions`.
    pub async fn api_versions(&self) -> Result<Vec<String>, ClusterError> {
        // Resolving any core kind loads discovery.
        self.resolve("v1", "ConfigMap").await?;
        let mut cache = self.discovery.lock().await;
        // Groups of CRDs this connection applied since discovery was read
        // are served now (or soon): read it again.
        let stale = self.crd_groups.lock().is_ok_and(|groups| {
            groups.iter().any(|g| {
                !cache
                    .by_version
                    .keys()
                    .any(|av| av.split_once('/').is_some_and(|(cg, _)| cg == g))
            })
        });
        if stale && cache.aggregated == Some(true) {
            self.load_aggregated(&mut cache).await?;
        }
        if cache.aggregated != Some(true) {
            // Without aggregated discovery: group versions from the group
            // list (one request), kinds for those already looked up.
            let groups = self
                .retrying("list API groups", || self.client.list_api_groups())
                .await?;
            for g in groups.groups {
                for v in g.versions {
                    cache.by_version.entry(v.group_version).or_default();
                }
            }
            cache.by_version.entry("v1".into()).or_default();
        }
        let mut out = Vec::new();
        for (av, kinds) in &cache.by_version {
            out.push(av.clone());
            out.extend(kinds.iter().map(|(k, _)| format!("{av}/{k}")));
        }
        out.sort();
        Ok(out)
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
        if cache.aggregated.is_none() {
            let offered = self.load_aggregated(&mut cache).await?;
            cache.aggregated = Some(offered);
        }
        if cache.aggregated == Some(true) {
            return cache
                .by_version
                .get(api_version)
                .and_then(|v| v.iter().find(|(k, _)| k == kind))
                .map(|(_, info)| info.clone())
                .ok_or_else(unknown);
        }
        if !cache.by_version.contains_key(api_version) {
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
            cache.by_version.insert(api_version.to_string(), entries);
        }
        cache
            .by_version
            .get(api_version)
            .and_then(|v| v.iter().find(|(k, _)| k == kind))
            .map(|(_, info)| info.clone())
            .ok_or_else(unknown)
    }
}
