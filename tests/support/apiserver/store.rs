//! The object store and the verbs: get, list, create, update, merge patch
//! (main, status and scale). Server-side apply is in apply.rs; deletion,
//! finalizers and the simulated controllers in lifecycle.rs.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant, SystemTime};

use serde_json::{json, Map, Value};

use super::fields::{self, FieldSet};
use super::resources::{self, Res};
use super::rules::{self, status};
use super::typecheck;

/// One managedFields entry.
#[derive(Debug, Clone)]
pub struct Manager {
    pub name: String,
    pub operation: &'static str,
    pub api_version: String,
    pub subresource: Option<String>,
    pub time: String,
    pub fields: FieldSet,
}

#[derive(Debug, Clone)]
pub struct Stored {
    pub obj: Value,
    pub managers: Vec<Manager>,
    pub ready_at: Option<Instant>,
}

/// Where a request goes.
pub struct Target {
    pub res: &'static Res,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub sub: Option<String>,
}

/// A parsed HTTP request.
pub struct Req {
    pub method: String,
    pub path: String,
    pub query: HashMap<String, String>,
    pub content_type: String,
    pub user_agent: String,
    pub body: Vec<u8>,
}

/// A response: status, body, and `Warning` header values.
pub struct Reply {
    pub code: u16,
    pub body: Body,
    pub warnings: Vec<String>,
}

/// A JSON body, or plain text (the real server's `404 page not found`,
/// a Pod's log).
pub enum Body {
    Json(Value),
    Text(String),
}

impl From<(u16, Value)> for Reply {
    fn from((code, body): (u16, Value)) -> Reply {
        Reply {
            code,
            body: Body::Json(body),
            warnings: Vec::new(),
        }
    }
}

pub type Key = (String, String, String);

pub struct Store {
    pub objects: BTreeMap<Key, Stored>,
    pub(super) rv: u64,
    next_ip: u32,
    /// Resource types defined by CRDs in this store.
    pub crds: Vec<&'static Res>,
    /// Objects some controller may act on (terminating, owned, volumes,
    /// CRDs), so the controllers never scan thousands of others.
    pub(super) watched: std::collections::BTreeSet<Key>,
    /// When set, workloads report ready (and PVCs bound) this long after
    /// their last spec change.
    pub auto_ready: Option<Duration>,
    /// How run-to-completion workloads end, by Job or Pod name: whether
    /// they succeed, and the log their (first) container wrote. A Job or
    /// Pod not listed succeeds with an empty log.
    pub outcomes: std::collections::HashMap<String, (bool, String)>,
}

pub fn now() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

pub fn key(res: &Res, ns: &str, name: &str) -> Key {
    (
        format!("{}/{}", res.group, res.plural),
        if res.namespaced {
            ns.to_string()
        } else {
            String::new()
        },
        name.to_string(),
    )
}

/// Parses an API path into its target, or `None` for unknown paths.
pub fn route(crds: &[&'static Res], path: &str) -> Option<Target> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match segs.as_slice() {
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return None,
    };
    let owned = |s: &&str| Some(s.to_string());
    let (ns, plural, name, sub) = match rest {
        ["namespaces", ns, plural, tail @ ..]
            if resources::find(crds, group, version, plural).is_some_and(|r| r.namespaced) =>
        {
            (
                owned(ns),
                *plural,
                tail.first().and_then(owned),
                tail.get(1).and_then(owned),
            )
        }
        [plural, tail @ ..] => (
            None,
            *plural,
            tail.first().and_then(owned),
            tail.get(1).and_then(owned),
        ),
        _ => return None,
    };
    let res = resources::find(crds, group, version, plural)?;
    Some(Target {
        res,
        namespace: ns,
        name,
        sub,
    })
}

fn label_selector_matches(sel: &str, labels: &Value) -> bool {
    sel.split(',').filter(|s| !s.is_empty()).all(|term| {
        if let Some((k, v)) = term.split_once("!=") {
            labels[k.trim()].as_str() != Some(v.trim())
        } else if let Some((k, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
            labels[k.trim()].as_str() == Some(v.trim())
        } else if let Some(k) = term.strip_prefix('!') {
            labels.get(k.trim()).is_none()
        } else {
            labels.get(term.trim()).is_some()
        }
    })
}

/// RFC 7386 JSON merge patch.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = Value::Object(Map::new());
            }
            if let Value::Object(t) = target {
                for (k, v) in p {
                    if v.is_null() {
                        t.remove(k);
                    } else {
                        merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                    }
                }
            }
        }
        other => *target = other.clone(),
    }
}

pub fn without_meta_status(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(m) = v.as_object_mut() {
        m.remove("metadata");
        m.remove("status");
    }
    v
}

pub fn without_managed(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("managedFields");
    }
    v
}

/// The field manager of a request: `fieldManager`, else the client's name
/// from its User-Agent (`curl/8.5.0` is `curl`), as the real server does.
pub fn manager_name(req: &Req) -> String {
    req.query.get("fieldManager").cloned().unwrap_or_else(|| {
        let ua = req.user_agent.split('/').next().unwrap_or("").trim();
        if ua.is_empty() {
            "unknown".into()
        } else {
            ua.to_string()
        }
    })
}

impl Store {
    pub fn new() -> Store {
        let mut s = Store {
            objects: BTreeMap::new(),
            rv: 1000,
            next_ip: 10,
            crds: Vec::new(),
            watched: Default::default(),
            auto_ready: None,
            outcomes: Default::default(),
        };
        for ns in ["default", "kube-system"] {
            let res = s.find("", "v1", "namespaces").expect("namespaces");
            let mut obj =
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
            s.server_metadata(res, &mut obj, None);
            rules::apply_defaults(res, &mut obj, &mut String::new);
            s.objects.insert(
                key(res, "", ns),
                Stored {
                    obj,
                    managers: Vec::new(),
                    ready_at: None,
                },
            );
        }
        s
    }

    /// Stores an object, noting whether a controller needs to look at it.
    pub fn put(&mut self, k: Key, stored: Stored) {
        let meta = &stored.obj["metadata"];
        if meta["deletionTimestamp"].is_string()
            || meta["ownerReferences"].is_array()
            || k.0 == "/persistentvolumes"
            || k.0 == "apiextensions.k8s.io/customresourcedefinitions"
        {
            self.watched.insert(k.clone());
        }
        self.objects.insert(k, stored);
    }

    /// A resource type, built in or defined by a CRD of this store.
    pub fn find(&self, group: &str, version: &str, plural: &str) -> Option<&'static Res> {
        resources::find(&self.crds, group, version, plural)
    }

    pub fn next_rv(&mut self) -> String {
        self.rv += 1;
        self.rv.to_string()
    }

    pub fn server_metadata(&mut self, res: &Res, obj: &mut Value, ns: Option<&str>) {
        let rv = self.next_rv();
        let m = &mut obj["metadata"];
        if let Some(ns) = ns.filter(|_| res.namespaced) {
            m["namespace"] = json!(ns);
        }
        m["uid"] = json!(format!("{:08x}-7e57-4a00-8000-{:012x}", self.rv, self.rv));
        m["resourceVersion"] = json!(rv);
        m["creationTimestamp"] = json!(now());
        if res.has_generation() {
            m["generation"] = json!(1);
        }
    }

    pub fn alloc_ip(&mut self) -> String {
        self.next_ip += 1;
        format!("10.96.{}.{}", self.next_ip / 250, self.next_ip % 250 + 1)
    }

    pub fn output(&self, res: &Res, stored: &Stored) -> Value {
        let mut obj = stored.obj.clone();
        obj["apiVersion"] = json!(res.api_version());
        obj["kind"] = json!(res.kind);
        let managed: Vec<Value> = stored
            .managers
            .iter()
            .map(|m| {
                let mut e = json!({
                    "manager": m.name, "operation": m.operation, "apiVersion": m.api_version,
                    "time": m.time, "fieldsType": "FieldsV1", "fieldsV1": fields::to_fields_v1(&m.fields)
                });
                if let Some(s) = &m.subresource {
                    e["subresource"] = json!(s);
                }
                e
            })
            .collect();
        if !managed.is_empty() {
            obj["metadata"]["managedFields"] = Value::Array(managed);
        }
        let succeeds = self.succeeds(&stored.obj);
        if let (Some(t), Some(ready)) = (
            stored.ready_at,
            rules::ready_status(res, &stored.obj, succeeds),
        ) {
            if Instant::now() >= t {
                merge_patch(&mut obj["status"], &ready);
            }
        }
        obj
    }

    /// Whether a Job or Pod ends well: its own outcome, or for a Pod a
    /// Job started, the Job's.
    fn succeeds(&self, obj: &Value) -> bool {
        self.outcome(obj).is_none_or(|(ok, _)| *ok)
    }

    fn outcome(&self, obj: &Value) -> Option<&(bool, String)> {
        let name = obj["metadata"]["name"].as_str().unwrap_or_default();
        let job = obj["metadata"]["labels"]["job-name"].as_str();
        self.outcomes
            .get(name)
            .or_else(|| job.and_then(|j| self.outcomes.get(j)))
    }

    /// A Pod's log (`GET .../pods/NAME/log`), its last `tailLines` lines
    /// when asked; text, as the real server sends it.
    fn log(&self, t: &Target, name: &str, req: &Req) -> Reply {
        let ns = t.namespace.clone().unwrap_or_default();
        let Some(pod) = self.objects.get(&key(t.res, &ns, name)) else {
            return rules::not_found(t.res, name).into();
        };
        let text = self
            .outcome(&pod.obj)
            .map(|(_, l)| l.clone())
            .unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = req
            .query
            .get("tailLines")
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or(lines.len())
            .min(lines.len());
        let mut out = lines[lines.len() - tail..].join("\n");
        if !out.is_empty() {
            out.push('\n');
        }
        Reply {
            code: 200,
            body: Body::Text(out),
            warnings: Vec::new(),
        }
    }

    /// What the Job controller does for a new Job: one Pod from its
    /// template, labelled and owned as the real controller does
    /// (`job-name`, `batch.kubernetes.io/job-name`, `controller-uid`).
    fn start_job(&mut self, job: &Value, ready_at: Option<Instant>) {
        let Some(res) = self.find("", "v1", "pods") else {
            return;
        };
        let name = job["metadata"]["name"].as_str().unwrap_or_default();
        let ns = job["metadata"]["namespace"].as_str().unwrap_or_default();
        let uid = job["metadata"]["uid"].clone();
        let template = &job["spec"]["template"];
        let mut labels = template["metadata"]["labels"].clone();
        if !labels.is_object() {
            labels = json!({});
        }
        labels["job-name"] = json!(name);
        labels["batch.kubernetes.io/job-name"] = json!(name);
        labels["controller-uid"] = uid.clone();
        labels["batch.kubernetes.io/controller-uid"] = uid.clone();
        let pod_name = format!("{name}-{:05x}", self.rv % 0xfffff);
        let mut pod = json!({
            "metadata": {"name": pod_name, "labels": labels, "ownerReferences": [{
                "apiVersion": "batch/v1", "kind": "Job", "name": name, "uid": uid,
                "controller": true, "blockOwnerDeletion": true}]},
            "spec": template["spec"].clone(),
        });
        self.server_metadata(res, &mut pod, Some(ns));
        let k = key(res, ns, &pod_name);
        self.put(
            k,
            Stored {
                obj: pod,
                managers: Vec::new(),
                ready_at,
            },
        );
    }

    pub fn namespace(&self, ns: &str) -> Option<&Stored> {
        self.objects
            .get(&("/namespaces".to_string(), String::new(), ns.to_string()))
    }

    /// 404 when the namespace does not exist; 403 when it is terminating
    /// and `creating` (recordings 06, 95-96: existing objects in it may
    /// still be changed, 97).
    pub(super) fn namespace_check(
        &self,
        t: &Target,
        name: &str,
        creating: bool,
    ) -> Result<(), Reply> {
        let ns = t.namespace.clone().unwrap_or_default();
        if !t.res.namespaced || ns.is_empty() {
            return Ok(());
        }
        match self.namespace(&ns) {
            None => Err(rules::namespace_not_found(&ns).into()),
            Some(n) if creating && n.obj["metadata"]["deletionTimestamp"].is_string() => {
                Err(rules::namespace_terminating(t.res, name, &ns).into())
            }
            Some(_) => Ok(()),
        }
    }

    /// Sets an object's status directly (the status simulator).
    pub fn set_status(&mut self, res: &Res, ns: &str, name: &str, status: Value) -> bool {
        match self.objects.get_mut(&key(res, ns, name)) {
            Some(s) => {
                s.obj["status"] = status;
                true
            }
            None => false,
        }
    }

    /// The stored object as a client would read it.
    pub fn get(&self, res: &Res, ns: &str, name: &str) -> Option<Value> {
        self.objects
            .get(&key(res, ns, name))
            .map(|s| self.output(res, s))
    }

    /// Every stored object's (resource, namespace, name).
    pub fn keys(&self) -> Vec<Key> {
        self.objects.keys().cloned().collect()
    }

    pub fn handle(&mut self, req: &Req) -> Reply {
        let Some(t) = route(&self.crds, &req.path) else {
            return Reply {
                code: 404,
                body: Body::Text("404 page not found\n".into()),
                warnings: Vec::new(),
            };
        };
        let dry_run = req.query.get("dryRun").is_some_and(|v| v == "All");
        let ns = t.namespace.clone().unwrap_or_default();
        match (req.method.as_str(), &t.name) {
            ("GET", None) => self.list(&t, req).into(),
            ("GET", Some(name)) if t.sub.as_deref() == Some("log") && t.res.plural == "pods" => {
                self.log(&t, name, req)
            }
            ("GET", Some(name)) => match self.objects.get(&key(t.res, &ns, name)) {
                None => rules::not_found(t.res, name).into(),
                Some(s) if t.sub.as_deref() == Some("scale") => {
                    (200, scale_of(t.res, &s.obj)).into()
                }
                Some(s) => (200, self.output(t.res, s)).into(),
            },
            ("POST", None) => self.create(&t, req, dry_run),
            ("PUT", Some(name)) => self.update(&t, name, req, dry_run),
            ("PATCH", Some(name)) if req.content_type.starts_with("application/apply-patch") => {
                self.apply(&t, name, req, dry_run)
            }
            ("PATCH", Some(name)) => self.patch(&t, name, req, dry_run),
            ("DELETE", Some(name)) => self.delete(&t, name, req, dry_run),
            _ => status(
                405,
                "MethodNotAllowed",
                "the server does not allow this method on the requested resource",
                Value::Null,
            )
            .into(),
        }
    }

    fn list(&self, t: &Target, req: &Req) -> (u16, Value) {
        let selector = req.query.get("labelSelector").cloned().unwrap_or_default();
        let group_plural = format!("{}/{}", t.res.group, t.res.plural);
        let items: Vec<Value> = self
            .objects
            .iter()
            .filter(|((gp, ns, _), _)| {
                *gp == group_plural && t.namespace.as_ref().is_none_or(|n| n == ns)
            })
            .filter(|(_, s)| label_selector_matches(&selector, &s.obj["metadata"]["labels"]))
            .map(|(_, s)| {
                let mut o = self.output(t.res, s);
                // Built-in kinds' list items carry no apiVersion/kind;
                // custom resources' do.
                if t.res.crd_schema.is_none() {
                    if let Some(m) = o.as_object_mut() {
                        m.remove("apiVersion");
                        m.remove("kind");
                    }
                }
                o
            })
            .collect();
        (
            200,
            json!({
                "kind": format!("{}List", t.res.kind), "apiVersion": t.res.api_version(),
                "metadata": {"resourceVersion": self.rv.to_string()}, "items": items
            }),
        )
    }

    /// A JSON body (or YAML, for apply: YAML 1.1 scalars as the server reads them).
    pub fn parse_body(req: &Req) -> Result<Value, Reply> {
        let text = String::from_utf8_lossy(&req.body);
        let v: Value = if req.content_type.contains("yaml") {
            windlass::yaml::parse(&text).map_err(|e| {
                Reply::from(status(
                    400,
                    "BadRequest",
                    &format!("error decoding YAML: {e}"),
                    Value::Null,
                ))
            })?
        } else {
            serde_json::from_str(&text).map_err(|e| {
                Reply::from(status(
                    400,
                    "BadRequest",
                    &format!("error decoding JSON: {e}"),
                    Value::Null,
                ))
            })?
        };
        if !v.is_object() {
            return Err(
                status(400, "BadRequest", "the body must be an object", Value::Null).into(),
            );
        }
        Ok(v)
    }

    pub fn check_type(t: &Target, body: &Value) -> Result<(), Reply> {
        let (av, kind) = (body["apiVersion"].as_str(), body["kind"].as_str());
        if av != Some(t.res.api_version().as_str()) || kind != Some(t.res.kind) {
            return Err(status(400, "BadRequest", &format!(
                "the API version in the data ({}) does not match the expected API version ({}) or kind ({}) does not match {}",
                av.unwrap_or(""), t.res.api_version(), kind.unwrap_or(""), t.res.kind
            ), Value::Null).into());
        }
        Ok(())
    }

    /// Decodes a POST/PUT body into the Go types: a wrong type is a 400;
    /// unknown fields follow `fieldValidation` (recordings 36, 66-67).
    fn decode(t: &Target, req: &Req, body: &mut Value) -> Result<Vec<String>, Reply> {
        let cannot = |detail: String| -> Reply {
            status(
                400,
                "BadRequest",
                &format!(
                    "{kind} in version \"{v}\" cannot be handled as a {kind}: {detail}",
                    kind = t.res.kind,
                    v = t.res.version
                ),
                Value::Null,
            )
            .into()
        };
        match typecheck::decode(body, t.res.node(), t.res.kind) {
            typecheck::Decoded::WrongType(e) => Err(cannot(e)),
            typecheck::Decoded::Ok(unknown) if unknown.is_empty() => Ok(Vec::new()),
            typecheck::Decoded::Ok(unknown) => {
                let listed: Vec<String> = unknown
                    .iter()
                    .map(|u| format!("unknown field \"{u}\""))
                    .collect();
                match req.query.get("fieldValidation").map(String::as_str) {
                    Some("Strict") => Err(cannot(format!(
                        "strict decoding error: {}",
                        listed.join(", ")
                    ))),
                    Some("Ignore") => Ok(Vec::new()),
                    _ => Ok(listed),
                }
            }
        }
    }

    fn create(&mut self, t: &Target, req: &Req, dry_run: bool) -> Reply {
        let mut obj = match Self::parse_body(req).and_then(|b| Self::check_type(t, &b).map(|_| b)) {
            Ok(b) => b,
            Err(e) => return e,
        };
        let mut warnings = match Self::decode(t, req, &mut obj) {
            Ok(w) => w,
            Err(e) => return e,
        };
        let name = obj["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if let Err(e) = self.namespace_check(t, &name, true) {
            return e;
        }
        if let Err(e) = rules::validate_name(t.res, &name) {
            return e.into();
        }
        match rules::duplicates_on_create(t.res, &name, &obj) {
            Ok(w) => warnings.extend(w),
            Err(e) => return e.into(),
        }
        let ns = t.namespace.clone().unwrap_or_default();
        let k = key(t.res, &ns, &name);
        if self.objects.contains_key(&k) {
            let mut details = json!({"name": name, "kind": t.res.plural});
            if !t.res.group.is_empty() {
                details["group"] = json!(t.res.group);
            }
            return status(
                409,
                "AlreadyExists",
                &format!("{} \"{name}\" already exists", t.res.qualified()),
                details,
            )
            .into();
        }
        let mut reply = self.insert_new(t, &ns, &name, obj, req, "Update", dry_run);
        reply.warnings.splice(0..0, warnings);
        reply
    }

    /// Stores a new object (create, or an apply that creates): server
    /// metadata, defaults, validation, protection finalizers.
    #[allow(clippy::too_many_arguments)]
    pub fn insert_new(
        &mut self,
        t: &Target,
        ns: &str,
        name: &str,
        mut obj: Value,
        req: &Req,
        operation: &'static str,
        dry_run: bool,
    ) -> Reply {
        let applied_fields = fields::collect(&obj, t.res.node());
        obj["metadata"]["name"] = json!(name);
        self.server_metadata(t.res, &mut obj, Some(ns));
        let mut ip = None;
        if t.res.plural == "services" && obj["spec"]["clusterIP"].as_str().is_none_or(str::is_empty)
        {
            ip = Some(self.alloc_ip());
        }
        rules::apply_defaults(t.res, &mut obj, &mut || ip.clone().unwrap_or_default());
        if let Err(e) = rules::validate(t.res, name, &obj) {
            self.rv -= 1;
            return e.into();
        }
        rules::protection_finalizers(t.res, &mut obj);
        // An Update owns everything it set, defaults included; an Apply
        // owns what its configuration set.
        let owned = if operation == "Apply" {
            applied_fields
        } else {
            fields::collect(&obj, t.res.node())
        };
        let stored = Stored {
            obj,
            managers: vec![Manager {
                name: manager_name(req),
                operation,
                api_version: t.res.api_version(),
                subresource: None,
                time: now(),
                fields: owned,
            }],
            ready_at: match (self.auto_ready, t.res.plural) {
                (Some(d), _) => Some(Instant::now() + d),
                // A Job runs to completion at once, as if a kubelet ran its
                // Pod (hook Jobs would otherwise hold every operation until
                // its timeout); how it ends is `outcomes`'.
                (None, "jobs") => Some(Instant::now()),
                (None, _) => None,
            },
        };
        let mut out = self.output(t.res, &stored);
        if dry_run {
            if let Some(m) = out["metadata"].as_object_mut() {
                m.remove("resourceVersion");
            }
            self.rv -= 1;
        } else {
            if t.res.plural == "customresourcedefinitions" {
                if let Some(res) = resources::from_crd(&stored.obj) {
                    self.crds.push(res);
                }
            }
            let (job, ready_at) = (stored.obj.clone(), stored.ready_at);
            self.put(key(t.res, ns, name), stored);
            if t.res.plural == "jobs" {
                self.start_job(&job, ready_at);
            }
        }
        (201, out).into()
    }

    fn update(&mut self, t: &Target, name: &str, req: &Req, dry_run: bool) -> Reply {
        let mut body = match Self::parse_body(req) {
            Ok(b) => b,
            Err(e) => return e,
        };
        let warnings = if t.sub.is_none() {
            match Self::decode(t, req, &mut body) {
                Ok(w) => w,
                Err(e) => return e,
            }
        } else {
            Vec::new()
        };
        let ns = t.namespace.clone().unwrap_or_default();
        let k = key(t.res, &ns, name);
        let Some(old) = self.objects.get(&k).cloned() else {
            return rules::not_found(t.res, name).into();
        };
        match body["metadata"]["resourceVersion"].as_str() {
            None => {
                return rules::invalid(
                    t.res,
                    name,
                    &[(
                        "metadata.resourceVersion".into(),
                        "FieldValueInvalid",
                        "Invalid value: 0x0: must be specified for an update".into(),
                    )],
                )
                .into()
            }
            Some(rv) if Some(rv) != old.obj["metadata"]["resourceVersion"].as_str() => {
                return rules::conflict(t.res, name, "the object has been modified; please apply your changes to the latest version and try again").into();
            }
            Some(_) => {}
        }
        let mut new = old.obj.clone();
        if t.sub.as_deref() == Some("status") {
            new["status"] = body["status"].clone();
        } else {
            if let Err(e) = Self::check_type(t, &body) {
                return e;
            }
            let keep_meta = old.obj["metadata"].clone();
            let keep_status = old.obj.get("status").cloned();
            new = body;
            for f in [
                "uid",
                "creationTimestamp",
                "generation",
                "namespace",
                "resourceVersion",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
            ] {
                if let Some(v) = keep_meta.get(f) {
                    new["metadata"][f] = v.clone();
                }
            }
            if let Some(s) = keep_status {
                new["status"] = s;
            }
            rules::apply_defaults(t.res, &mut new, &mut String::new);
            if let Err(e) = rules::check_immutable(t.res, name, &old.obj, &new) {
                return e.into();
            }
        }
        let mut reply =
            self.commit_update(t, k, old, new, manager_name(req), t.sub.clone(), dry_run);
        reply.warnings.splice(0..0, warnings);
        reply
    }

    fn patch(&mut self, t: &Target, name: &str, req: &Req, dry_run: bool) -> Reply {
        let body = match Self::parse_body(req) {
            Ok(b) => b,
            Err(e) => return e,
        };
        let ns = t.namespace.clone().unwrap_or_default();
        let k = key(t.res, &ns, name);
        let Some(old) = self.objects.get(&k).cloned() else {
            return rules::not_found(t.res, name).into();
        };
        let mut new = old.obj.clone();
        match t.sub.as_deref() {
            Some("status") => merge_patch(&mut new["status"], &body["status"]),
            Some("scale") => {
                if let Some(r) = body["spec"].get("replicas") {
                    new["spec"]["replicas"] = r.clone();
                }
            }
            _ => {
                merge_patch(&mut new, &body);
                rules::apply_defaults(t.res, &mut new, &mut String::new);
                if let Err(e) = rules::check_immutable(t.res, name, &old.obj, &new) {
                    return e.into();
                }
            }
        }
        let reply = self.commit_update(t, k, old, new, manager_name(req), t.sub.clone(), dry_run);
        match (&reply.body, t.sub.as_deref()) {
            (Body::Json(out), Some("scale")) if reply.code == 200 => {
                (200, scale_of(t.res, out)).into()
            }
            _ => reply,
        }
    }

    /// Stores the result of an Update operation: the updater takes the
    /// fields it changed from every other manager.
    #[allow(clippy::too_many_arguments)]
    pub fn commit_update(
        &mut self,
        t: &Target,
        k: Key,
        old: Stored,
        new: Value,
        manager: String,
        sub: Option<String>,
        dry_run: bool,
    ) -> Reply {
        let node = t.res.node();
        if without_managed(&new) == without_managed(&old.obj) {
            return (200, self.output(t.res, &old)).into();
        }
        let old_fields = fields::collect(&old.obj, node);
        let new_fields = fields::collect(&new, node);
        let changed: FieldSet = new_fields
            .iter()
            .filter(|p| fields::get(&old.obj, node, p) != fields::get(&new, node, p))
            .cloned()
            .collect();
        let removed: FieldSet = old_fields.difference(&new_fields).cloned().collect();
        let mut stored = old.clone();
        for m in &mut stored.managers {
            m.fields
                .retain(|p| !changed.contains(p) && !removed.contains(p));
        }
        if !changed.is_empty() {
            match stored
                .managers
                .iter_mut()
                .find(|m| m.name == manager && m.operation == "Update" && m.subresource == sub)
            {
                Some(m) => {
                    m.fields.extend(changed.iter().cloned());
                    m.time = now();
                }
                None => stored.managers.push(Manager {
                    name: manager,
                    operation: "Update",
                    api_version: t.res.api_version(),
                    subresource: sub,
                    time: now(),
                    fields: changed,
                }),
            }
        }
        stored.managers.retain(|m| !m.fields.is_empty());
        sort_managers(&mut stored.managers);
        self.commit(t, k, stored, new, dry_run)
    }

    /// Writes a changed object (a new resourceVersion), or, when it is
    /// terminating and its last finalizer was just removed, deletes it
    /// (answering with the object as it was last stored, recording 100).
    pub fn commit(
        &mut self,
        t: &Target,
        k: Key,
        mut stored: Stored,
        mut new: Value,
        dry_run: bool,
    ) -> Reply {
        // `stored` still holds the old object: a change outside metadata
        // and status is a new generation.
        if t.res.has_generation() && without_meta_status(&new) != without_meta_status(&stored.obj) {
            let g = stored.obj["metadata"]["generation"].as_i64().unwrap_or(0) + 1;
            new["metadata"]["generation"] = json!(g);
            stored.ready_at = self.auto_ready.map(|d| Instant::now() + d);
        }
        let finished = new["metadata"]["deletionTimestamp"].is_string()
            && new["metadata"]["finalizers"]
                .as_array()
                .is_none_or(Vec::is_empty);
        if finished {
            if let Some(m) = new["metadata"].as_object_mut() {
                m.remove("finalizers");
            }
            stored.obj = new;
            let out = self.output(t.res, &stored);
            if !dry_run {
                self.remove(&k);
            }
            return (200, out).into();
        }
        if !dry_run {
            new["metadata"]["resourceVersion"] = json!(self.next_rv());
        }
        stored.obj = new;
        let out = self.output(t.res, &stored);
        if !dry_run {
            self.put(k, stored);
        }
        (200, out).into()
    }
}

/// managedFields order: Apply entries first, then Update entries; within
/// each, older first, equal times by manager name (recording 51).
pub fn sort_managers(m: &mut [Manager]) {
    m.sort_by(|a, b| {
        (a.operation != "Apply", &a.time, &a.name).cmp(&(b.operation != "Apply", &b.time, &b.name))
    });
}

pub fn scale_of(_res: &Res, obj: &Value) -> Value {
    let selector: Vec<String> = obj["spec"]["selector"]["matchLabels"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect();
    json!({
        "kind": "Scale", "apiVersion": "autoscaling/v1",
        "metadata": {"name": obj["metadata"]["name"], "namespace": obj["metadata"]["namespace"],
                     "uid": obj["metadata"]["uid"], "resourceVersion": obj["metadata"]["resourceVersion"],
                     "creationTimestamp": obj["metadata"]["creationTimestamp"]},
        "spec": {"replicas": obj["spec"]["replicas"]},
        "status": {"replicas": obj["status"]["replicas"].as_i64().unwrap_or(0), "selector": selector.join(",")}
    })
}
