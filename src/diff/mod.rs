//! Diffs of what an operation would change, and of drift: objects are
//! normalised (server bookkeeping, status and ignored paths dropped),
//! Secrets masked, and shown as unified YAML diffs or a JSON change list.

use std::collections::BTreeSet;

use base64::Engine as _;
use serde::Serialize;
use serde_json::{Map, Value};

/// Annotation listing paths (comma separated, `spec.replicas`) a diff ignores.
pub const IGNORE_ANNOTATION: &str = "windlass.io/diff-ignore";

/// What happens to one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Created.
    Create,
    /// Changed.
    Update,
    /// Deleted (pruned).
    Delete,
    /// Would be pruned, but kept (resource-policy keep, volumes, claims).
    Kept,
    /// No change.
    Unchanged,
}

impl Action {
    fn as_str(&self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Delete => "delete",
            Action::Kept => "kept",
            Action::Unchanged => "unchanged",
        }
    }
}

/// One object in a diff.
#[derive(Debug, Clone)]
pub struct Item {
    /// What happens.
    pub action: Action,
    /// Before (live, or the older revision).
    pub before: Option<Value>,
    /// After (what the server would store, or the newer revision).
    pub after: Option<Value>,
}

impl Item {
    fn object(&self) -> &Value {
        self.after
            .as_ref()
            .or(self.before.as_ref())
            .unwrap_or(&Value::Null)
    }

    /// `<namespace>/<kind>/<name> (<group>)`.
    pub fn header(&self) -> String {
        let o = self.object();
        let ns = o["metadata"]["namespace"].as_str().unwrap_or("");
        let group = o["apiVersion"]
            .as_str()
            .and_then(|a| a.rsplit_once('/'))
            .map(|(g, _)| g)
            .unwrap_or("core");
        format!(
            "{ns}/{}/{} ({group})",
            o["kind"].as_str().unwrap_or("?"),
            o["metadata"]["name"].as_str().unwrap_or("?")
        )
    }
}

/// How to show a diff.
#[derive(Debug, Clone)]
pub struct Options {
    /// Lines of context.
    pub context: usize,
    /// Colour (only on a terminal, never with NO_COLOR: the caller decides).
    pub color: bool,
    /// Show unchanged objects too.
    pub verbose: bool,
    /// Show Secret values in clear.
    pub show_secrets: bool,
    /// Paths to ignore everywhere (`spec.replicas`).
    pub ignore: Vec<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            context: 3,
            color: false,
            verbose: false,
            show_secrets: false,
            ignore: Vec::new(),
        }
    }
}

fn remove_path(v: &mut Value, path: &str) {
    let parts: Vec<&str> = path.split('.').filter(|p| !p.is_empty()).collect();
    let Some((last, parents)) = parts.split_last() else {
        return;
    };
    let mut cur = v;
    for p in parents {
        match cur.get_mut(*p) {
            Some(next) => cur = next,
            None => return,
        }
    }
    if let Some(m) = cur.as_object_mut() {
        m.remove(*last);
    }
}

/// Drops what the server keeps for itself and what the user ignores.
pub fn normalize(obj: &Value, ignore: &[String]) -> Value {
    let mut o = obj.clone();
    if let Some(m) = o.as_object_mut() {
        m.remove("status");
    }
    if let Some(meta) = o.get_mut("metadata").and_then(Value::as_object_mut) {
        for k in [
            "managedFields",
            "resourceVersion",
            "uid",
            "creationTimestamp",
            "generation",
            "selfLink",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
        ] {
            meta.remove(k);
        }
        if let Some(a) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
            for k in [
                "kubectl.kubernetes.io/last-applied-configuration",
                "deployment.kubernetes.io/revision",
            ] {
                a.remove(k);
            }
            if a.is_empty() {
                meta.remove("annotations");
            }
        }
    }
    let from_annotation: Vec<String> = obj["metadata"]["annotations"][IGNORE_ANNOTATION]
        .as_str()
        .map(|s| {
            s.split(',')
                .map(|p| p.trim().to_string())
                .filter(|p| !p.is_empty())
                .collect()
        })
        .unwrap_or_default();
    for p in ignore.iter().chain(from_annotation.iter()) {
        remove_path(&mut o, p);
    }
    o
}

/// Replaces Secret values with `<redacted: N bytes, sha256:xxxxxxxx>`.
pub fn mask(obj: &Value) -> Value {
    let mut o = obj.clone();
    if o["kind"] != "Secret" {
        return o;
    }
    let redact = |bytes: &[u8]| {
        Value::String(format!(
            "<redacted: {} bytes, sha256:{}>",
            bytes.len(),
            &crate::package::sha256_hex(bytes)[..8]
        ))
    };
    if let Some(d) = o.get_mut("data").and_then(Value::as_object_mut) {
        for v in d.values_mut() {
            let raw = v.as_str().unwrap_or_default();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(raw)
                .unwrap_or_else(|_| raw.as_bytes().to_vec());
            *v = redact(&bytes);
        }
    }
    if let Some(d) = o.get_mut("stringData").and_then(Value::as_object_mut) {
        for v in d.values_mut() {
            *v = redact(v.as_str().unwrap_or_default().as_bytes());
        }
    }
    o
}

/// Masks every Secret in a YAML stream (for dry-run and manifest output).
pub fn mask_stream(text: &str) -> String {
    let mut out = String::new();
    for doc in text.split("\n---\n") {
        let body = doc.trim_start_matches("---\n");
        let parsed = crate::yaml::parse(body).ok();
        match parsed {
            Some(v) if v["kind"] == "Secret" => {
                let comments: String = body
                    .lines()
                    .filter(|l| l.starts_with('#'))
                    .map(|l| format!("{l}\n"))
                    .collect();
                out.push_str(&format!(
                    "---\n{comments}{}\n",
                    crate::yaml::to_string(&mask(&v))
                ));
            }
            _ => {
                out.push_str(if doc.starts_with("---\n") {
                    ""
                } else {
                    "---\n"
                });
                out.push_str(doc);
                out.push('\n');
            }
        }
    }
    out.trim_end().to_string() + "\n"
}

fn yaml_of(v: Option<&Value>, opts: &Options) -> String {
    match v {
        None => String::new(),
        Some(v) => {
            let n = normalize(v, &opts.ignore);
            let shown = if opts.show_secrets { n } else { mask(&n) };
            crate::yaml::to_string(&shown) + "\n"
        }
    }
}

fn leaf_paths(v: &Value, prefix: String, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, c) in m {
                leaf_paths(
                    c,
                    if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    },
                    out,
                );
            }
        }
        Value::Array(a) if !a.is_empty() => {
            for (i, c) in a.iter().enumerate() {
                leaf_paths(c, format!("{prefix}[{i}]"), out);
            }
        }
        _ => {
            out.insert(prefix);
        }
    }
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

/// Walks both values together, so keys with dots (`kubernetes.io/name`)
/// need no escaping.
fn diff_paths(a: &Value, b: &Value, prefix: String, out: &mut BTreeSet<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                diff_paths(
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                    join(&prefix, k),
                    out,
                );
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                diff_paths(p, q, format!("{prefix}[{i}]"), out);
            }
        }
        (Value::Null, other) | (other, Value::Null) if other.is_object() || other.is_array() => {
            leaf_paths(other, prefix, out);
        }
        _ if a != b => {
            out.insert(prefix);
        }
        _ => {}
    }
}

/// Paths whose values differ between two objects (after normalising).
pub fn changed_paths(
    before: Option<&Value>,
    after: Option<&Value>,
    ignore: &[String],
) -> Vec<String> {
    let b = before.map(|v| normalize(v, ignore)).unwrap_or(Value::Null);
    let a = after.map(|v| normalize(v, ignore)).unwrap_or(Value::Null);
    let mut paths = BTreeSet::new();
    diff_paths(&b, &a, String::new(), &mut paths);
    paths.into_iter().collect()
}

/// Whether normalised before and after differ.
pub fn differs(before: &Value, after: &Value, ignore: &[String]) -> bool {
    normalize(before, ignore) != normalize(after, ignore)
}

/// The unified, optionally coloured diff of every item.
pub fn render(items: &[Item], opts: &Options) -> String {
    let mut out = String::new();
    for it in items {
        if it.action == Action::Unchanged && !opts.verbose {
            continue;
        }
        let header = format!("{}: {}\n", it.header(), it.action.as_str());
        if opts.color {
            out.push_str(&format!("\x1b[1m{header}\x1b[0m"));
        } else {
            out.push_str(&header);
        }
        if matches!(it.action, Action::Unchanged | Action::Kept) {
            continue;
        }
        let (b, a) = (
            yaml_of(it.before.as_ref(), opts),
            yaml_of(it.after.as_ref(), opts),
        );
        let diff = similar::TextDiff::from_lines(&b, &a);
        for hunk in diff
            .unified_diff()
            .context_radius(opts.context)
            .iter_hunks()
        {
            for line in hunk.to_string().lines() {
                let painted = match (opts.color, line.chars().next()) {
                    (true, Some('+')) => format!("\x1b[32m{line}\x1b[0m"),
                    (true, Some('-')) => format!("\x1b[31m{line}\x1b[0m"),
                    (true, Some('@')) => format!("\x1b[36m{line}\x1b[0m"),
                    _ => line.to_string(),
                };
                out.push_str(&painted);
                out.push('\n');
            }
        }
    }
    out
}

/// The change list for `-o json`.
pub fn to_json(items: &[Item], opts: &Options) -> Value {
    Value::Array(
        items
            .iter()
            .filter(|i| opts.verbose || i.action != Action::Unchanged)
            .map(|i| {
                let o = i.object();
                let mut m = Map::new();
                m.insert("kind".into(), o["kind"].clone());
                m.insert("name".into(), o["metadata"]["name"].clone());
                m.insert("namespace".into(), o["metadata"]["namespace"].clone());
                m.insert("apiVersion".into(), o["apiVersion"].clone());
                m.insert("action".into(), Value::String(i.action.as_str().into()));
                m.insert(
                    "changedPaths".into(),
                    serde_json::json!(changed_paths(
                        i.before.as_ref(),
                        i.after.as_ref(),
                        &opts.ignore
                    )),
                );
                Value::Object(m)
            })
            .collect(),
    )
}

/// Re-judges updates under the ignore rules (flag paths and each object's
/// `windlass.io/diff-ignore` annotation): an update that only touches
/// ignored paths becomes unchanged.
pub fn apply_ignores(items: &mut [Item], ignore: &[String]) {
    for it in items.iter_mut() {
        if it.action == Action::Update {
            if let (Some(b), Some(a)) = (&it.before, &it.after) {
                if !differs(b, a, ignore) {
                    it.action = Action::Unchanged;
                }
            }
        }
    }
}

/// Whether anything would change.
pub fn has_changes(items: &[Item]) -> bool {
    items
        .iter()
        .any(|i| matches!(i.action, Action::Create | Action::Update | Action::Delete))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn normalize_drops_bookkeeping_and_ignored_paths() {
        let o = json!({"kind": "StatefulSet", "metadata": {"name": "a", "uid": "u", "resourceVersion": "1", "managedFields": [], "annotations": {"windlass.io/diff-ignore": "spec.replicas"}}, "spec": {"replicas": 3, "x": 1}, "status": {"ready": 1}});
        let n = normalize(&o, &["spec.x".into()]);
        assert_eq!(
            n,
            json!({"kind": "StatefulSet", "metadata": {"name": "a", "annotations": {"windlass.io/diff-ignore": "spec.replicas"}}, "spec": {}})
        );
    }

    #[test]
    fn secrets_are_masked() {
        let s = json!({"kind": "Secret", "data": {"p": "aHVudGVyMg=="}, "stringData": {"q": "hunter2"}});
        let m = mask(&s);
        assert_eq!(m["data"]["p"], "<redacted: 7 bytes, sha256:f52fbd32>");
        assert_eq!(m["stringData"]["q"], "<redacted: 7 bytes, sha256:f52fbd32>");
        let stream = mask_stream("---\n# Source: x\napiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nstringData:\n  q: hunter2\n---\nkind: ConfigMap\n");
        assert!(!stream.contains("hunter2"), "{stream}");
        assert!(
            stream.contains("# Source: x") && stream.contains("kind: ConfigMap"),
            "{stream}"
        );
    }

    #[test]
    fn paths_and_render() {
        let b = json!({"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"name": "c", "namespace": "n"}, "data": {"a": "1", "b": "2"}});
        let a = json!({"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"name": "c", "namespace": "n"}, "data": {"a": "1", "b": "3", "c": "4"}});
        assert_eq!(changed_paths(Some(&b), Some(&a), &[]), ["data.b", "data.c"]);
        let items = [Item {
            action: Action::Update,
            before: Some(b),
            after: Some(a),
        }];
        let text = render(&items, &Options::default());
        assert!(
            text.starts_with("n/ConfigMap/c (core): update\n@@"),
            "{text}"
        );
        assert!(
            text.contains("-  b: \"2\"\n+  b: \"3\"\n+  c: \"4\""),
            "{text}"
        );
        assert!(has_changes(&items));
    }
}
