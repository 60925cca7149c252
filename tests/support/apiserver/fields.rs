//! Server-side apply field sets, as the real API server's
//! structured-merge-diff computes them from the schema: maps are granular
//! unless `x-kubernetes-map-type: atomic`; lists are associative by their
//! `x-kubernetes-list-map-keys` (missing keys take their declared
//! default), sets by value, and atomic otherwise (recordings 45-62).

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::schema::{key_display, ListKind, Node};

/// One step of a field path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Seg {
    /// A map field (`f:name`).
    F(String),
    /// A list item by its key (`k:{"name":"x"}`).
    K(String),
    /// A set element by its value (`v:"x"`).
    V(String),
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
                | "deletionGracePeriodSeconds"
                | "selfLink"
        ),
        _ => false,
    }
}

/// The schema node of the value at the top of an object, by field name.
fn child(node: Node, path: &[Seg], name: &str) -> Node {
    let n = if path.is_empty() {
        node.top_field(name)
    } else {
        node.field(name)
    };
    n.unwrap_or(Node::FREE)
}

fn key_of(node: Node, keys: &[String], item: &Value) -> Option<String> {
    node.items()
        .item_key(keys, item)
        .map(|k| Value::Object(k).to_string())
}

/// Every leaf field `value` sets, as SSA records it.
pub fn collect(value: &Value, root: Node) -> FieldSet {
    let mut out = FieldSet::new();
    walk(value, root, &mut Vec::new(), &mut out);
    out
}

fn walk(v: &Value, node: Node, path: &mut Path, out: &mut FieldSet) {
    if skipped(path) {
        return;
    }
    match v {
        Value::Object(m) if !m.is_empty() && !node.atomic_map() => {
            for (k, c) in m {
                let n = child(node, path, k);
                path.push(Seg::F(k.clone()));
                walk(c, n, path, out);
                path.pop();
            }
        }
        Value::Array(items) if !items.is_empty() => match node.list_kind() {
            ListKind::Map(keys) => {
                let all: Vec<Option<String>> =
                    items.iter().map(|i| key_of(node, &keys, i)).collect();
                for (item, k) in items.iter().zip(&all) {
                    let Some(k) = k else { continue };
                    path.push(Seg::K(k.clone()));
                    out.insert(path.clone());
                    // Items sharing a key cannot be told apart: the key is
                    // owned as a whole, with no fields under it (recording 41).
                    if all.iter().filter(|x| x.as_ref() == Some(k)).count() == 1 {
                        walk(item, node.items(), path, out);
                    }
                    path.pop();
                }
            }
            ListKind::Set => {
                for item in items {
                    path.push(Seg::V(item.to_string()));
                    out.insert(path.clone());
                    path.pop();
                }
            }
            ListKind::Atomic => {
                out.insert(path.clone());
            }
        },
        _ => {
            if !path.is_empty() {
                out.insert(path.clone());
            }
        }
    }
}

/// Whether a set element is the one a `v:` segment names.
fn same_element(item: &Value, x: &str) -> bool {
    serde_json::from_str::<Value>(x).is_ok_and(|v| v == *item)
}

/// The schema node at the end of `path` and the value there.
fn locate<'a>(v: &'a Value, root: Node, path: &[Seg]) -> Option<(&'a Value, Node)> {
    let mut cur = v;
    let mut node = root;
    for (i, seg) in path.iter().enumerate() {
        match seg {
            Seg::F(n) => {
                node = child(node, &path[..i], n);
                cur = cur.as_object()?.get(n)?;
            }
            Seg::K(k) => {
                let ListKind::Map(keys) = node.list_kind() else {
                    return None;
                };
                let found = cur
                    .as_array()?
                    .iter()
                    .find(|item| key_of(node, &keys, item).as_deref() == Some(k))?;
                node = node.items();
                cur = found;
            }
            Seg::V(x) => {
                cur = cur.as_array()?.iter().find(|item| same_element(item, x))?;
                node = Node::FREE;
            }
        }
    }
    Some((cur, node))
}

/// The value at a path, if present.
pub fn get<'a>(v: &'a Value, root: Node, path: &[Seg]) -> Option<&'a Value> {
    locate(v, root, path).map(|(v, _)| v)
}

/// Removes the field, list item or set element at a path.
pub fn remove(v: &mut Value, root: Node, path: &[Seg]) {
    let Some((last, parent_path)) = path.split_last() else {
        return;
    };
    let Some((_, parent_node)) = locate(v, root, parent_path) else {
        return;
    };
    let Some(parent) = get_mut(v, root, parent_path) else {
        return;
    };
    match last {
        Seg::F(n) => {
            if let Some(m) = parent.as_object_mut() {
                m.remove(n);
            }
        }
        Seg::K(k) => {
            if let (Some(a), ListKind::Map(keys)) = (parent.as_array_mut(), parent_node.list_kind())
            {
                a.retain(|i| key_of(parent_node, &keys, i).as_deref() != Some(k));
            }
        }
        Seg::V(x) => {
            if let Some(a) = parent.as_array_mut() {
                a.retain(|i| !same_element(i, x));
            }
        }
    }
}

fn get_mut<'a>(v: &'a mut Value, root: Node, path: &[Seg]) -> Option<&'a mut Value> {
    let mut cur = v;
    let mut node = root;
    for (i, seg) in path.iter().enumerate() {
        match seg {
            Seg::F(n) => {
                node = child(node, &path[..i], n);
                cur = cur.as_object_mut()?.get_mut(n)?;
            }
            Seg::K(k) => {
                let ListKind::Map(keys) = node.list_kind() else {
                    return None;
                };
                let n = node;
                cur = cur
                    .as_array_mut()?
                    .iter_mut()
                    .find(|item| key_of(n, &keys, item).as_deref() == Some(k))?;
                node = node.items();
            }
            Seg::V(x) => {
                cur = cur
                    .as_array_mut()?
                    .iter_mut()
                    .find(|item| same_element(item, x))?;
            }
        }
    }
    Some(cur)
}

/// Merges an applied configuration into the live object.
pub fn merge(live: &mut Value, applied: &Value, node: Node, top: bool) {
    match (live, applied) {
        (Value::Object(l), Value::Object(a)) if !node.atomic_map() => {
            for (k, v) in a {
                let n = if top {
                    node.top_field(k)
                } else {
                    node.field(k)
                }
                .unwrap_or(Node::FREE);
                match l.get_mut(k) {
                    Some(existing) => merge(existing, v, n, false),
                    None => {
                        l.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (Value::Array(l), Value::Array(a)) => match node.list_kind() {
            ListKind::Map(keys) => {
                for item in a {
                    let key = key_of(node, &keys, item);
                    // Live duplicates of the key collapse into one item (recording 44).
                    let mut first = true;
                    l.retain(|i| {
                        let same = key.is_some() && key_of(node, &keys, i) == key;
                        let keep = !same || first;
                        if same {
                            first = false;
                        }
                        keep
                    });
                    match l
                        .iter_mut()
                        .find(|i| key.is_some() && key_of(node, &keys, i) == key)
                    {
                        Some(existing) => merge(existing, item, node.items(), false),
                        None => l.push(item.clone()),
                    }
                }
            }
            ListKind::Set => {
                for item in a {
                    if !l.contains(item) {
                        l.push(item.clone());
                    }
                }
            }
            ListKind::Atomic => *l = a.clone(),
        },
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
                let keys: Vec<String> = parsed.keys().cloned().collect();
                out.push_str(&key_display(&keys, &parsed));
            }
            Seg::V(x) => out.push_str(&format!("[={x}]")),
        }
    }
    out
}

/// Whether the set holds fields under `path` (not only `path` itself).
pub fn has_children(set: &FieldSet, path: &[Seg]) -> bool {
    set.range(path.to_vec()..)
        .find(|p| p.as_slice() != path)
        .is_some_and(|next| next.len() > path.len() && next.starts_with(path))
}

/// The fieldsV1 form of a set: a list item owned with fields under it is
/// `{".": {}, ...}`, one owned as a whole is `{}`.
pub fn to_fields_v1(set: &FieldSet) -> Value {
    let mut root = Map::new();
    for path in set {
        let mut cur = &mut root;
        for (i, seg) in path.iter().enumerate() {
            let key = match seg {
                Seg::F(n) => format!("f:{n}"),
                Seg::K(k) => format!("k:{k}"),
                Seg::V(x) => format!("v:{x}"),
            };
            let entry = cur.entry(key).or_insert_with(|| Value::Object(Map::new()));
            let last = i + 1 == path.len();
            let Value::Object(next) = entry else {
                unreachable!("fieldsV1 nodes are maps")
            };
            if last {
                if let Seg::K(_) = seg {
                    if has_children(set, path) {
                        next.insert(".".into(), Value::Object(Map::new()));
                    }
                }
            }
            cur = next;
        }
    }
    Value::Object(root)
}
