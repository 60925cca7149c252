//! The object store and the verbs: get, list, create, update, server-side
//! apply, merge patch (main, status and scale), delete, with dry-run.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant, SystemTime};

use serde_json::{json, Map, Value};

use super::fields::{self, FieldSet, Seg};
use super::resources::{self, Res};
use super::rules::{self, status};

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
    pub body: Vec<u8>,
}

type Key = (String, String, String);

pub struct Store {
    pub objects: BTreeMap<Key, Stored>,
    rv: u64,
    next_ip: u32,
    /// When set, workloads report ready (and PVCs bound) this long after
    /// their last spec change.
    pub auto_ready: Option<Duration>,
}

fn now() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

fn key(res: &Res, ns: &str, name: &str) -> Key {
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
pub fn route(path: &str) -> Option<Target> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match segs.as_slice() {
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return None,
    };
    let owned = |s: &&str| Some(s.to_string());
    let (ns, plural, name, sub) = match rest {
        ["namespaces", ns, plural, tail @ ..]
            if resources::find(group, version, plural).is_some_and(|r| r.namespaced) =>
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
    let res = resources::find(group, version, plural)?;
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

fn without_meta_status(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(m) = v.as_object_mut() {
        m.remove("metadata");
        m.remove("status");
    }
    v
}

fn without_managed(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("managedFields");
    }
    v
}

impl Store {
    pub fn new() -> Store {
        let mut s = Store {
            objects: BTreeMap::new(),
            rv: 1000,
            next_ip: 10,
            auto_ready: None,
        };
        for ns in ["default", "kube-system"] {
            let res = resources::find("", "v1", "namespaces").unwrap();
            let mut obj =
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
            s.server_metadata(res, &mut obj, None);
            rules::apply_defaults(res, &mut obj, &mut || String::new());
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

    fn next_rv(&mut self) -> String {
        self.rv += 1;
        self.rv.to_string()
    }

    fn server_metadata(&mut self, res: &Res, obj: &mut Value, ns: Option<&str>) {
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

    fn alloc_ip(&mut self) -> String {
        self.next_ip += 1;
        format!("10.96.{}.{}", self.next_ip / 250, self.next_ip % 250 + 1)
    }

    fn output(&self, res: &Res, stored: &Stored) -> Value {
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
        if let (Some(t), Some(ready)) = (stored.ready_at, rules::ready_status(res, &stored.obj)) {
            if Instant::now() >= t {
                merge_patch(&mut obj["status"], &ready);
            }
        }
        obj
    }

    fn namespace_exists(&self, ns: &str) -> bool {
        self.objects
            .contains_key(&("/namespaces".to_string(), String::new(), ns.to_string()))
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

    pub fn handle(&mut self, req: &Req) -> (u16, Value) {
        let Some(t) = route(&req.path) else {
            return status(
                404,
                "NotFound",
                "the server could not find the requested resource",
                Value::Null,
            );
        };
        let dry_run = req.query.get("dryRun").is_some_and(|v| v == "All");
        let ns = t.namespace.clone().unwrap_or_default();
        if t.res.namespaced && !ns.is_empty() && req.method != "GET" && !self.namespace_exists(&ns)
        {
            return rules::namespace_not_found(&ns);
        }
        match (req.method.as_str(), &t.name) {
            ("GET", None) => self.list(&t, req),
            ("GET", Some(name)) => match self.objects.get(&key(t.res, &ns, name)) {
                None => rules::not_found(t.res, name),
                Some(s) if t.sub.as_deref() == Some("scale") => (200, scale_of(t.res, &s.obj)),
                Some(s) => (200, self.output(t.res, s)),
            },
            ("POST", None) => self.create(&t, req, dry_run),
            ("PUT", Some(name)) => self.update(&t, name, req, dry_run),
            ("PATCH", Some(name)) if req.content_type.starts_with("application/apply-patch") => {
                self.apply(&t, name, req, dry_run)
            }
            ("PATCH", Some(name)) => self.patch(&t, name, req, dry_run),
            ("DELETE", Some(name)) => self.delete(&t, name, dry_run),
            _ => status(
                405,
                "MethodNotAllowed",
                "the server does not allow this method on the requested resource",
                Value::Null,
            ),
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
                if let Some(m) = o.as_object_mut() {
                    m.remove("apiVersion");
                    m.remove("kind");
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

    fn parse_body(req: &Req) -> Result<Value, (u16, Value)> {
        let text = String::from_utf8_lossy(&req.body);
        let v: Value = if req.content_type.contains("yaml") {
            serde_yaml::from_str(&text).map_err(|e| {
                status(
                    400,
                    "BadRequest",
                    &format!("error decoding YAML: {e}"),
                    Value::Null,
                )
            })?
        } else {
            serde_json::from_str(&text).map_err(|e| {
                status(
                    400,
                    "BadRequest",
                    &format!("error decoding JSON: {e}"),
                    Value::Null,
                )
            })?
        };
        if !v.is_object() {
            return Err(status(
                400,
                "BadRequest",
                "the body must be an object",
                Value::Null,
            ));
        }
        Ok(v)
    }

    fn check_type(t: &Target, body: &Value) -> Result<(), (u16, Value)> {
        let (av, kind) = (body["apiVersion"].as_str(), body["kind"].as_str());
        if av != Some(t.res.api_version().as_str()) || kind != Some(t.res.kind) {
            return Err(status(400, "BadRequest", &format!(
                "the API version in the data ({}) does not match the expected API version ({}) or kind ({}) does not match {}",
                av.unwrap_or(""), t.res.api_version(), kind.unwrap_or(""), t.res.kind
            ), Value::Null));
        }
        Ok(())
    }

    fn manager_name(req: &Req) -> String {
        req.query
            .get("fieldManager")
            .cloned()
            .unwrap_or_else(|| "unknown".into())
    }

    fn create(&mut self, t: &Target, req: &Req, dry_run: bool) -> (u16, Value) {
        let mut obj = match Self::parse_body(req).and_then(|b| Self::check_type(t, &b).map(|_| b)) {
            Ok(b) => b,
            Err(e) => return e,
        };
        let name = obj["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if let Err(e) = rules::validate_name(t.res, &name) {
            return e;
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
            );
        }
        let set = fields::collect(&obj);
        self.server_metadata(t.res, &mut obj, Some(&ns));
        rules::apply_defaults(t.res, &mut obj, &mut || String::new());
        if t.res.plural == "services" && obj["spec"]["clusterIP"].as_str() == Some("") {
            obj["spec"]["clusterIP"] = json!(self.alloc_ip());
        }
        let stored = Stored {
            obj,
            managers: vec![Manager {
                name: Self::manager_name(req),
                operation: "Update",
                api_version: t.res.api_version(),
                subresource: None,
                time: now(),
                fields: set,
            }],
            ready_at: self.auto_ready.map(|d| Instant::now() + d),
        };
        let mut out = self.output(t.res, &stored);
        if dry_run {
            out["metadata"]
                .as_object_mut()
                .map(|m| m.remove("resourceVersion"));
            self.rv -= 1;
        } else {
            self.objects.insert(k, stored);
        }
        (201, out)
    }

    fn update(&mut self, t: &Target, name: &str, req: &Req, dry_run: bool) -> (u16, Value) {
        let body = match Self::parse_body(req) {
            Ok(b) => b,
            Err(e) => return e,
        };
        let ns = t.namespace.clone().unwrap_or_default();
        let k = key(t.res, &ns, name);
        let Some(old) = self.objects.get(&k).cloned() else {
            return rules::not_found(t.res, name);
        };
        let sent_rv = body["metadata"]["resourceVersion"]
            .as_str()
            .map(str::to_string);
        match sent_rv {
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
            }
            Some(rv) if Some(rv.as_str()) != old.obj["metadata"]["resourceVersion"].as_str() => {
                let mut details = json!({"name": name, "kind": t.res.plural});
                if !t.res.group.is_empty() {
                    details["group"] = json!(t.res.group);
                }
                return status(409, "Conflict", &format!(
                    "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
                    t.res.qualified()
                ), details);
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
            ] {
                if let Some(v) = keep_meta.get(f) {
                    new["metadata"][f] = v.clone();
                }
            }
            if let Some(s) = keep_status {
                new["status"] = s;
            }
            rules::apply_defaults(t.res, &mut new, &mut || String::new());
            if let Err(e) = rules::check_immutable(t.res, name, &old.obj, &new) {
                return e;
            }
        }
        self.commit_update(
            t,
            k,
            old,
            new,
            Self::manager_name(req),
            t.sub.clone(),
            dry_run,
        )
    }

    fn patch(&mut self, t: &Target, name: &str, req: &Req, dry_run: bool) -> (u16, Value) {
        let body = match Self::parse_body(req) {
            Ok(b) => b,
            Err(e) => return e,
        };
        let ns = t.namespace.clone().unwrap_or_default();
        let k = key(t.res, &ns, name);
        let Some(old) = self.objects.get(&k).cloned() else {
            return rules::not_found(t.res, name);
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
                rules::apply_defaults(t.res, &mut new, &mut || String::new());
                if let Err(e) = rules::check_immutable(t.res, name, &old.obj, &new) {
                    return e;
                }
            }
        }
        let (code, out) = self.commit_update(
            t,
            k,
            old,
            new,
            Self::manager_name(req),
            t.sub.clone(),
            dry_run,
        );
        if code == 200 && t.sub.as_deref() == Some("scale") {
            return (200, scale_of(t.res, &out));
        }
        (code, out)
    }

    /// Stores the result of an Update operation: the updater takes the
    /// fields it changed from every other manager.
    #[allow(clippy::too_many_arguments)]
    fn commit_update(
        &mut self,
        t: &Target,
        k: Key,
        old: Stored,
        mut new: Value,
        manager: String,
        sub: Option<String>,
        dry_run: bool,
    ) -> (u16, Value) {
        let old_fields = fields::collect(&old.obj);
        let new_fields = fields::collect(&new);
        let changed: FieldSet = new_fields
            .iter()
            .filter(|p| fields::get(&old.obj, p) != fields::get(&new, p))
            .cloned()
            .collect();
        let removed: FieldSet = old_fields.difference(&new_fields).cloned().collect();
        let mut stored = old.clone();
        if without_managed(&new) == without_managed(&old.obj) {
            return (200, self.output(t.res, &old));
        }
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
        if t.res.has_generation() && without_meta_status(&new) != without_meta_status(&old.obj) {
            let g = old.obj["metadata"]["generation"].as_i64().unwrap_or(0) + 1;
            new["metadata"]["generation"] = json!(g);
            stored.ready_at = self.auto_ready.map(|d| Instant::now() + d);
        }
        if !dry_run {
            new["metadata"]["resourceVersion"] = json!(self.next_rv());
        }
        stored.obj = new;
        let out = self.output(t.res, &stored);
        if !dry_run {
            self.objects.insert(k, stored);
        }
        (200, out)
    }

    fn apply(&mut self, t: &Target, name: &str, req: &Req, dry_run: bool) -> (u16, Value) {
        let applied = match Self::parse_body(req).and_then(|b| Self::check_type(t, &b).map(|_| b)) {
            Ok(b) => b,
            Err(e) => return e,
        };
        if let Some(n) = applied["metadata"]["name"].as_str() {
            if n != name {
                return status(
                    400,
                    "BadRequest",
                    &format!(
                        "the name of the object ({n}) does not match the name on the URL ({name})"
                    ),
                    Value::Null,
                );
            }
        }
        let Some(manager) = req.query.get("fieldManager").cloned() else {
            return status(
                400,
                "BadRequest",
                "PATCH with application/apply-patch+yaml requires a fieldManager",
                Value::Null,
            );
        };
        if let Err(e) = rules::validate_name(t.res, name) {
            return e;
        }
        let force = req.query.get("force").is_some_and(|v| v == "true");
        let ns = t.namespace.clone().unwrap_or_default();
        let k = key(t.res, &ns, name);
        let new_set = fields::collect(&applied);
        let entry = |set: FieldSet| Manager {
            name: manager.clone(),
            operation: "Apply",
            api_version: t.res.api_version(),
            subresource: None,
            time: now(),
            fields: set,
        };

        let Some(old) = self.objects.get(&k).cloned() else {
            let mut obj = applied.clone();
            obj["metadata"]["name"] = json!(name);
            self.server_metadata(t.res, &mut obj, Some(&ns));
            rules::apply_defaults(t.res, &mut obj, &mut || String::new());
            if t.res.plural == "services" && obj["spec"]["clusterIP"].as_str() == Some("") {
                obj["spec"]["clusterIP"] = json!(self.alloc_ip());
                obj["spec"]["clusterIPs"] = json!([obj["spec"]["clusterIP"].clone()]);
            }
            let stored = Stored {
                obj,
                managers: vec![entry(new_set)],
                ready_at: self.auto_ready.map(|d| Instant::now() + d),
            };
            let mut out = self.output(t.res, &stored);
            if dry_run {
                out["metadata"]
                    .as_object_mut()
                    .map(|m| m.remove("resourceVersion"));
                self.rv -= 1;
            } else {
                self.objects.insert(k, stored);
            }
            return (201, out);
        };

        // Conflicts: fields another manager owns, set here to another value.
        let mut conflicts: Vec<(&Manager, &Vec<Seg>)> = Vec::new();
        for p in &new_set {
            for m in old.managers.iter().filter(|m| m.name != manager) {
                if m.fields.contains(p) && fields::get(&old.obj, p) != fields::get(&applied, p) {
                    conflicts.push((m, p));
                }
            }
        }
        if !conflicts.is_empty() && !force {
            let describe = |m: &Manager| match &m.subresource {
                Some(s) => format!(
                    "conflict with \"{}\" with subresource \"{s}\" using {}",
                    m.name, m.api_version
                ),
                None => format!("conflict with \"{}\"", m.name),
            };
            let causes: Vec<Value> = conflicts
                .iter()
                .map(|(m, p)| json!({"reason": "FieldManagerConflict", "message": describe(m), "field": fields::display(p)}))
                .collect();
            let message = if conflicts.len() == 1 {
                format!(
                    "Apply failed with 1 conflict: {}: {}",
                    describe(conflicts[0].0),
                    fields::display(conflicts[0].1)
                )
            } else {
                let lines: Vec<String> = conflicts
                    .iter()
                    .map(|(m, p)| format!("{}: {}", describe(m), fields::display(p)))
                    .collect();
                format!(
                    "Apply failed with {} conflicts: {}",
                    conflicts.len(),
                    lines.join("\n")
                )
            };
            return status(409, "Conflict", &message, json!({"causes": causes}));
        }
        let taken: FieldSet = conflicts.iter().map(|(_, p)| (*p).clone()).collect();

        let mut new = old.obj.clone();
        let old_set = old
            .managers
            .iter()
            .find(|m| m.name == manager && m.operation == "Apply")
            .map(|m| m.fields.clone())
            .unwrap_or_default();
        for p in old_set.difference(&new_set) {
            let shared = old
                .managers
                .iter()
                .any(|m| m.name != manager && m.fields.contains(p));
            if !shared {
                fields::remove(&mut new, p);
            }
        }
        let mut body = applied.clone();
        if let Some(m) = body.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("name");
            m.remove("namespace");
        }
        fields::merge(&mut new, &body, "");
        rules::apply_defaults(t.res, &mut new, &mut || String::new());
        if let Err(e) = rules::check_immutable(t.res, name, &old.obj, &new) {
            return e;
        }
        let mut stored = old.clone();
        for m in &mut stored.managers {
            if m.name != manager {
                m.fields.retain(|p| !taken.contains(p));
            }
        }
        let ownership_changed;
        match stored
            .managers
            .iter_mut()
            .find(|m| m.name == manager && m.operation == "Apply")
        {
            Some(m) => {
                ownership_changed = m.fields != new_set;
                if ownership_changed {
                    m.fields = new_set;
                    m.time = now();
                }
            }
            None => {
                ownership_changed = true;
                stored.managers.push(entry(new_set));
            }
        }
        stored.managers.retain(|m| !m.fields.is_empty());
        let changed = without_managed(&new) != without_managed(&old.obj)
            || ownership_changed
            || !taken.is_empty();
        if !changed {
            return (200, self.output(t.res, &old));
        }
        if t.res.has_generation() && without_meta_status(&new) != without_meta_status(&old.obj) {
            let g = old.obj["metadata"]["generation"].as_i64().unwrap_or(0) + 1;
            new["metadata"]["generation"] = json!(g);
            stored.ready_at = self.auto_ready.map(|d| Instant::now() + d);
        }
        if !dry_run {
            new["metadata"]["resourceVersion"] = json!(self.next_rv());
        }
        stored.obj = new;
        let out = self.output(t.res, &stored);
        if !dry_run {
            self.objects.insert(k, stored);
        }
        (200, out)
    }

    fn delete(&mut self, t: &Target, name: &str, dry_run: bool) -> (u16, Value) {
        let ns = t.namespace.clone().unwrap_or_default();
        let k = key(t.res, &ns, name);
        let Some(stored) = self.objects.get(&k).cloned() else {
            return rules::not_found(t.res, name);
        };
        if !dry_run {
            self.objects.remove(&k);
            if t.res.plural == "namespaces" {
                self.objects.retain(|(_, ns, _), _| ns != name);
            }
        }
        // Objects with finalizers come back with a deletion timestamp; the
        // rest get a Status.
        if matches!(
            t.res.plural,
            "persistentvolumes" | "namespaces" | "persistentvolumeclaims"
        ) {
            let mut out = self.output(t.res, &stored);
            out["metadata"]["deletionTimestamp"] = json!(now());
            return (200, out);
        }
        let mut details =
            json!({"name": name, "kind": t.res.plural, "uid": stored.obj["metadata"]["uid"]});
        if !t.res.group.is_empty() {
            details["group"] = json!(t.res.group);
        }
        (
            200,
            json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}),
        )
    }
}

fn scale_of(res: &Res, obj: &Value) -> Value {
    json!({
        "kind": "Scale", "apiVersion": "autoscaling/v1",
        "metadata": {"name": obj["metadata"]["name"], "namespace": obj["metadata"]["namespace"],
                     "uid": obj["metadata"]["uid"], "resourceVersion": obj["metadata"]["resourceVersion"],
                     "creationTimestamp": obj["metadata"]["creationTimestamp"]},
        "spec": {"replicas": obj["spec"]["replicas"]},
        "status": {"replicas": obj["status"]["replicas"].as_i64().unwrap_or(0), "selector": res.plural}
    })
}
