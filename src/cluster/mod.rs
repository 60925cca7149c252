//! The only module that talks to Kubernetes, through kube-rs: connection
//! from a kubeconfig, discovery, server-side apply, get, list, delete,
//! create and update, with retries, bounded concurrency and readiness checks.

mod delete;
mod discovery;
pub mod error;
mod logs;
mod lookup;

mod plan;
pub mod ready;
mod wait;

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::ApiResource;
use serde_json::Value;
use tokio::sync::Mutex;

pub use crate::object::{describe, ObjectRef};
pub use delete::{DeleteOptions, Propagation};
pub use error::{Cause, ClusterError, FieldConflict};
pub use plan::{owned_digest, ApplyReport, Change, Planned};
pub(crate) use wait::poll_until;

/// Field manager name for server-side apply.
pub const FIELD_MANAGER: &str = crate::TOOL_NAME;

/// Where to find the cluster.
#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    /// `--kubeconfig`; otherwise `KUBECONFIG`, `~/.kube/config`, or in-cluster.
    pub kubeconfig: Option<PathBuf>,
    /// `--kube-context`; otherwise the current context.
    pub context: Option<String>,
    /// `-n`; otherwise the context's namespace, or `default`.
    pub namespace: Option<String>,
}

/// Retry policy for idempotent requests.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: usize,
    /// First delay.
    pub min_delay: Duration,
    /// Largest delay between attempts (a server's Retry-After is capped here too).
    pub max_delay: Duration,
    /// Total time spent waiting between attempts.
    pub max_total: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 5,
            min_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
            max_total: Duration::from_secs(60),
        }
    }
}

/// A resource type as discovery describes it.
#[derive(Debug, Clone)]
pub struct ResourceInfo {
    /// Group, version, kind and plural.
    pub api_resource: ApiResource,
    /// Namespaced, or cluster-scoped.
    pub namespaced: bool,
}

/// Options of an apply.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApplyOptions {
    /// Take over fields other managers own.
    pub force: bool,
    /// Send as a server dry-run: validated, not stored.
    pub dry_run: bool,
}

/// A connection to one cluster.
pub struct Cluster {
    client: kube::Client,
    server: String,
    namespace: String,
    discovery: Mutex<discovery::Cache>,
    /// Groups of the CustomResourceDefinitions this connection applied:
    /// their kinds may take a moment to be served.
    crd_groups: std::sync::Mutex<std::collections::HashSet<String>>,
    retry: RetryPolicy,
    concurrency: usize,
}

/// Whether a failed request can succeed if sent again. A 500 is retried
/// only when its Status says the server itself failed (`InternalError`,
/// `ServerTimeout`); a 500 without a reason is the server refusing the
/// object (server-side apply's type errors, duplicate list keys, unknown
/// fields: recordings 33-40 and 63-65), which no retry can change.
pub(crate) fn is_retryable(e: &kube::Error) -> bool {
    match e {
        kube::Error::Api(s) => match s.code {
            429 | 502 | 503 | 504 => true,
            500 => matches!(s.reason.as_str(), "InternalError" | "ServerTimeout"),
            _ => false,
        },
        kube::Error::HyperError(_) | kube::Error::Service(_) => true,
        _ => false,
    }
}

fn retry_after(e: &kube::Error) -> Option<Duration> {
    match e {
        kube::Error::Api(s) if is_retryable(e) => s
            .details
            .as_ref()
            .map(|d| d.retry_after_seconds)
            .filter(|s| *s > 0)
            .map(|s| Duration::from_secs(u64::from(s))),
        _ => None,
    }
}

impl Cluster {
    /// Connects using a kubeconfig (or in-cluster configuration).
    pub async fn connect(opts: &ConnectOptions) -> Result<Cluster, ClusterError> {
        // kube uses rustls with ring; make it the process default so no
        // other provider can be picked up.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let kc_opts = KubeConfigOptions {
            context: opts.context.clone(),
            cluster: None,
            user: None,
        };
        let config = match &opts.kubeconfig {
            Some(path) => {
                let kc = Kubeconfig::read_from(path).map_err(|e| ClusterError::Kubeconfig {
                    path: path.display().to_string(),
                    message: e.to_string(),
                })?;
                kube::Config::from_custom_kubeconfig(kc, &kc_opts)
                    .await
                    .map_err(|e| ClusterError::Kubeconfig {
                        path: path.display().to_string(),
                        message: e.to_string(),
                    })?
            }
            None => match Kubeconfig::read() {
                Ok(kc) => kube::Config::from_custom_kubeconfig(kc, &kc_opts)
                    .await
                    .map_err(|e| ClusterError::Kubeconfig {
                        path: std::env::var("KUBECONFIG")
                            .unwrap_or_else(|_| "~/.kube/config".into()),
                        message: e.to_string(),
                    })?,
                Err(read_err) => kube::Config::incluster()
                    .map_err(|_| ClusterError::NotConfigured(read_err.to_string()))?,
            },
        };
        let server = config
            .cluster_url
            .to_string()
            .trim_end_matches('/')
            .to_string();
        let namespace = opts
            .namespace
            .clone()
            .unwrap_or_else(|| config.default_namespace.clone());
        let client =
            kube::Client::try_from(config).map_err(|e| error::map(e, "connect", &server, 1))?;
        Ok(Cluster {
            client,
            server,
            namespace,
            discovery: Mutex::new(discovery::Cache::default()),
            crd_groups: Default::default(),
            retry: RetryPolicy::default(),
            concurrency: 8,
        })
    }

    /// Replaces the retry policy.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Replaces the number of requests in flight for [`Cluster::apply_all`].
    pub fn with_concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// How many requests [`Cluster::apply_all`] and its kin keep in flight.
    pub fn concurrency(&self) -> usize {
        self.concurrency
    }

    /// The API server URL.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// The namespace objects without one go to.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// Runs an idempotent request with bounded, jittered exponential backoff
    /// on 429 (honouring Retry-After), 5xx and dropped connections. 4xx
    /// errors are returned at once.
    async fn retrying<T, F, Fut>(&self, action: &str, f: F) -> Result<T, ClusterError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, kube::Error>>,
    {
        let attempts = AtomicUsize::new(1);
        let policy = ExponentialBuilder::default()
            .with_min_delay(self.retry.min_delay)
            .with_max_delay(self.retry.max_delay)
            .with_max_times(self.retry.max_retries)
            .with_total_delay(Some(self.retry.max_total))
            .with_jitter();
        let max_delay = self.retry.max_delay;
        f.retry(policy)
            .sleep(tokio::time::sleep)
            .when(is_retryable)
            .adjust(|e, d| d.map(|d| retry_after(e).map(|r| r.min(max_delay)).unwrap_or(d)))
            .notify(|_, _| {
                attempts.fetch_add(1, Ordering::Relaxed);
            })
            .await
            .map_err(|e| error::map(e, action, &self.server, attempts.load(Ordering::Relaxed)))
    }

    /// The server's Kubernetes version (`v1.32.13`).
    pub async fn server_version(&self) -> Result<String, ClusterError> {
        let info = self
            .retrying("read the server version", || {
                self.client.apiserver_version()
            })
            .await?;
        Ok(info.git_version)
    }

    pub(crate) fn api(&self, info: &ResourceInfo, namespace: Option<&str>) -> Api<DynamicObject> {
        match (info.namespaced, namespace) {
            (true, Some(ns)) => Api::namespaced_with(self.client.clone(), ns, &info.api_resource),
            (true, None) => {
                Api::namespaced_with(self.client.clone(), &self.namespace, &info.api_resource)
            }
            (false, _) => Api::all_with(self.client.clone(), &info.api_resource),
        }
    }

    /// Resolves an object's type and puts it in the right namespace: the
    /// release namespace when namespaced and unset, none when cluster-scoped.
    pub async fn prepare(&self, obj: &Value) -> Result<(ResourceInfo, Value), ClusterError> {
        let api_version = obj["apiVersion"].as_str().unwrap_or_default();
        let kind = obj["kind"].as_str().unwrap_or_default();
        if api_version.is_empty() || kind.is_empty() || obj["metadata"]["name"].as_str().is_none() {
            return Err(ClusterError::BadObject(format!(
                "{}: apiVersion, kind and metadata.name are required",
                describe(obj)
            )));
        }
        let info = self.resolve(api_version, kind).await?;
        let mut obj = obj.clone();
        if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
            if info.namespaced {
                meta.entry("namespace")
                    .or_insert_with(|| Value::String(self.namespace.clone()));
            } else {
                meta.remove("namespace");
            }
        }
        Ok((info, obj))
    }

    fn to_dynamic(obj: &Value) -> Result<DynamicObject, ClusterError> {
        serde_json::from_value(obj.clone())
            .map_err(|e| ClusterError::BadObject(format!("{}: {e}", describe(obj))))
    }

    fn to_value(obj: DynamicObject) -> Value {
        serde_json::to_value(obj).unwrap_or(Value::Null)
    }

    /// Server-side applies one object (field manager `windlass`) and returns
    /// what the server stored (or would store, on a dry run).
    pub async fn apply(&self, obj: &Value, opts: ApplyOptions) -> Result<Value, ClusterError> {
        let (info, obj) = self.prepare(obj).await?;
        let name = obj["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let api = self.api(&info, obj["metadata"]["namespace"].as_str());
        let mut params = PatchParams::apply(FIELD_MANAGER);
        if opts.force {
            params = params.force();
        }
        if opts.dry_run {
            params = params.dry_run();
        }
        let patch = Patch::Apply(Self::to_dynamic(&obj)?);
        let action = format!(
            "{} {}",
            if opts.dry_run {
                "dry-run apply"
            } else {
                "apply"
            },
            describe(&obj)
        );
        let out = self
            .retrying(&action, || api.patch(&name, &params, &patch))
            .await?;
        if !opts.dry_run && obj["kind"] == "CustomResourceDefinition" {
            if let Some(group) = obj["spec"]["group"].as_str() {
                self.note_crd_group(group);
            }
        }
        Ok(Self::to_value(out))
    }

    /// Reads one object; `None` when it does not exist.
    pub async fn get(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Option<Value>, ClusterError> {
        let info = self.resolve(api_version, kind).await?;
        let api = self.api(&info, namespace);
        let action = format!("get {kind} {name}");
        Ok(self
            .retrying(&action, || api.get_opt(name))
            .await?
            .map(Self::to_value))
    }

    /// Reads the live version of the object a manifest describes; `None`
    /// when it does not exist.
    pub async fn get_object(&self, obj: &Value) -> Result<Option<Value>, ClusterError> {
        let (info, obj) = self.prepare(obj).await?;
        self.get(
            &info.api_resource.api_version,
            &info.api_resource.kind,
            obj["metadata"]["namespace"].as_str(),
            obj["metadata"]["name"].as_str().unwrap_or_default(),
        )
        .await
    }

    /// Lists objects of a kind matching a label selector (`a=b,c=d`; empty
    /// for all), in `namespace` or else the connection's namespace.
    pub async fn list(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        selector: &str,
    ) -> Result<Vec<Value>, ClusterError> {
        let info = self.resolve(api_version, kind).await?;
        let api = self.api(&info, namespace);
        let params = ListParams::default().labels(selector);
        let action = format!("list {kind}");
        let list = self.retrying(&action, || api.list(&params)).await?;
        Ok(list
            .items
            .into_iter()
            .map(|mut o| {
                o.types.get_or_insert_with(|| kube::core::TypeMeta {
                    api_version: api_version.to_string(),
                    kind: kind.to_string(),
                });
                Self::to_value(o)
            })
            .collect())
    }

    /// Creates an object (fails with AlreadyExists when it exists).
    pub async fn create(&self, obj: &Value) -> Result<Value, ClusterError> {
        let (info, obj) = self.prepare(obj).await?;
        let api = self.api(&info, obj["metadata"]["namespace"].as_str());
        let dynamic = Self::to_dynamic(&obj)?;
        let params = PostParams {
            dry_run: false,
            field_manager: Some(FIELD_MANAGER.into()),
        };
        let action = format!("create {}", describe(&obj));
        // Not retried on transport errors: a lost response could mean it was
        // created, and a retry would then fail with AlreadyExists.
        let out = api
            .create(&params, &dynamic)
            .await
            .map(Self::to_value)
            .map_err(|e| error::map(e, &action, &self.server, 1))?;
        if obj["kind"] == "CustomResourceDefinition" {
            if let Some(group) = obj["spec"]["group"].as_str() {
                self.note_crd_group(group);
            }
        }
        Ok(out)
    }

    /// Replaces an object; `metadata.resourceVersion` must be the one read,
    /// so a concurrent change fails with [`ClusterError::Conflict`].
    pub async fn replace(&self, obj: &Value) -> Result<Value, ClusterError> {
        let (info, mut obj) = self.prepare(obj).await?;
        // An update that carries managedFields replaces the server's
        // ownership records with them; leave them to the server.
        if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.remove("managedFields");
        }
        let name = obj["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let api = self.api(&info, obj["metadata"]["namespace"].as_str());
        let dynamic = Self::to_dynamic(&obj)?;
        let params = PostParams {
            dry_run: false,
            field_manager: Some(FIELD_MANAGER.into()),
        };
        let action = format!("update {}", describe(&obj));
        // Safe to retry: the resourceVersion makes a repeated write a Conflict.
        self.retrying(&action, || api.replace(&name, &params, &dynamic))
            .await
            .map(Self::to_value)
    }

    /// Lists objects of a kind in every namespace.
    pub async fn list_all(
        &self,
        api_version: &str,
        kind: &str,
        selector: &str,
    ) -> Result<Vec<Value>, ClusterError> {
        let info = self.resolve(api_version, kind).await?;
        let api: Api<DynamicObject> = Api::all_with(self.client.clone(), &info.api_resource);
        let params = ListParams::default().labels(selector);
        let action = format!("list {kind} in all namespaces");
        let list = self.retrying(&action, || api.list(&params)).await?;
        Ok(list.items.into_iter().map(Self::to_value).collect())
    }
}
