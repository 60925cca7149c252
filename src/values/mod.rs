//! Values: merging chart defaults, `-f` files and `--set` flags, subchart
//! scoping, and validation against each chart's JSON Schema.
//!
//! Order: chart defaults < each `-f` file in order < `--set`, `--set-string`,
//! `--set-json`, `--set-file` in the order given. Maps merge deeply; lists
//! and scalars replace; an explicit `null` in a user layer deletes the key,
//! across files and into subcharts.

pub mod schema;
pub mod set;

use std::path::PathBuf;

use serde_json::{Map, Value};

use crate::chart::Chart;
pub use schema::Violation;
pub use set::SetKind;

/// Reading or validating values failed.
#[derive(Debug, thiserror::Error)]
pub enum ValuesError {
    /// A values file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A values file is not valid YAML.
    #[error("{path}: {error}")]
    Yaml {
        /// The file.
        path: PathBuf,
        /// The parser's error.
        error: crate::yaml::YamlError,
    },
    /// A values file's top level is not a map.
    #[error("{0}: the top level of a values file must be a map")]
    NotAMap(PathBuf),
    /// A `--set` expression is malformed.
    #[error("{flag} #{number}: {error}")]
    Set {
        /// `--set`, `--set-string`, ...
        flag: &'static str,
        /// 1-based position among the value flags.
        number: usize,
        /// The parse error.
        error: set::SetError,
    },
    /// A `--set-file` file could not be read.
    #[error("--set-file #{number}: {path}: {source}")]
    SetFile {
        /// 1-based position among the value flags.
        number: usize,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The merged values break a chart's schema.
    #[error("{}", schema::format_violations(.0))]
    Schema(Vec<Violation>),
    /// A chart's schema itself is broken.
    #[error("{chart}: values.schema.json: {message}")]
    BadSchema {
        /// The chart.
        chart: String,
        /// The compiler's message.
        message: String,
    },
}

/// One `--set`-family flag, in the order given on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetFlag {
    /// Which flag.
    pub kind: SetKind,
    /// Its expression.
    pub expression: String,
}

impl SetFlag {
    fn flag_name(&self) -> &'static str {
        match self.kind {
            SetKind::Typed => "--set",
            SetKind::String => "--set-string",
            SetKind::Json => "--set-json",
            SetKind::File => "--set-file",
        }
    }
}

/// Where user values come from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValueSources {
    /// `-f/--values` files in order (`-` is standard input).
    pub files: Vec<PathBuf>,
    /// `--set*` flags in order.
    pub sets: Vec<SetFlag>,
}

/// A layer of user values and the leaf pointers it set.
#[derive(Debug, Clone)]
struct Layer {
    label: String,
    pointers: Vec<String>,
}

/// The user's values merged in order, with explicit nulls kept (they delete
/// keys when applied over chart defaults), and a record of which layer set
/// which path.
#[derive(Debug, Clone)]
pub struct UserValues {
    /// The merged user values.
    pub values: Value,
    layers: Vec<Layer>,
}

impl Default for UserValues {
    fn default() -> Self {
        UserValues {
            values: Value::Object(Map::new()),
            layers: Vec::new(),
        }
    }
}

impl UserValues {
    /// User values given directly (e.g. stored in a release record).
    pub fn from_value(values: Value, label: &str) -> UserValues {
        let mut pointers = Vec::new();
        leaf_pointers(&values, String::new(), &mut pointers);
        UserValues {
            values,
            layers: vec![Layer {
                label: label.to_string(),
                pointers,
            }],
        }
    }

    /// Reads the files and applies the flags, in order.
    pub fn load(sources: &ValueSources) -> Result<UserValues, ValuesError> {
        let mut out = UserValues::default();
        for path in &sources.files {
            let io = |source| ValuesError::Io {
                path: path.clone(),
                source,
            };
            let text = if path.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin()).map_err(io)?
            } else {
                std::fs::read_to_string(path).map_err(io)?
            };
            let doc = crate::yaml::parse(&text).map_err(|error| ValuesError::Yaml {
                path: path.clone(),
                error,
            })?;
            let doc = match doc {
                Value::Null => Value::Object(Map::new()),
                v @ Value::Object(_) => v,
                _ => return Err(ValuesError::NotAMap(path.clone())),
            };
            let mut pointers = Vec::new();
            leaf_pointers(&doc, String::new(), &mut pointers);
            overlay(&mut out.values, doc);
            out.layers.push(Layer {
                label: format!("-f {}", path.display()),
                pointers,
            });
        }
        for (i, flag) in sources.sets.iter().enumerate() {
            let number = i + 1;
            let assignments =
                set::parse(&flag.expression, flag.kind).map_err(|error| ValuesError::Set {
                    flag: flag.flag_name(),
                    number,
                    error,
                })?;
            let mut pointers = Vec::new();
            for a in assignments {
                let value = if flag.kind == SetKind::File {
                    let path = PathBuf::from(a.value.as_str().unwrap_or_default());
                    let text =
                        std::fs::read_to_string(&path).map_err(|source| ValuesError::SetFile {
                            number,
                            path: path.clone(),
                            source,
                        })?;
                    Value::String(text)
                } else {
                    a.value
                };
                pointers.push(set::pointer(&a.path));
                set::set_path(&mut out.values, &a.path, value);
            }
            let label = if flag.expression.chars().count() <= 60 {
                format!("{} #{number} `{}`", flag.flag_name(), flag.expression)
            } else {
                format!("{} #{number}", flag.flag_name())
            };
            out.layers.push(Layer { label, pointers });
        }
        Ok(out)
    }

    /// Which layer last set `pointer` (or a path above or below it).
    pub fn source_of(&self, pointer: &str) -> Option<&str> {
        let related = |q: &String| {
            q == pointer
                || pointer.starts_with(&format!("{q}/"))
                || q.starts_with(&format!("{pointer}/"))
        };
        self.layers
            .iter()
            .rev()
            .find(|l| l.pointers.iter().any(related))
            .map(|l| l.label.as_str())
    }
}

fn leaf_pointers(v: &Value, prefix: String, out: &mut Vec<String>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, child) in m {
                let key = k.replace('~', "~0").replace('/', "~1");
                leaf_pointers(child, format!("{prefix}/{key}"), out);
            }
        }
        _ => out.push(prefix),
    }
}

/// Lays `top` over `base`: maps merge deeply, anything else replaces, and
/// nulls are kept (so a later layer can delete a default).
pub fn overlay(base: &mut Value, top: Value) {
    match (base, top) {
        (Value::Object(b), Value::Object(t)) => {
            for (k, v) in t {
                match b.get_mut(&k) {
                    Some(existing) if existing.is_object() && v.is_object() => overlay(existing, v),
                    _ => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, t) => *b = t,
    }
}

/// Applies `overrides` over `defaults`. A null override deletes the key;
/// with `keep_new_nulls`, a null for a key the defaults lack is kept (a
/// chart's own `values.yaml` may default a key to null).
pub fn coalesce(defaults: &mut Value, overrides: &Value, keep_new_nulls: bool) {
    match (defaults, overrides) {
        (Value::Object(d), Value::Object(o)) => {
            for (k, v) in o {
                if v.is_null() {
                    if d.remove(k).is_none() && keep_new_nulls {
                        d.insert(k.clone(), Value::Null);
                    }
                    continue;
                }
                match d.get_mut(k) {
                    Some(existing) if existing.is_object() && v.is_object() => {
                        coalesce(existing, v, keep_new_nulls)
                    }
                    _ => {
                        let mut v = v.clone();
                        if !keep_new_nulls {
                            strip_nulls(&mut v);
                        }
                        d.insert(k.clone(), v);
                    }
                }
            }
        }
        (d, o) => {
            let mut o = o.clone();
            if !keep_new_nulls {
                strip_nulls(&mut o);
            }
            *d = o;
        }
    }
}

fn strip_nulls(v: &mut Value) {
    if let Value::Object(m) = v {
        m.retain(|_, v| !v.is_null());
        m.values_mut().for_each(strip_nulls);
    }
}

/// A chart's defaults with its subcharts' defaults placed under their keys.
pub fn composite_defaults(chart: &Chart) -> Value {
    let mut d = Value::Object(Map::new());
    if let Value::Object(m) = &mut d {
        for sub in &chart.subcharts {
            m.insert(sub.key.clone(), composite_defaults(&sub.chart));
        }
        if !chart.subcharts.is_empty() {
            m.entry("global")
                .or_insert_with(|| Value::Object(Map::new()));
        }
    }
    coalesce(&mut d, &chart.values, true);
    d
}

/// Values resolved for one chart and, recursively, its subcharts.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// `Values` as the chart's templates see it.
    pub values: Value,
    /// One entry per subchart, in the chart's order.
    pub subcharts: Vec<ResolvedSubchart>,
}

/// A subchart's values and whether its condition switched it on.
#[derive(Debug, Clone)]
pub struct ResolvedSubchart {
    /// Whether the subchart is rendered.
    pub enabled: bool,
    /// Its values.
    pub values: Resolved,
}

/// Looks up a dotted path (`zookeeper.enabled`) in values.
pub fn lookup<'a>(values: &'a Value, dotted: &str) -> Option<&'a Value> {
    dotted
        .split('.')
        .try_fold(values, |v, key| v.as_object().and_then(|m| m.get(key)))
}

fn condition_enabled(values: &Value, condition: Option<&str>) -> bool {
    let Some(cond) = condition else {
        return true;
    };
    for path in cond.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        if let Some(Value::Bool(b)) = lookup(values, path) {
            return *b;
        }
    }
    true
}

fn scope(chart: &Chart, values: Value) -> Resolved {
    let mut subcharts = Vec::new();
    for sub in &chart.subcharts {
        let enabled = condition_enabled(&values, sub.condition.as_deref());
        let mut sub_values = values
            .get(&sub.key)
            .cloned()
            .filter(Value::is_object)
            .unwrap_or_else(|| Value::Object(Map::new()));
        // Parent globals override the subchart's own.
        let parent_global = values.get("global").cloned().unwrap_or(Value::Null);
        if let Value::Object(m) = &mut sub_values {
            let g = m
                .entry("global")
                .or_insert_with(|| Value::Object(Map::new()));
            if parent_global.is_object() {
                coalesce(g, &parent_global, false);
            }
        }
        subcharts.push(ResolvedSubchart {
            enabled,
            values: scope(&sub.chart, sub_values),
        });
    }
    Resolved { values, subcharts }
}

/// Merges the user's values over the chart's defaults, scopes them to each
/// subchart, and validates every enabled chart's values against its schema.
/// All violations are reported at once.
pub fn resolve(chart: &Chart, user: &UserValues) -> Result<Resolved, ValuesError> {
    let mut values = composite_defaults(chart);
    if user.values.is_object() {
        coalesce(&mut values, &user.values, false);
    }
    let resolved = scope(chart, values);
    let mut violations = Vec::new();
    validate_tree(chart, &resolved, "", user, &mut violations)?;
    if violations.is_empty() {
        Ok(resolved)
    } else {
        Err(ValuesError::Schema(violations))
    }
}

fn validate_tree(
    chart: &Chart,
    resolved: &Resolved,
    prefix: &str,
    user: &UserValues,
    out: &mut Vec<Violation>,
) -> Result<(), ValuesError> {
    if let Some(s) = &chart.schema {
        let subchart_keys: Vec<&str> = chart.subcharts.iter().map(|s| s.key.as_str()).collect();
        for (pointer, message) in schema::validate(
            chart.name(),
            s,
            chart.compiled_schema_for(s),
            &resolved.values,
            &subchart_keys,
        )? {
            let full = format!("{prefix}{pointer}");
            let source = user
                .source_of(&full)
                .map(str::to_string)
                .unwrap_or_else(|| format!("{} defaults", chart.name()));
            out.push(Violation {
                chart: chart.name().to_string(),
                pointer: full,
                message,
                source,
            });
        }
    }
    for (sub, r) in chart.subcharts.iter().zip(&resolved.subcharts) {
        if r.enabled {
            let p = format!("{prefix}/{}", sub.key);
            validate_tree(&sub.chart, &r.values, &p, user, out)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_schema_compiled_at_load_is_used_until_the_schema_changes() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir(d.join("templates")).unwrap();
        std::fs::write(
            d.join("Chart.yaml"),
            "apiVersion: v2\nname: c\nversion: 1.0.0\n",
        )
        .unwrap();
        std::fs::write(d.join("values.yaml"), "x: 1\n").unwrap();
        let integer = json!({"properties": {"x": {"type": "integer"}}});
        std::fs::write(d.join("values.schema.json"), integer.to_string()).unwrap();
        let mut chart = crate::chart::load(d).unwrap();
        assert!(chart.compiled_schema_for(&integer).is_some());
        assert!(resolve(&chart, &UserValues::default()).is_ok());
        // A caller that replaces the schema gets it checked, not the one
        // compiled at load.
        let string = json!({"properties": {"x": {"type": "string"}}});
        chart.schema = Some(string.clone());
        assert!(chart.compiled_schema_for(&string).is_none());
        assert!(resolve(&chart, &UserValues::default()).is_err());
    }

    #[test]
    fn overlay_keeps_nulls_and_merges_maps() {
        let mut base = json!({"a": {"b": 1, "c": 2}, "l": [1, 2]});
        overlay(&mut base, json!({"a": {"b": null}, "l": [3]}));
        assert_eq!(base, json!({"a": {"b": null, "c": 2}, "l": [3]}));
    }

    #[test]
    fn coalesce_deletes_on_null() {
        let mut d = json!({"a": {"b": 1, "c": 2}, "x": 1});
        coalesce(
            &mut d,
            &json!({"a": {"b": null}, "x": null, "new": null, "n": {"k": null, "j": 1}}),
            false,
        );
        assert_eq!(d, json!({"a": {"c": 2}, "n": {"j": 1}}));
        let mut d = json!({"a": 1});
        coalesce(&mut d, &json!({"a": null, "keep": null}), true);
        assert_eq!(d, json!({"keep": null}));
    }

    #[test]
    fn null_across_files() {
        let dir = tempfile::tempdir().unwrap();
        let f1 = dir.path().join("1.yaml");
        let f2 = dir.path().join("2.yaml");
        std::fs::write(&f1, "a:\n  b: 1\n  c: 2\n").unwrap();
        std::fs::write(&f2, "a:\n  b: null\n").unwrap();
        let u = UserValues::load(&ValueSources {
            files: vec![f1.clone(), f2.clone()],
            sets: vec![SetFlag {
                kind: SetKind::Typed,
                expression: "a.d=4".into(),
            }],
        })
        .unwrap();
        let mut defaults = json!({"a": {"b": 9, "z": 0}});
        coalesce(&mut defaults, &u.values, false);
        assert_eq!(defaults, json!({"a": {"c": 2, "z": 0, "d": 4}}));
        assert_eq!(u.source_of("/a/d"), Some("--set #1 `a.d=4`"));
        assert_eq!(u.source_of("/a/c"), Some(&*format!("-f {}", f1.display())));
        assert_eq!(u.source_of("/zzz"), None);
    }

    #[test]
    fn set_errors_name_flag_and_number() {
        let e = UserValues::load(&ValueSources {
            files: vec![],
            sets: vec![
                SetFlag {
                    kind: SetKind::Typed,
                    expression: "a=1".into(),
                },
                SetFlag {
                    kind: SetKind::String,
                    expression: "b".into(),
                },
            ],
        })
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("--set-string #2:"), "{e}");
    }

    #[test]
    fn file_errors() {
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("bad.yaml");
        std::fs::write(&bad, "a: [1\n").unwrap();
        let e = UserValues::load(&ValueSources {
            files: vec![bad.clone()],
            sets: vec![],
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains("bad.yaml: line"), "{e}");
        let list = dir.path().join("list.yaml");
        std::fs::write(&list, "- 1\n").unwrap();
        let e = UserValues::load(&ValueSources {
            files: vec![list],
            sets: vec![],
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains("must be a map"), "{e}");
        let e = UserValues::load(&ValueSources {
            files: vec![dir.path().join("missing.yaml")],
            sets: vec![],
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains("missing.yaml"), "{e}");
    }

    #[test]
    fn lookup_dotted() {
        let v = json!({"zookeeper": {"enabled": false}});
        assert_eq!(lookup(&v, "zookeeper.enabled"), Some(&json!(false)));
        assert!(!condition_enabled(
            &v,
            Some("nope.enabled, zookeeper.enabled")
        ));
        assert!(condition_enabled(&v, Some("nope.enabled")));
    }
}
