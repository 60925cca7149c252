//! Server-side apply field sets, as the real API server's
//! structured-merge-diff computes them: maps are granular, lists of named
//! things (containers, env, volumes, ports, volume mounts) are associative by
//! their keys, label selectors and other lists are atomic.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

/// One step of a field path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Seg {
    /// A map field (`f:name`).
    F(String),
    /// A list item by its key (`k:{"name":"x"}`).
    K(String),
}

/// A field path; one ending in [`Seg::K`] stands for the item itself (`.`).
pub type Path = Vec<Seg>;

/// Fields an object sets.
pub type FieldSet = BTreeSet<Path>;

/// Top-level and metadata fields that are not managed.
fn skipped(path: &[Seg]) -> bool {
    match path {
        [Seg::F(a)] => matches!(a.as_str(), "apiVersion" | "kind" | "status"),
        [Seg::F(m), Seg::F(f)] if m == "metadata" => matches!(
            f.as_str(),
            "name"
                | "namespace"
                | "uid"
                | "resourceVersion"
                | "generation"
                | "creationTimestamp"
                | "managedFields"
                | "deletionTimestamp"
        ),
        _ => false,
    }
}

fn atomic_map(name: &str) -> bool {
    name == "selector"
}

/// The key of a list item, for lists that are associative.
pub fn item_key(list_field: &str, item: &Value) -> Option<String> {
    let obj = item.as_object()?;
    let mut key = Map::new();
    match list_field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "volumes"
        | "env"
        | "imagePullSecrets" => {
            key.insert("name".into(), obj.get("name")?.clone());
        }
        "volumeMounts" => {
            key.insert("mountPath".into(), obj.get("mountPath")?.clone());
        }
        "ports" => {
            let proto = obj
                .get("protocol")
                .cloned()
                .unwrap_or_else(|| Value::String("TCP".into()));
            if let Some(p) = obj.get("containerPort") {
                key.insert("containerPort".into(), p.clone());
            } else {
                key.insert("port".into(), obj.get("port")?.clone());
            }
            key.insert("protocol".into(), proto);
        }
        _ => return None,
    }
    Some(Value::Object(key).to_string())
}

fn associative(list_field: &str, items: &[Value]) -> bool {
    !items.is_empty() && items.iter().all(|i| item_key(list_field, i).is_some())
}

/// Every leaf field `value` sets, as SSA records it.
pub fn collect(value: &Value) -> FieldSet {
    let mut out = FieldSet::new();
    walk(value, &mut Vec::new(), &mut out);
    out
}

fn last_name(path: &[Seg]) -> &str {
    match path.last() {
        Some(Seg::F(n)) => n,
        _ => "",
    }
}

fn walk(v: &Value, path: &mut Path, out: &mut FieldSet) {
    if skipped(path) {
        return;
    }
    match v {
        Value::Object(m) if !m.is_empty() && !atomic_map(last_name(path)) => {
            for (k, child) in m {
                path.push(Seg::F(k.clone()));
                walk(child, path, out);
                path.pop();
            }
        }
        Value::Array(items) if associative(last_name(path), items) => {
            let field = last_name(path).to_string();
            for item in items {
                let Some(k) = item_key(&field, item) else {
                    continue;
                };
                path.push(Seg::K(k));
                out.insert(path.clone());
                walk(item, path, out);
                path.pop();
            }
        }
        _ => {
            if !path.is_empty() {
                out.insert(path.clone());
            }
        }
    }
}

/// The value at a path, if present.
pub fn get<'a>(v: &'a Value, path: &[Seg]) -> Option<&'a Value> {
    let mut cur = v;
    let mut field = String::new();
    for seg in path {
        match seg {
            Seg::F(n) => {
                cur = cur.as_object()?.get(n)?;
                field = n.clone();
            }
            Seg::K(k) => {
                cur = cur
                    .as_array()?
                    .iter()
                    .find(|i| item_key(&field, i).as_deref() == Some(k))?;
            }
        }
    }
    Some(cur)
}

/// Removes the field or list item at a path.
pub fn remove(v: &mut Value, path: &[Seg]) {
    let Some((last, parent_path)) = path.split_last() else {
        return;
    };
    let field = match parent_path.last() {
        Some(Seg::F(n)) => n.clone(),
        _ => String::new(),
    };
    let Some(parent) = get_mut(v, parent_path) else {
        return;
    };
    match last {
        Seg::F(n) => {
            if let Some(m) = parent.as_object_mut() {
                m.remove(n);
            }
        }
        Seg::K(k) => {
            if let Some(a) = parent.as_array_mut() {
                a.retain(|i| item_key(&field, i).as_deref() != Some(k));
            }
        }
    }
}

fn get_mut<'a>(v: &'a mut Value, path: &[Seg]) -> Option<&'a mut Value> {
    let mut cur = v;
    let mut field = String::new();
    for seg in path {
        match seg {
            Seg::F(n) => {
                cur = cur.as_object_mut()?.get_mut(n)?;
                field = n.clone();
            }
            Seg::K(k) => {
                cur = cur
                    .as_array_mut()?
                    .iter_mut()
                    .find(|i| item_key(&field, i).as_deref() == Some(k))?;
            }
        }
    }
    Some(cur)
}

/// Merges an applied configuration into the live object.
pub fn merge(live: &mut Value, applied: &Value, field: &str) {
    match (live, applied) {
        (Value::Object(l), Value::Object(a)) if !atomic_map(field) => {
            for (k, v) in a {
                match l.get_mut(k) {
                    Some(existing) => merge(existing, v, k),
                    None => {
                        l.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (Value::Array(l), Value::Array(a)) if associative(field, a) && associative(field, l) => {
            for item in a {
                let key = item_key(field, item);
                match l.iter_mut().find(|i| item_key(field, i) == key) {
                    Some(existing) => merge(existing, item, ""),
                    None => l.push(item.clone()),
                }
            }
        }
        (l, a) => *l = a.clone(),
    }
}

/// A path as the API server prints it: `.spec.template.spec.containers[name="dn"].image`.
pub fn display(path: &[Seg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::F(n) => {
                out.push('.');
                out.push_str(n);
            }
            Seg::K(k) => {
                let parsed: Map<String, Value> = serde_json::from_str(k).unwrap_or_default();
                let inner: Vec<String> = parsed.iter().map(|(k, v)| format!("{k}={v}")).collect();
                out.push_str(&format!("[{}]", inner.join(",")));
            }
        }
    }
    out
}

/// The fieldsV1 form of a set.
pub fn to_fields_v1(set: &FieldSet) -> Value {
    let mut root = Map::new();
    for path in set {
        let mut cur = &mut root;
        for (i, seg) in path.iter().enumerate() {
            let key = match seg {
                Seg::F(n) => format!("f:{n}"),
                Seg::K(k) => format!("k:{k}"),
            };
            let entry = cur.entry(key).or_insert_with(|| Value::Object(Map::new()));
            let last = i + 1 == path.len();
            let Value::Object(next) = entry else {
                unreachable!("fieldsV1 nodes are maps")
            };
            if last {
                if let Seg::K(_) = seg {
                    next.insert(".".into(), Value::Object(Map::new()));
                }
            }
            cur = next;
        }
    }
    Value::Object(root)
}
