//! A small Kubernetes API server for tests: real HTTPS on 127.0.0.1 with a
//! CA it generates, a kubeconfig pointing at it, bearer-token auth, and the
//! observable behaviour of a real kube-apiserver that windlass relies on
//! (discovery, server-side apply with managedFields and conflicts, dry-run,
//! validation and immutable fields, 404/409/422 Status bodies shaped like the
//! recordings in shared/k8s-api-recordings). Tests drive it through the real
//! kube-rs client; they control time-dependent status and inject faults.
#![allow(dead_code)]

mod apply;
mod fields;
mod lifecycle;
mod resources;
mod rules;
mod schema;
mod store;
mod typecheck;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use serde_json::Value;

pub use store::Store;

/// The token the kubeconfig carries.
pub const TOKEN: &str = "windlass-test-token";

/// What an injected fault does.
#[derive(Debug, Clone)]
pub enum FaultAction {
    /// Answer with this HTTP status and a Status body.
    Status(u16),
    /// 429 with `Retry-After` (seconds) and `details.retryAfterSeconds`.
    TooManyRequests(u64),
    /// Close the connection without answering.
    Drop,
    /// Wait, then answer normally.
    Delay(Duration),
    /// Wait until the test releases it, then answer normally.
    Hold(Arc<HoldState>),
}

/// The state of a held request.
#[derive(Debug, Default)]
pub struct HoldState {
    arrived: tokio::sync::Notify,
    released: tokio::sync::Notify,
}

/// Pauses and resumes a test server's controllers.
#[derive(Clone)]
pub struct ControllerSwitch(Arc<Inner>);

impl ControllerSwitch {
    /// Stops (true) or restarts (false) the simulated controllers.
    pub fn pause(&self, paused: bool) {
        self.0
            .controllers_paused
            .store(paused, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A request the server holds until the test releases it, so a fault or
/// a signal lands in a known phase without sleeping.
pub struct Hold(Arc<HoldState>);

impl Hold {
    /// Waits until a matching request has arrived (and is being held).
    pub async fn arrived(&self) {
        self.0.arrived.notified().await;
    }

    /// Lets the held request go on.
    pub fn release(&self) {
        self.0.released.notify_one();
    }
}

/// Which requests a fault hits.
#[derive(Debug, Clone)]
pub enum Matcher {
    /// The Nth request the server receives (1-based, counted from start).
    Nth(usize),
    /// Requests with this method (any when `None`) whose path and query
    /// contain `path_contains`.
    Request {
        method: Option<String>,
        path_contains: String,
    },
    /// Like `Request`, but only requests that are not dry runs.
    Write {
        method: Option<String>,
        path_contains: String,
    },
}

/// An injected fault, hitting up to `times` matching requests.
#[derive(Debug, Clone)]
pub struct Fault {
    pub matcher: Matcher,
    pub action: FaultAction,
    pub times: usize,
}

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Logged {
    pub method: String,
    pub path: String,
    pub query: String,
    /// discovery, get, list, create, update, patch, apply or delete.
    pub verb: &'static str,
    pub dry_run: bool,
    pub status: u16,
    /// For a create (POST), the name in its body; the path has none.
    pub created: String,
}

impl Logged {
    /// A request that changed (or tried to change) stored state.
    pub fn is_write(&self) -> bool {
        !self.dry_run
            && matches!(
                self.verb,
                "create" | "update" | "patch" | "apply" | "delete"
            )
    }
}

struct Inner {
    in_flight: std::sync::atomic::AtomicUsize,
    max_in_flight: std::sync::atomic::AtomicUsize,
    store: Mutex<Store>,
    log: Mutex<Vec<Logged>>,
    faults: Mutex<Vec<Fault>>,
    /// While set, the simulated controllers (garbage collector, namespace,
    /// PV binder, CRD) do nothing, as with kube-controller-manager stopped.
    controllers_paused: std::sync::atomic::AtomicBool,
    /// Groups left out of the next N aggregated discovery answers, as a
    /// real server does until a new CRD is established.
    hidden_groups: Mutex<Vec<(String, usize)>>,
}

/// A running test API server. Dropping it stops it.
pub struct TestApiServer {
    inner: Arc<Inner>,
    /// `https://127.0.0.1:PORT`.
    pub url: String,
    /// A kubeconfig with context `test` (valid token) and `bad-token`.
    pub kubeconfig: PathBuf,
    /// PEM of the CA that signed the server certificate.
    pub ca_pem: String,
    task: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl Drop for TestApiServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn tls_material() -> (String, Vec<u8>, Vec<u8>) {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    };
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "windlass-test-ca");
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_key = KeyPair::generate().expect("CA key");
    let ca_cert = ca.self_signed(&ca_key).expect("CA certificate");
    let issuer = Issuer::new(ca, ca_key);
    let mut leaf = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
        .expect("leaf params");
    leaf.distinguished_name
        .push(DnType::CommonName, "kube-apiserver");
    let key = KeyPair::generate().expect("server key");
    let cert = leaf.signed_by(&key, &issuer).expect("server certificate");
    (ca_cert.pem(), cert.der().to_vec(), key.serialize_der())
}

fn kubeconfig(url: &str, ca_pem: &str) -> String {
    use base64::Engine as _;
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster:\n    server: {url}\n    certificate-authority-data: {ca}\n\
users:\n- name: test\n  user:\n    token: {TOKEN}\n- name: bad\n  user:\n    token: wrong-token\n\
contexts:\n- name: test\n  context:\n    cluster: test\n    user: test\n    namespace: default\n\
- name: bad-token\n  context:\n    cluster: test\n    user: bad\n    namespace: default\n\
current-context: test\n"
    )
}

fn json_response(code: u16, body: &Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(code)
        .header("Content-Type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("response")
}

fn reply_response(reply: store::Reply) -> Response<Full<Bytes>> {
    let mut resp = match reply.body {
        store::Body::Json(v) => json_response(reply.code, &v),
        store::Body::Text(t) => Response::builder()
            .status(reply.code)
            .header("Content-Type", "text/plain; charset=utf-8")
            .body(Full::new(Bytes::from(t)))
            .expect("response"),
    };
    for w in reply.warnings {
        // The real server's form: `299 - "<text with \" escaped>"`.
        let line = format!("299 - {}", serde_json::to_string(&w).unwrap_or_default());
        if let Ok(v) = line.parse() {
            resp.headers_mut().append("Warning", v);
        }
    }
    resp
}

fn verb_of(
    crds: &[&'static resources::Res],
    method: &str,
    path: &str,
    content_type: &str,
) -> &'static str {
    if path == "/version" || path == "/api" || path == "/apis" || store::route(crds, path).is_none()
    {
        return "discovery";
    }
    let named = store::route(crds, path).and_then(|t| t.name).is_some();
    match method {
        "GET" if named => "get",
        "GET" => "list",
        "POST" => "create",
        "PUT" => "update",
        "PATCH" if content_type.starts_with("application/apply-patch") => "apply",
        "PATCH" => "patch",
        "DELETE" => "delete",
        _ => "other",
    }
}

async fn serve(
    inner: Arc<Inner>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, std::io::Error> {
    use std::sync::atomic::Ordering;
    let now = inner.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    inner.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let out = serve_inner(inner.clone(), req).await;
    inner.in_flight.fetch_sub(1, Ordering::SeqCst);
    out
}

async fn serve_inner(
    inner: Arc<Inner>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, std::io::Error> {
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let raw_query = req.uri().query().unwrap_or("").to_string();
    let content_type = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let auth = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let accept = req
        .headers()
        .get("accept")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let aggregated = accept.contains("as=APIGroupDiscoveryList");
    let user_agent = req
        .headers()
        .get("user-agent")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes().to_vec())
        .unwrap_or_default();
    let query: HashMap<String, String> = raw_query
        .split('&')
        .filter(|s| !s.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect();
    let crds = inner.store.lock().unwrap().crds.clone();
    let verb = verb_of(&crds, &method, &path, &content_type);
    let dry_run = query.get("dryRun").is_some_and(|v| v == "All");
    let index = {
        let mut log = inner.log.lock().unwrap();
        log.push(Logged {
            method: method.clone(),
            path: path.clone(),
            query: raw_query.clone(),
            verb,
            dry_run,
            status: 0,
            created: if method == "POST" {
                serde_json::from_slice::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|b| b["metadata"]["name"].as_str().map(str::to_string))
                    .unwrap_or_default()
            } else {
                String::new()
            },
        });
        log.len()
    };
    let set_status = |code: u16| {
        inner.log.lock().unwrap()[index - 1].status = code;
    };

    let fault = {
        let mut faults = inner.faults.lock().unwrap();
        let target = format!("{path}?{raw_query}");
        let hit = faults.iter_mut().find(|f| {
            f.times > 0
                && match &f.matcher {
                    Matcher::Nth(n) => *n == index,
                    Matcher::Request {
                        method: m,
                        path_contains,
                    } => {
                        m.as_ref().is_none_or(|m| *m == method)
                            && target.contains(path_contains.as_str())
                    }
                    Matcher::Write {
                        method: m,
                        path_contains,
                    } => {
                        !dry_run
                            && m.as_ref().is_none_or(|m| *m == method)
                            && target.contains(path_contains.as_str())
                    }
                }
        });
        hit.map(|f| {
            f.times -= 1;
            f.action.clone()
        })
    };
    match fault {
        Some(FaultAction::Drop) => {
            set_status(0);
            return Err(std::io::Error::other("injected: connection dropped"));
        }
        Some(FaultAction::Delay(d)) => tokio::time::sleep(d).await,
        Some(FaultAction::Hold(state)) => {
            state.arrived.notify_one();
            state.released.notified().await;
        }
        Some(FaultAction::Status(code)) => {
            set_status(code);
            let reason = match code {
                403 => "Forbidden",
                500 => "InternalError",
                503 => "ServiceUnavailable",
                504 => "Timeout",
                _ => "InternalError",
            };
            let (_, body) = rules::status(
                code,
                reason,
                &format!("injected failure ({code})"),
                Value::Null,
            );
            return Ok(json_response(code, &body));
        }
        Some(FaultAction::TooManyRequests(secs)) => {
            set_status(429);
            let (_, body) = rules::status(
                429,
                "TooManyRequests",
                "the server has received too many requests and has asked us to try again later",
                serde_json::json!({"retryAfterSeconds": secs}),
            );
            let mut resp = json_response(429, &body);
            resp.headers_mut()
                .insert("Retry-After", secs.to_string().parse().expect("header"));
            return Ok(resp);
        }
        None => {}
    }

    if auth != format!("Bearer {TOKEN}") {
        set_status(401);
        let (_, body) = rules::status(401, "Unauthorized", "Unauthorized", Value::Null);
        return Ok(json_response(401, &body));
    }

    if aggregated && (path == "/api" || path == "/apis") {
        set_status(200);
        let mut body = resources::aggregated(&crds, path == "/api");
        if path == "/apis" {
            let mut hidden = inner.hidden_groups.lock().unwrap();
            for (group, times) in hidden.iter_mut().filter(|(_, t)| *t > 0) {
                *times -= 1;
                if let Some(items) = body["items"].as_array_mut() {
                    items.retain(|i| i["metadata"]["name"] != group.as_str());
                }
            }
        }
        return Ok(Response::builder()
            .status(200)
            .header("Content-Type", resources::AGGREGATED_CONTENT_TYPE)
            .body(Full::new(Bytes::from(body.to_string())))
            .expect("response"));
    }
    let reply: store::Reply = match path.as_str() {
        "/version" => (200, resources::version()).into(),
        "/api" => (200, resources::api_versions()).into(),
        "/apis" => (200, resources::groups(&crds)).into(),
        p => {
            let segs: Vec<&str> = p.trim_matches('/').split('/').collect();
            let discovery = match segs.as_slice() {
                ["api", v] => Some(resources::resource_list(&crds, "", v)),
                ["apis", g, v] => Some(resources::resource_list(&crds, g, v)),
                _ => None,
            };
            match discovery {
                Some(Some(list)) => (200, list).into(),
                Some(None) => store::Reply {
                    code: 404,
                    body: store::Body::Text("404 page not found\n".into()),
                    warnings: Vec::new(),
                },
                None => {
                    let req = store::Req {
                        method,
                        path,
                        query,
                        content_type,
                        user_agent,
                        body,
                    };
                    inner.store.lock().unwrap().handle(&req)
                }
            }
        }
    };
    set_status(reply.code);
    Ok(reply_response(reply))
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = (b[i] == b'%' && i + 2 < b.len())
            .then(|| std::str::from_utf8(&b[i + 1..i + 3]).ok())
            .flatten()
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (hex, b[i]) {
            (Some(byte), _) => {
                out.push(byte);
                i += 3;
            }
            (None, b'+') => {
                out.push(b' ');
                i += 1;
            }
            (None, c) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl TestApiServer {
    /// Starts a server on an ephemeral port. Needs a running tokio runtime.
    pub async fn start() -> TestApiServer {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let (ca_pem, cert_der, key_der) = tls_material();
        let config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(
                vec![rustls::pki_types::CertificateDer::from(cert_der)],
                rustls::pki_types::PrivateKeyDer::Pkcs8(key_der.into()),
            )
            .expect("server TLS config");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1");
        let port = listener.local_addr().expect("local addr").port();
        let url = format!("https://127.0.0.1:{port}");
        let dir = tempfile::tempdir().expect("temp dir");
        let kubeconfig_path = dir.path().join("kubeconfig");
        std::fs::write(&kubeconfig_path, kubeconfig(&url, &ca_pem)).expect("kubeconfig written");
        let inner = Arc::new(Inner {
            in_flight: Default::default(),
            max_in_flight: Default::default(),
            store: Mutex::new(Store::new()),
            log: Mutex::new(Vec::new()),
            faults: Mutex::new(Vec::new()),
            controllers_paused: Default::default(),
            hidden_groups: Default::default(),
        });
        // The controllers run on their own thread, a little after each
        // change, as kube-controller-manager does; never on the runtime's
        // two workers, which serve the requests (a blocked worker halves
        // the server). The thread ends with the server.
        let ticking = Arc::downgrade(&inner);
        std::thread::spawn(move || loop {
            std::thread::sleep(Duration::from_millis(20));
            let Some(inner) = ticking.upgrade() else {
                return;
            };
            if !inner
                .controllers_paused
                .load(std::sync::atomic::Ordering::SeqCst)
            {
                if let Ok(mut store) = inner.store.try_lock() {
                    store.reconcile();
                }
            }
        });
        let state = inner.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let acceptor = acceptor.clone();
                let state = state.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let svc = hyper::service::service_fn(move |req| serve(state.clone(), req));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(tls), svc)
                        .await;
                });
            }
        });
        TestApiServer {
            inner,
            url,
            kubeconfig: kubeconfig_path,
            ca_pem,
            task,
            _dir: dir,
        }
    }

    /// A raw kube-rs client for a kubeconfig context (`test` or
    /// `bad-token`), for tests that act as another tool would.
    pub async fn client(&self, context: &str) -> kube::Client {
        let kc = kube::config::Kubeconfig::read_from(&self.kubeconfig).expect("kubeconfig");
        let opts = kube::config::KubeConfigOptions {
            context: Some(context.into()),
            ..Default::default()
        };
        let config = kube::Config::from_custom_kubeconfig(kc, &opts)
            .await
            .expect("kubeconfig context");
        kube::Client::try_from(config).expect("client")
    }

    /// Scales a StatefulSet through its scale subresource as field manager
    /// `manager`, the way `kubectl scale` does.
    pub async fn scale_as(&self, manager: &str, ns: &str, name: &str, replicas: i64) {
        let api: kube::Api<k8s_openapi::api::apps::v1::StatefulSet> =
            kube::Api::namespaced(self.client("test").await, ns);
        let params = kube::api::PatchParams {
            field_manager: Some(manager.into()),
            ..Default::default()
        };
        api.patch_scale(
            name,
            &params,
            &kube::api::Patch::Merge(serde_json::json!({"spec": {"replicas": replicas}})),
        )
        .await
        .expect("scale");
    }

    /// The kubeconfig's path.
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Logged> {
        self.inner.log.lock().unwrap().clone()
    }

    /// Requests from index `from` (as returned by `requests().len()`) on.
    pub fn requests_since(&self, from: usize) -> Vec<Logged> {
        self.inner.log.lock().unwrap()[from..].to_vec()
    }

    /// The most requests that were ever in flight at once.
    pub fn max_in_flight(&self) -> usize {
        self.inner
            .max_in_flight
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Adds a fault.
    pub fn inject(&self, fault: Fault) {
        self.inner.faults.lock().unwrap().push(fault);
    }

    /// Holds the next request `matcher` matches until the test releases it.
    pub fn hold(&self, matcher: Matcher) -> Hold {
        let state = Arc::new(HoldState::default());
        self.inject(Fault {
            matcher,
            action: FaultAction::Hold(state.clone()),
            times: 1,
        });
        Hold(state)
    }

    /// Leaves `group` out of the next `times` aggregated discovery answers
    /// for `/apis`.
    pub fn hide_from_discovery(&self, group: &str, times: usize) {
        self.inner
            .hidden_groups
            .lock()
            .unwrap()
            .push((group.to_string(), times));
    }

    /// Stops (true) or restarts (false) the simulated controllers.
    pub fn pause_controllers(&self, paused: bool) {
        self.inner
            .controllers_paused
            .store(paused, std::sync::atomic::Ordering::SeqCst);
    }

    /// A handle that pauses and resumes the controllers from anywhere
    /// (a progress callback, another task).
    pub fn controller_switch(&self) -> ControllerSwitch {
        ControllerSwitch(self.inner.clone())
    }

    /// Runs the controllers until nothing changes (even when paused): what
    /// a real cluster does a few seconds later.
    pub fn settle(&self) {
        self.with_store(|s| s.settle());
    }

    /// Removes every fault.
    pub fn clear_faults(&self) {
        self.inner.faults.lock().unwrap().clear();
    }

    /// Runs `f` on the store (to seed or inspect objects).
    pub fn with_store<T>(&self, f: impl FnOnce(&mut Store) -> T) -> T {
        f(&mut self.inner.store.lock().unwrap())
    }

    /// Reads a stored object by group, resource plural, namespace and name.
    pub fn object(&self, group: &str, plural: &str, ns: &str, name: &str) -> Option<Value> {
        self.with_store(|s| {
            let res = resources::RESOURCES
                .iter()
                .chain(s.crds.iter().copied())
                .find(|r| r.group == group && r.plural == plural)?;
            s.get(res, ns, name)
        })
    }

    /// (group/plural, namespace, name) of every stored object.
    pub fn keys(&self) -> Vec<(String, String, String)> {
        self.with_store(|s| s.keys())
    }

    /// Workloads report ready (and PVCs bound) `delay` after each spec
    /// change; `None` means never, except Jobs, which then complete at once
    /// (see `outcome`).
    pub fn auto_ready(&self, delay: Option<Duration>) {
        self.with_store(|s| s.auto_ready = delay);
    }

    /// How the Job or Pod `name` (or the Pod a Job of that name starts)
    /// ends once ready: `succeeds`, and the log its container wrote.
    pub fn outcome(&self, name: &str, succeeds: bool, log: &str) {
        self.with_store(|s| {
            s.outcomes
                .insert(name.to_string(), (succeeds, log.to_string()))
        });
    }

    /// Sets an object's status directly.
    pub fn set_status(
        &self,
        group: &str,
        plural: &str,
        ns: &str,
        name: &str,
        status: Value,
    ) -> bool {
        let Some(res) = resources::RESOURCES
            .iter()
            .find(|r| r.group == group && r.plural == plural)
        else {
            return false;
        };
        self.with_store(|s| s.set_status(res, ns, name, status))
    }
}
