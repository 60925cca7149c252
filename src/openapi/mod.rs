//! The offline type check: every rendered object of a built-in kind is
//! checked against the Kubernetes OpenAPI v3 schema of its apiVersion and
//! kind before any request, collecting every problem (wrong types, unknown
//! fields, missing required fields) with its path.
//!
//! k8s-openapi's derived deserializers would skip unknown fields, stop at
//! the first error and name no path, so this walks the schemas the real
//! API server publishes (schemas/kubernetes/, embedded by build.rs).
//! Objects of kinds the schemas do not know (custom resources) are left to
//! the server.

use std::collections::HashMap;
use std::io::Read;
use std::sync::OnceLock;

use serde_json::{Map, Value};

use crate::render::Manifest;

static EMBEDDED: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/kubernetes-schemas.json.gz"));

/// One problem in one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where, as `.spec.template.spec.volumes[1].configMap.defaultMode`.
    pub path: String,
    /// What is wrong (`expected integer, got string "0555"`).
    pub message: String,
}

/// A problem found in a rendered manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectProblem {
    /// `StatefulSet hdfs-datanode`.
    pub object: String,
    /// The template it came from.
    pub source: String,
    /// The problem.
    pub problem: Problem,
}

impl std::fmt::Display for ObjectProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}): {}: {}",
            self.object, self.source, self.problem.path, self.problem.message
        )
    }
}

/// Rendered objects that do not match their Kubernetes schema.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}", describe(.0))]
pub struct TypeErrors(pub Vec<ObjectProblem>);

fn describe(problems: &[ObjectProblem]) -> String {
    let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
    format!(
        "{} problem(s) against the Kubernetes schema; nothing was sent:\n  {}",
        problems.len(),
        lines.join("\n  ")
    )
}

/// The Kubernetes schemas, by name and by group/version/kind.
pub struct Schemas {
    by_name: Map<String, Value>,
    by_gvk: HashMap<(String, String), String>,
}

impl Schemas {
    /// The schemas built into windlass (Kubernetes v1.32), loaded once.
    pub fn embedded() -> &'static Schemas {
        static SCHEMAS: OnceLock<Schemas> = OnceLock::new();
        SCHEMAS.get_or_init(|| {
            let mut json = Vec::new();
            // The bytes are our own build output; a failure here is a
            // broken build, and an empty schema set only disables the check.
            let parsed = flate2::read::GzDecoder::new(EMBEDDED)
                .read_to_end(&mut json)
                .ok()
                .and_then(|_| serde_json::from_slice::<Map<String, Value>>(&json).ok())
                .unwrap_or_default();
            Schemas::from_map(parsed)
        })
    }

    /// Schemas from a map of schema name to schema.
    pub fn from_map(by_name: Map<String, Value>) -> Schemas {
        let mut by_gvk = HashMap::new();
        for (name, s) in &by_name {
            for g in s["x-kubernetes-group-version-kind"]
                .as_array()
                .into_iter()
                .flatten()
            {
                let (group, version, kind) = (
                    g["group"].as_str().unwrap_or(""),
                    g["version"].as_str().unwrap_or(""),
                    g["kind"].as_str().unwrap_or(""),
                );
                let api_version = if group.is_empty() {
                    version.to_string()
                } else {
                    format!("{group}/{version}")
                };
                by_gvk.insert((api_version, kind.to_string()), name.clone());
            }
        }
        Schemas { by_name, by_gvk }
    }

    /// Whether the schemas describe this apiVersion and kind.
    pub fn knows(&self, api_version: &str, kind: &str) -> bool {
        self.by_gvk
            .contains_key(&(api_version.to_string(), kind.to_string()))
    }

    /// Every problem of one object; none for kinds the schemas do not know.
    pub fn check(&self, obj: &Value) -> Vec<Problem> {
        let key = (
            obj["apiVersion"].as_str().unwrap_or("").to_string(),
            obj["kind"].as_str().unwrap_or("").to_string(),
        );
        let Some(schema) = self.by_gvk.get(&key).and_then(|n| self.by_name.get(n)) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        self.walk(obj, schema, &mut String::new(), &mut out);
        out
    }

    /// The schema a `$ref` (direct, or the `allOf: [{$ref}]` wrapper the
    /// server uses) points at.
    fn deref<'a>(&'a self, s: &'a Value) -> &'a Value {
        let target = s["$ref"]
            .as_str()
            .or_else(|| s["allOf"][0]["$ref"].as_str());
        match target
            .and_then(|r| r.strip_prefix("#/components/schemas/"))
            .and_then(|n| self.by_name.get(n))
        {
            Some(t) => self.deref(t),
            None => s,
        }
    }

    fn walk(&self, v: &Value, schema: &Value, path: &mut String, out: &mut Vec<Problem>) {
        let s = self.deref(schema);
        if v.is_null() {
            return;
        }
        let mut problem = |path: &str, message: String| {
            out.push(Problem {
                path: if path.is_empty() {
                    ".".into()
                } else {
                    path.to_string()
                },
                message,
            })
        };
        if s["format"] == "int-or-string" || s["x-kubernetes-int-or-string"] == true {
            if !(is_integer(v) || v.is_string()) {
                problem(
                    path,
                    format!("expected integer or string, got {}", shown(v)),
                );
            }
            return;
        }
        if let Some(options) = s["oneOf"].as_array() {
            let fits = options.iter().any(|o| type_fits(o["type"].as_str(), v));
            if !fits {
                let names: Vec<&str> = options.iter().filter_map(|o| o["type"].as_str()).collect();
                problem(
                    path,
                    format!("expected {}, got {}", names.join(" or "), shown(v)),
                );
            }
            return;
        }
        let ty = s["type"].as_str();
        if !type_fits(ty, v) {
            problem(
                path,
                format!("expected {}, got {}", ty.unwrap_or("?"), shown(v)),
            );
            return;
        }
        match v {
            Value::String(text) if s["format"] == "byte" => {
                use base64::Engine as _;
                if base64::engine::general_purpose::STANDARD
                    .decode(text)
                    .is_err()
                {
                    problem(path, "expected base64 data (as in a Secret's data; use stringData for plain text)".into());
                }
            }
            Value::Object(m) => self.walk_object(m, s, path, out),
            Value::Array(items) => {
                if let Some(item_schema) = s.get("items") {
                    for (i, item) in items.iter().enumerate() {
                        let len = path.len();
                        path.push_str(&format!("[{i}]"));
                        self.walk(item, item_schema, path, out);
                        path.truncate(len);
                    }
                }
            }
            _ => {}
        }
    }

    fn walk_object(
        &self,
        m: &Map<String, Value>,
        s: &Value,
        path: &mut String,
        out: &mut Vec<Problem>,
    ) {
        let props = s["properties"].as_object();
        let extra = s.get("additionalProperties").filter(|a| a.is_object());
        let open = s["x-kubernetes-preserve-unknown-fields"] == true
            || (props.is_none() && extra.is_none());
        for (k, child) in m {
            let len = path.len();
            path.push('.');
            path.push_str(k);
            match (props.and_then(|p| p.get(k)), extra) {
                (Some(cs), _) | (None, Some(cs)) => self.walk(child, cs, path, out),
                (None, None) if !open => {
                    let hint = props
                        .and_then(|p| closest(k, p.keys()))
                        .map(|c| format!("; did you mean `{c}`?"))
                        .unwrap_or_default();
                    out.push(Problem {
                        path: path.clone(),
                        message: format!("unknown field \"{k}\"{hint}"),
                    });
                }
                (None, None) => {}
            }
            path.truncate(len);
        }
        for r in s["required"].as_array().into_iter().flatten() {
            let Some(r) = r.as_str() else { continue };
            if m.get(r).is_none_or(Value::is_null) {
                out.push(Problem {
                    path: if path.is_empty() {
                        ".".into()
                    } else {
                        path.clone()
                    },
                    message: format!("missing required field \"{r}\""),
                });
            }
        }
    }
}

fn closest<'a>(word: &str, candidates: impl Iterator<Item = &'a String>) -> Option<&'a str> {
    candidates
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, _)| *score > 0.85)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c.as_str())
}

fn is_integer(v: &Value) -> bool {
    v.is_i64() || v.is_u64() || v.as_f64().is_some_and(|f| f.fract() == 0.0)
}

fn type_fits(ty: Option<&str>, v: &Value) -> bool {
    match ty {
        Some("string") => v.is_string(),
        Some("integer") => is_integer(v),
        Some("number") => v.is_number(),
        Some("boolean") => v.is_boolean(),
        Some("object") => v.is_object(),
        Some("array") => v.is_array(),
        _ => true,
    }
}

/// A value for a message: its JSON type, and the value when short.
fn shown(v: &Value) -> String {
    match v {
        Value::String(s) if s.chars().count() <= 40 => format!("string {v}"),
        Value::String(_) => "a string".into(),
        Value::Number(n) => format!("number {n}"),
        Value::Bool(b) => format!("boolean {b}"),
        Value::Object(_) => "an object".into(),
        Value::Array(_) => "a list".into(),
        Value::Null => "null".into(),
    }
}

/// Checks rendered manifests; every problem of every object at once.
pub fn check_manifests(manifests: &[Manifest]) -> Result<(), TypeErrors> {
    let schemas = Schemas::embedded();
    let problems: Vec<ObjectProblem> = manifests
        .iter()
        .flat_map(|m| {
            schemas
                .check(&m.object)
                .into_iter()
                .map(|problem| ObjectProblem {
                    object: format!("{} {}", m.kind, m.name),
                    source: m.source.clone(),
                    problem,
                })
        })
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(TypeErrors(problems))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn problems(obj: Value) -> Vec<String> {
        Schemas::embedded()
            .check(&obj)
            .into_iter()
            .map(|p| format!("{}: {}", p.path, p.message))
            .collect()
    }

    #[test]
    fn the_embedded_schemas_know_the_built_in_kinds() {
        let s = Schemas::embedded();
        for (av, kind) in [
            ("v1", "ConfigMap"),
            ("apps/v1", "StatefulSet"),
            ("policy/v1", "PodDisruptionBudget"),
            ("networking.k8s.io/v1", "NetworkPolicy"),
            ("coordination.k8s.io/v1", "Lease"),
            ("apiextensions.k8s.io/v1", "CustomResourceDefinition"),
        ] {
            assert!(s.knows(av, kind), "{av} {kind}");
        }
        assert!(!s.knows("example.com/v1", "Widget"));
    }

    #[test]
    fn wrong_types_unknown_and_missing_fields_are_all_reported_with_paths() {
        let got = problems(json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"a": 1}},
            "spec": {
                "replicas": "3",
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"spec": {
                    "containers": [{"image": "nginx", "ports": [{"containerPort": "8080"}], "imagePullPolicy": "Always"}],
                    "volumes": [{"name": "c", "configMap": {"name": "c", "defaultMode": "0555"}}],
                    "nodeSelecter": {}
                }}
            }
        }));
        assert_eq!(
            got,
            [
                ".metadata.labels.a: expected string, got number 1",
                ".spec.replicas: expected integer, got string \"3\"",
                ".spec.template.spec.containers[0].ports[0].containerPort: expected integer, got string \"8080\"",
                ".spec.template.spec.containers[0]: missing required field \"name\"",
                ".spec.template.spec.nodeSelecter: unknown field \"nodeSelecter\"; did you mean `nodeSelector`?",
                ".spec.template.spec.volumes[0].configMap.defaultMode: expected integer, got string \"0555\"",
            ]
        );
    }

    #[test]
    fn int_or_string_quantities_and_custom_resources_pass() {
        assert!(problems(json!({
            "apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
            "spec": {"ports": [{"port": 80, "targetPort": "http"}, {"port": 81, "targetPort": 8081}]}
        }))
        .is_empty());
        assert!(problems(json!({
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "a", "resources": {"limits": {"cpu": 0.5, "memory": "1Gi"}}}]}
        }))
        .is_empty());
        assert!(problems(json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"anything": "0555"}})).is_empty());
        assert_eq!(
            problems(json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"k": "not base64!"}})),
            [".data.k: expected base64 data (as in a Secret's data; use stringData for plain text)"]
        );
    }
}
