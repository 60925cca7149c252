//! YAML <-> JSON value conversion shared by chart loading, values and
//! manifests. Everything inside windlass is a `serde_json::Value`, because
//! that is what Handlebars and JSON Schema consume.

use serde_json::{Map, Number, Value};

/// A YAML document that failed to parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", location_prefix(*line, *column))]
pub struct YamlError {
    /// 1-based line, when the parser knows it.
    pub line: Option<usize>,
    /// 1-based column, when the parser knows it.
    pub column: Option<usize>,
    /// The parser's description.
    pub message: String,
}

fn location_prefix(line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!("line {l}, column {c}: "),
        (Some(l), None) => format!("line {l}: "),
        _ => String::new(),
    }
}

impl From<serde_yaml::Error> for YamlError {
    fn from(e: serde_yaml::Error) -> Self {
        let loc = e.location();
        let mut message = e.to_string();
        // serde_yaml appends " at line X column Y"; we print the location first.
        if let Some(idx) = message.find(" at line ") {
            message.truncate(idx);
        }
        YamlError {
            line: loc.as_ref().map(|l| l.line()),
            column: loc.as_ref().map(|l| l.column()),
            message,
        }
    }
}

/// Parses one YAML document into a JSON value. Merge keys (`<<`) are applied,
/// tags are dropped, non-string keys become strings, and an empty document is
/// `null`.
pub fn parse(text: &str) -> Result<Value, YamlError> {
    let mut doc: serde_yaml::Value = serde_yaml::from_str(text)?;
    doc.apply_merge()?;
    Ok(to_json(doc))
}

/// Converts a YAML value into JSON, turning keys into strings.
pub fn to_json(v: serde_yaml::Value) -> Value {
    use serde_yaml::Value as Y;
    match v {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                n.as_f64()
                    .and_then(Number::from_f64)
                    .map(Value::Number)
                    .unwrap_or_else(|| Value::String(n.to_string()))
            }
        }
        Y::String(s) => Value::String(s),
        Y::Sequence(seq) => Value::Array(seq.into_iter().map(to_json).collect()),
        Y::Mapping(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                out.insert(key_string(k), to_json(v));
            }
            Value::Object(out)
        }
        Y::Tagged(t) => to_json(t.value),
    }
}

fn key_string(k: serde_yaml::Value) -> String {
    match k {
        serde_yaml::Value::String(s) => s,
        serde_yaml::Value::Null => "null".into(),
        serde_yaml::Value::Bool(b) => b.to_string(),
        serde_yaml::Value::Number(n) => n.to_string(),
        other => serde_yaml::to_string(&other)
            .map(|s| s.trim_end().to_string())
            .unwrap_or_default(),
    }
}

/// Serialises a value as block YAML without the trailing newline, the way
/// Helm's `toYaml` does.
pub fn to_string(v: &Value) -> String {
    match serde_yaml::to_string(v) {
        Ok(s) => s.trim_end_matches('\n').to_string(),
        // serde_json values always serialise; keep a readable fallback anyway.
        Err(_) => v.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn converts_keys_and_merges() {
        let v =
            parse("base: &b {x: 1}\nderived:\n  <<: *b\n  y: 2\n8020: port\ntrue: yes\n").unwrap();
        assert_eq!(
            v,
            json!({"base": {"x": 1}, "derived": {"x": 1, "y": 2}, "8020": "port", "true": "yes"})
        );
    }

    #[test]
    fn error_has_location() {
        let e = parse("a: 1\nb: [1, 2\n").unwrap_err();
        assert!(e.line.is_some());
        assert!(e.to_string().starts_with("line "), "{e}");
    }

    #[test]
    fn empty_is_null() {
        assert_eq!(parse("").unwrap(), Value::Null);
        assert_eq!(parse("# only a comment\n").unwrap(), Value::Null);
    }
}
