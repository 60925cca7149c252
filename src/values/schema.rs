//! JSON Schema validation of values (drafts 4 to 2020-12, detected from
//! `$schema`; remote `$ref`s are never fetched).

use serde_json::Value;

use super::ValuesError;

/// One schema violation, with where the offending value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The chart whose schema was broken.
    pub chart: String,
    /// JSON pointer from the top of the parent chart's values.
    pub pointer: String,
    /// What was expected and what was found.
    pub message: String,
    /// The layer that set the value (`-f prod.yaml`, `--set #2 ...`, or the
    /// chart's defaults).
    pub source: String,
}

/// Formats violations as one block: a heading, then one line each.
pub fn format_violations(v: &[Violation]) -> String {
    let mut out = format!(
        "values do not match the chart's schema ({} problem{}):",
        v.len(),
        if v.len() == 1 { "" } else { "s" }
    );
    for x in v {
        let at = if x.pointer.is_empty() {
            "/"
        } else {
            &x.pointer
        };
        out.push_str(&format!(
            "\n  - {at}: {} (set by {}; schema of chart {})",
            x.message, x.source, x.chart
        ));
    }
    out
}

/// Validates `instance` against `schema`, returning (pointer, message) for
/// every violation. Top-level keys that belong to someone else (`global`,
/// which windlass injects everywhere, and each subchart's section, which its
/// own schema checks) are ignored unless the schema declares them, so a
/// strict parent schema does not have to list them.
///
/// `compiled` is `schema` already compiled, if the caller has it.
pub fn validate(
    chart: &str,
    schema: &Value,
    compiled: Option<&jsonschema::Validator>,
    instance: &Value,
    foreign_keys: &[&str],
) -> Result<Vec<(String, String)>, ValuesError> {
    let fresh;
    let validator = match compiled {
        Some(v) => v,
        None => {
            fresh = jsonschema::validator_for(schema).map_err(|e| ValuesError::BadSchema {
                chart: chart.to_string(),
                message: e.to_string(),
            })?;
            &fresh
        }
    };
    let declared = |k: &str| schema.get("properties").and_then(|p| p.get(k)).is_some();
    let strip: Vec<&str> = std::iter::once("global")
        .chain(foreign_keys.iter().copied())
        .filter(|k| !declared(k) && instance.get(*k).is_some())
        .collect();
    let stripped;
    let instance = match instance {
        Value::Object(m) if !strip.is_empty() => {
            let mut m = m.clone();
            for k in strip {
                m.remove(k);
            }
            stripped = Value::Object(m);
            &stripped
        }
        other => other,
    };
    let mut out: Vec<(String, String)> = Vec::new();
    for e in validator.iter_errors(instance) {
        let at = e.instance_path().to_string();
        match e.kind() {
            // Point at each unexpected key itself, so the user sees where it
            // is and which layer set it.
            jsonschema::error::ValidationErrorKind::AdditionalProperties { unexpected } => {
                let allowed = allowed_keys(schema, &e.schema_path().to_string());
                for key in unexpected {
                    let escaped = key.replace('~', "~0").replace('/', "~1");
                    let hint = suggest(key, &allowed)
                        .map(|k| format!("; did you mean `{k}`?"))
                        .unwrap_or_default();
                    out.push((
                        format!("{at}/{escaped}"),
                        format!(
                            "`{key}` is not allowed here (the schema allows no such key){hint}"
                        ),
                    ));
                }
            }
            // A `not` says only what must not match; the description of
            // the schema that holds it says why, and what to do instead
            // (for `propertyNames`, the key is what is refused).
            jsonschema::error::ValidationErrorKind::Not { .. }
            | jsonschema::error::ValidationErrorKind::Constant { .. }
            | jsonschema::error::ValidationErrorKind::PropertyNames { .. } => {
                let (inner, refused) = match e.kind() {
                    jsonschema::error::ValidationErrorKind::PropertyNames { error } => (
                        error.schema_path().to_string(),
                        error.instance().to_string(),
                    ),
                    _ => (e.schema_path().to_string(), e.instance().to_string()),
                };
                let holder = inner
                    .strip_suffix("/not")
                    .or_else(|| inner.strip_suffix("/const"))
                    .unwrap_or(&inner);
                let why = schema
                    .pointer(holder)
                    .and_then(|n| n.get("description"))
                    .and_then(Value::as_str);
                match why {
                    Some(why) => out.push((at, format!("{refused} is not allowed here: {why}"))),
                    None => out.push((at, e.to_string())),
                }
            }
            _ => out.push((at, e.to_string())),
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// The property names the schema allows where `additionalProperties` failed.
fn allowed_keys(schema: &Value, schema_path: &str) -> Vec<String> {
    let Some(parent) = schema_path.strip_suffix("/additionalProperties") else {
        return Vec::new();
    };
    schema
        .pointer(parent)
        .and_then(|node| node.get("properties"))
        .and_then(Value::as_object)
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default()
}

/// The allowed key closest to a misspelt one, if it is close enough.
fn suggest<'a>(key: &str, allowed: &'a [String]) -> Option<&'a str> {
    allowed
        .iter()
        .map(|a| (strsim::damerau_levenshtein(key, a), a))
        .filter(|(d, a)| *d <= 2.max(a.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, a)| a.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reports_every_violation_with_pointer() {
        let schema = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "replicas": {"type": "integer", "minimum": 1},
                "mode": {"enum": ["poc", "dynamic"]}
            }
        });
        let errs = validate(
            "c",
            &schema,
            None,
            &json!({"replicas": 0, "mode": "x", "extra": 1, "global": {}, "sub": {}}),
            &["sub"],
        )
        .unwrap();
        let pointers: Vec<_> = errs.iter().map(|e| e.0.as_str()).collect();
        assert!(pointers.contains(&"/replicas"), "{errs:?}");
        assert!(pointers.contains(&"/mode"), "{errs:?}");
        assert!(pointers.contains(&"/extra"), "{errs:?}");
        assert!(
            errs.iter()
                .all(|e| !e.0.contains("global") && !e.0.contains("sub")),
            "{errs:?}"
        );
    }

    #[test]
    fn misspelt_keys_get_a_suggestion() {
        let schema = json!({"type": "object", "additionalProperties": false,
            "properties": {"datanode": {"type": "object", "additionalProperties": false, "properties": {"replicas": {}, "volumesPerPod": {}}}}});
        let errs = validate(
            "c",
            &schema,
            None,
            &json!({"datanode": {"replica": 3, "zzz": 1}}),
            &[],
        )
        .unwrap();
        assert!(
            errs.iter()
                .any(|e| e.0 == "/datanode/replica" && e.1.ends_with("did you mean `replicas`?")),
            "{errs:?}"
        );
        assert!(
            errs.iter()
                .any(|e| e.0 == "/datanode/zzz" && !e.1.contains("did you mean")),
            "{errs:?}"
        );
    }

    #[test]
    fn draft7_is_detected() {
        let schema = json!({"$schema": "http://json-schema.org/draft-07/schema#", "type": "object", "properties": {"a": {"type": "string"}}});
        let errs = validate("c", &schema, None, &json!({"a": 1}), &[]).unwrap();
        assert_eq!(errs.len(), 1);
    }

    #[test]
    fn remote_refs_are_not_fetched() {
        let schema = json!({"$ref": "https://example.invalid/schema.json"});
        assert!(validate("c", &schema, None, &json!({}), &[]).is_err());
    }
}
