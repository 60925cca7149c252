//! The real server's OpenAPI v3 documents (schemas/kubernetes/), read
//! as the server uses them for server-side apply: field types, list types
//! (`map` with its keys, `set`, `atomic`), atomic maps and structs, and
//! declared defaults of list-map keys (`protocol: TCP`). A CRD's
//! openAPIV3Schema is read the same way.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde_json::{Map, Value};

struct Schemas {
    by_name: Map<String, Value>,
    by_gvk: HashMap<(String, String), String>,
}

fn schemas() -> &'static Schemas {
    static S: OnceLock<Schemas> = OnceLock::new();
    S.get_or_init(|| {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/kubernetes");
        let mut by_name = Map::new();
        let mut by_gvk = HashMap::new();
        for entry in std::fs::read_dir(&dir).expect("schemas/kubernetes") {
            let path = entry.expect("entry").path();
            if path.extension().is_none_or(|e| e != "json")
                || path.file_name().is_some_and(|n| n == "index.json")
            {
                continue;
            }
            let doc: Value =
                serde_json::from_str(&std::fs::read_to_string(&path).expect("readable"))
                    .expect("JSON");
            for (name, s) in doc["components"]["schemas"].as_object().expect("schemas") {
                for g in s["x-kubernetes-group-version-kind"]
                    .as_array()
                    .into_iter()
                    .flatten()
                {
                    let (group, version) =
                        (g["group"].as_str().unwrap(), g["version"].as_str().unwrap());
                    let av = if group.is_empty() {
                        version.to_string()
                    } else {
                        format!("{group}/{version}")
                    };
                    by_gvk.insert((av, g["kind"].as_str().unwrap().to_string()), name.clone());
                }
                by_name.insert(name.clone(), s.clone());
            }
        }
        Schemas { by_name, by_gvk }
    })
}

/// How a list merges in server-side apply.
#[derive(Debug, Clone, PartialEq)]
pub enum ListKind {
    /// Items identified by these fields.
    Map(Vec<String>),
    /// Scalars identified by value.
    Set,
    /// Replaced and owned as a whole.
    Atomic,
}

/// A position in a schema; `None` is a value with no schema (free-form),
/// which server-side apply treats as granular maps and atomic lists.
#[derive(Debug, Clone, Copy)]
pub struct Node {
    s: Option<&'static Value>,
    /// The Go type name of the schema (`DeploymentSpec`), when it is one.
    pub type_name: Option<&'static str>,
    /// `x-kubernetes-map-type` set where a type is used, overriding the
    /// type's own (`PersistentVolumeSpec.claimRef` is a granular
    /// ObjectReference, recording 88).
    map_type: Option<&'static str>,
}

impl Node {
    /// No schema.
    pub const FREE: Node = Node {
        s: None,
        type_name: None,
        map_type: None,
    };

    /// The schema of a built-in kind.
    pub fn for_kind(api_version: &str, kind: &str) -> Node {
        let s = schemas();
        match s.by_gvk.get(&(api_version.to_string(), kind.to_string())) {
            Some(name) => Node::named(name),
            None => Node::FREE,
        }
    }

    /// A CRD version's openAPIV3Schema (leaked: CRD types live as long as the test).
    pub fn for_crd(schema: &Value) -> Node {
        let leaked: &'static Value = Box::leak(Box::new(schema.clone()));
        Node {
            s: Some(leaked),
            type_name: None,
            map_type: None,
        }
    }

    fn named(name: &str) -> Node {
        let s = schemas();
        match s.by_name.get_key_value(name) {
            Some((k, v)) => {
                let short = k.rsplit('.').next().unwrap_or(k);
                Node {
                    s: Some(v),
                    type_name: Some(short),
                    map_type: None,
                }
                .deref()
            }
            None => Node::FREE,
        }
    }

    fn deref(self) -> Node {
        let Some(s) = self.s else { return self };
        let target = s["$ref"]
            .as_str()
            .or_else(|| s["allOf"][0]["$ref"].as_str());
        match target.and_then(|r| r.strip_prefix("#/components/schemas/")) {
            Some(name) => {
                let mut n = Node::named(name);
                n.map_type = s["x-kubernetes-map-type"].as_str().or(self.map_type);
                n
            }
            None => self,
        }
    }

    fn at(s: &'static Value) -> Node {
        Node {
            s: Some(s),
            type_name: None,
            map_type: None,
        }
        .deref()
    }

    fn get(&self, key: &str) -> Option<&'static Value> {
        self.s.and_then(|s| s.get(key))
    }

    /// Whether this value has no schema to check against.
    pub fn is_free(&self) -> bool {
        match self.s {
            None => true,
            Some(s) => {
                s["x-kubernetes-preserve-unknown-fields"] == true
                    || (s["type"] == "object"
                        && s.get("properties").is_none()
                        && !s["additionalProperties"].is_object())
                    || (s.get("type").is_none()
                        && s.get("properties").is_none()
                        && s.get("oneOf").is_none()
                        && s.get("format").is_none())
            }
        }
    }

    /// The declared JSON type.
    pub fn ty(&self) -> Option<&'static str> {
        self.get("type").and_then(Value::as_str)
    }

    /// `format` (`int32`, `int-or-string`, `byte`, ...).
    pub fn format(&self) -> Option<&'static str> {
        self.get("format").and_then(Value::as_str)
    }

    /// IntOrString.
    pub fn int_or_string(&self) -> bool {
        self.format() == Some("int-or-string")
            || self.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true))
    }

    /// Quantity and other `oneOf` scalars: any scalar.
    pub fn any_scalar(&self) -> bool {
        self.get("oneOf").is_some()
    }

    /// A field of an object: a declared property, or the map's values.
    /// `None` when the object declares properties and this is not one.
    pub fn field(&self, name: &str) -> Option<Node> {
        if self.s.is_none() {
            return Some(Node::FREE);
        }
        if let Some(p) = self.get("properties").and_then(|p| p.get(name)) {
            return Some(Node::at(p));
        }
        if let Some(a) = self.get("additionalProperties").filter(|a| a.is_object()) {
            return Some(Node::at(a));
        }
        if self.is_free() {
            return Some(Node::FREE);
        }
        None
    }

    /// The schema of a list's items.
    pub fn items(&self) -> Node {
        match self.get("items") {
            Some(i) => Node::at(i),
            None => Node::FREE,
        }
    }

    /// How this list merges.
    pub fn list_kind(&self) -> ListKind {
        match self.get("x-kubernetes-list-type").and_then(Value::as_str) {
            Some("map") => ListKind::Map(
                self.get("x-kubernetes-list-map-keys")
                    .and_then(Value::as_array)
                    .map(|k| {
                        k.iter()
                            .filter_map(|x| x.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default(),
            ),
            Some("set") => ListKind::Set,
            _ => ListKind::Atomic,
        }
    }

    /// A map or struct replaced and owned as a whole.
    pub fn atomic_map(&self) -> bool {
        self.map_type
            .or_else(|| self.get("x-kubernetes-map-type").and_then(Value::as_str))
            == Some("atomic")
    }

    /// The declared default of a field of this object (`protocol: TCP`).
    pub fn default_of(&self, field: &str) -> Option<&'static Value> {
        self.get("properties")
            .and_then(|p| p.get(field))
            .and_then(|f| f.get("default"))
            // Zero values only mark non-pointer Go fields; they default nothing.
            .filter(|d| !(d.is_object() || d.as_str() == Some("") || d.as_i64() == Some(0)))
    }

    /// The list-map key of an item: its key fields (declared defaults for
    /// missing ones), or `None` when one is missing with no default.
    pub fn item_key(&self, keys: &[String], item: &Value) -> Option<Map<String, Value>> {
        let mut out = Map::new();
        for k in keys {
            let v = item
                .get(k)
                .filter(|v| !v.is_null())
                .or_else(|| self.default_of(k))?;
            out.insert(k.clone(), v.clone());
        }
        Some(out)
    }

    /// Raw access for validation keywords (`enum`, `minimum`, ...).
    pub fn keyword(&self, key: &str) -> Option<&'static Value> {
        self.get(key)
    }
}

/// `[name="app"]` or `[containerPort="8080",protocol="TCP"]`: a list-map
/// item as the server names it in messages, keys in list-map-key order.
pub fn key_display(keys: &[String], key: &Map<String, Value>) -> String {
    let parts: Vec<String> = keys
        .iter()
        .filter_map(|k| key.get(k).map(|v| format!("{k}={v}")))
        .collect();
    format!("[{}]", parts.join(","))
}

impl Node {
    /// ObjectMeta, for the `metadata` of objects whose schema (a CRD's)
    /// does not declare it.
    pub fn object_meta() -> Node {
        Node::named("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta")
    }

    /// The schema of a field at the top of an object: `metadata` is always
    /// ObjectMeta, `apiVersion` and `kind` are always strings.
    pub fn top_field(&self, name: &str) -> Option<Node> {
        match name {
            "metadata" => Some(Node::object_meta()),
            "apiVersion" | "kind" => Some(Node::FREE),
            _ => self.field(name),
        }
    }
}
