//! How the real server checks a body against the schema, with its exact
//! messages:
//! - server-side apply builds a typed object first; a wrong scalar type,
//!   a field the schema does not declare, or two list items with the same
//!   key is a 500 with no reason, whatever `fieldValidation` says
//!   (recordings 33-35, 39-40, 63-65, 109-110);
//! - a POST or PUT body is decoded into Go structs: a wrong type is a 400
//!   naming the Go struct field (36); unknown fields follow
//!   `fieldValidation`: a Warning header and the field dropped by default,
//!   a 400 with `Strict`, silence with `Ignore` (66-67);
//! - a CRD's schema also validates values (`enum`, `minimum`): 422 (108).

use serde_json::{Map, Value};

use super::schema::{key_display, ListKind, Node};

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "string",
        Value::Number(_) => "numeric",
        Value::Bool(_) => "bool",
        Value::Object(_) => "map",
        Value::Array(_) => "list",
        Value::Null => "null",
    }
}

fn is_integer(v: &Value) -> bool {
    v.is_i64() || v.is_u64() || v.as_f64().is_some_and(|f| f.fract() == 0.0)
}

/// Server-side apply's typed conversion: every problem, each as
/// `<path>: <message>`.
pub fn apply_errors(obj: &Value, root: Node) -> Vec<String> {
    let mut out = Vec::new();
    apply_walk(obj, root, &mut String::new(), true, &mut out);
    out
}

fn apply_walk(v: &Value, node: Node, path: &mut String, top: bool, out: &mut Vec<String>) {
    if v.is_null() {
        return;
    }
    if node.int_or_string() || node.any_scalar() {
        if v.is_object() || v.is_array() {
            out.push(format!("{path}: expected scalar, got {}", json_type(v)));
        }
        return;
    }
    let scalar_problem = match (node.ty(), v) {
        (Some("integer" | "number"), v) if !v.is_number() => {
            Some("expected numeric (int or float)")
        }
        (Some("string"), v) if !v.is_string() => Some("expected string"),
        (Some("boolean"), v) if !v.is_boolean() => Some("expected boolean"),
        (Some("object"), v) if !v.is_object() => Some("expected map"),
        (Some("array"), v) if !v.is_array() => Some("expected list"),
        _ => None,
    };
    if let Some(p) = scalar_problem {
        out.push(format!("{path}: {p}, got {}", json_type(v)));
        return;
    }
    match v {
        Value::Object(m) => {
            if node.ty().is_none() && node.is_free() {
                return;
            }
            for (k, c) in m {
                let len = path.len();
                path.push('.');
                path.push_str(k);
                match if top {
                    node.top_field(k)
                } else {
                    node.field(k)
                } {
                    Some(n) => apply_walk(c, n, path, false, out),
                    None => out.push(format!("{path}: field not declared in schema")),
                }
                path.truncate(len);
            }
        }
        Value::Array(items) => match node.list_kind() {
            ListKind::Map(keys) => {
                let item_node = node.items();
                let mut seen: Vec<Map<String, Value>> = Vec::new();
                for item in items {
                    let Some(key) = item_node.item_key(&keys, item) else {
                        out.push(format!(
                            "{path}: associative list with keys has an element that omits key field {:?} (and doesn't have default value)",
                            keys.iter().find(|k| item.get(k.as_str()).is_none()).cloned().unwrap_or_default()
                        ));
                        continue;
                    };
                    if seen.contains(&key) {
                        out.push(format!(
                            "{path}: duplicate entries for key {}",
                            key_display(&keys, &key)
                        ));
                        continue;
                    }
                    let len = path.len();
                    path.push_str(&key_display(&keys, &key));
                    apply_walk(item, item_node, path, false, out);
                    path.truncate(len);
                    seen.push(key);
                }
            }
            _ => {
                for (i, item) in items.iter().enumerate() {
                    let len = path.len();
                    path.push_str(&format!("[{i}]"));
                    apply_walk(item, node.items(), path, false, out);
                    path.truncate(len);
                }
            }
        },
        _ => {}
    }
}

/// The outcome of decoding a POST/PUT body.
pub enum Decoded {
    /// Fields the schema does not know, as `spec.bogus` (dropped from the object).
    Ok(Vec<String>),
    /// A wrong type: Go's json error text.
    WrongType(String),
}

/// Decodes like encoding/json into the Go types: the first wrong type
/// stops it; unknown fields are removed from `obj` and returned.
pub fn decode(obj: &mut Value, root: Node, root_type: &str) -> Decoded {
    let mut unknown = Vec::new();
    match decode_walk(obj, root, root_type, "", true, &mut unknown) {
        Some(e) => Decoded::WrongType(e),
        None => Decoded::Ok(unknown),
    }
}

fn go_type(node: Node) -> &'static str {
    match (node.ty(), node.format()) {
        (Some("integer"), Some("int32")) => "int32",
        (Some("integer"), _) => "int64",
        (Some("number"), _) => "float64",
        (Some("boolean"), _) => "bool",
        (Some("array"), _) => "[]interface {}",
        (Some("object"), _) => "map[string]interface {}",
        _ => "string",
    }
}

fn go_json_type(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "string",
        Value::Number(_) => "number",
        Value::Bool(_) => "bool",
        Value::Object(_) => "object",
        Value::Array(_) => "array",
        Value::Null => "null",
    }
}

fn decode_walk(
    v: &mut Value,
    node: Node,
    struct_name: &str,
    path: &str,
    top: bool,
    unknown: &mut Vec<String>,
) -> Option<String> {
    if v.is_null() || node.int_or_string() || node.any_scalar() {
        return None;
    }
    let wrong = match (node.ty(), &*v) {
        (Some("integer"), x) => !is_integer(x),
        (Some("number"), x) => !x.is_number(),
        (Some("string"), x) => !x.is_string(),
        (Some("boolean"), x) => !x.is_boolean(),
        (Some("object"), x) => !x.is_object(),
        (Some("array"), x) => !x.is_array(),
        _ => false,
    };
    if wrong {
        return Some(format!(
            "json: cannot unmarshal {} into Go struct field {struct_name}.{path} of type {}",
            go_json_type(v),
            go_type(node)
        ));
    }
    let inner = node.type_name.unwrap_or(struct_name);
    match v {
        Value::Object(m) => {
            if node.ty().is_none() && node.is_free() {
                return None;
            }
            let mut drop = Vec::new();
            for (k, c) in m.iter_mut() {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match if top {
                    node.top_field(k)
                } else {
                    node.field(k)
                } {
                    Some(n) => {
                        if let Some(e) = decode_walk(c, n, inner, &p, false, unknown) {
                            return Some(e);
                        }
                    }
                    None => {
                        unknown.push(p);
                        drop.push(k.clone());
                    }
                }
            }
            for k in drop {
                m.remove(&k);
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                let _ = i;
                if let Some(e) = decode_walk(item, node.items(), inner, path, false, unknown) {
                    return Some(e);
                }
            }
        }
        _ => {}
    }
    None
}

/// A CRD schema's value checks (`enum`, `minimum`, `maximum`), as
/// `(field, reason, message)` causes of a 422.
pub fn crd_value_errors(obj: &Value, root: Node) -> Vec<(String, &'static str, String)> {
    let mut out = Vec::new();
    crd_walk(obj, root, "", &mut out);
    out
}

fn crd_walk(v: &Value, node: Node, path: &str, out: &mut Vec<(String, &'static str, String)>) {
    if let Some(options) = node.keyword("enum").and_then(Value::as_array) {
        if !options.contains(v) {
            let list: Vec<String> = options.iter().map(Value::to_string).collect();
            out.push((
                path.to_string(),
                "FieldValueNotSupported",
                format!(
                    "Unsupported value: {v}: supported values: {}",
                    list.join(", ")
                ),
            ));
        }
    }
    if let (Some(min), Some(x)) = (node.keyword("minimum").and_then(Value::as_f64), v.as_f64()) {
        if x < min {
            out.push((
                path.to_string(),
                "FieldValueInvalid",
                format!(
                    "Invalid value: {v}: {path} in body should be greater than or equal to {min}"
                ),
            ));
        }
    }
    if let Value::Object(m) = v {
        for r in node
            .keyword("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(r) = r.as_str() else { continue };
            if m.get(r).is_none_or(Value::is_null) {
                let p = if path.is_empty() {
                    r.to_string()
                } else {
                    format!("{path}.{r}")
                };
                out.push((p, "FieldValueRequired", "Required value".into()));
            }
        }
        for (k, c) in m {
            if path.is_empty() && matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
                continue;
            }
            if let Some(n) = node.field(k) {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                crd_walk(c, n, &p, out);
            }
        }
    }
}
