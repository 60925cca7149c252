//! YAML <-> JSON value conversion shared by chart loading, values and
//! manifests. Everything inside windlass is a `serde_json::Value`, because
//! that is what Handlebars, JSON Schema and the API server consume.
//!
//! Reading follows Kubernetes, not YAML 1.2: Helm and kubectl read YAML
//! through sigs.k8s.io/yaml (go-yaml v2, YAML 1.1 scalar rules), so an
//! unquoted `defaultMode: 0555` is the number 365 and `on:` is the key
//! `"true"`. serde_yaml applies YAML 1.2 rules and hides whether a scalar
//! was quoted, so this module reads the event stream of yaml-rust2, which
//! reports every scalar's style, and resolves plain scalars itself
//! ([`resolve`]); plain block documents, most of what templates emit, are
//! read first by a faster line reader with the same rules ([`fast`]).
//! Writing ([`to_string`]) quotes every string that either
//! rule set would read as something else.

mod emit;
mod fast;
mod resolve;

use std::collections::HashMap;

use serde_json::{Map, Value};
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Words YAML reads as something else than a string, when told apart
/// without case: YAML 1.1 booleans and nulls, and the `inf`/`nan` a YAML
/// 1.2 reader takes as numbers.
pub(crate) const SPECIAL_WORDS: &[&str] = &[
    "y", "yes", "n", "no", "true", "false", "on", "off", "null", "inf", "nan", "infinity",
];

/// The common case, decided in one pass: a letter, then letters, digits,
/// `.`, `_`, `/` and `-` (a key, kind, name or path segment), and not one
/// of [`SPECIAL_WORDS`]. Such a string has no indicator, no `: ` or ` #`,
/// no space or control character, and is no number, boolean or null to
/// either YAML version: the writer leaves it unquoted and the reader takes
/// it as that string, each without its full checks (tested against both);
/// keys and values are mostly words.
pub(crate) fn is_word(s: &str) -> bool {
    s.bytes().all(is_word_byte) && is_word_of_word_bytes(s)
}

/// [`is_word`] for a string already known to be all [`is_word_byte`]s (the
/// fast reader's simple keys).
pub(crate) fn is_word_of_word_bytes(s: &str) -> bool {
    let b = s.as_bytes();
    let Some(first) = b.first() else {
        return false;
    };
    first.is_ascii_alphabetic()
        // Every special word is at most 8 letters and starts with one of these.
        && !(b.len() <= 8
            && matches!(first.to_ascii_lowercase(), b'y' | b'n' | b't' | b'f' | b'o' | b'i')
            && SPECIAL_WORDS.iter().any(|w| w.eq_ignore_ascii_case(s)))
}

/// Strings to test [`is_word`] against the full rules with: `count` of
/// them, one to six characters of `alphabet`, every tenth one of the
/// [`SPECIAL_WORDS`] in a random case.
#[cfg(test)]
pub(crate) fn test_strings(seed: u64, count: usize, alphabet: &str) -> Vec<String> {
    use rand::{Rng, SeedableRng};
    let alphabet: Vec<char> = alphabet.chars().collect();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    (0..count)
        .map(|i| {
            if i % 10 == 0 {
                let w = SPECIAL_WORDS[rng.gen_range(0..SPECIAL_WORDS.len())];
                w.chars()
                    .map(|c| {
                        if rng.gen_bool(0.5) {
                            c.to_ascii_uppercase()
                        } else {
                            c
                        }
                    })
                    .collect()
            } else {
                let n = rng.gen_range(1..7);
                (0..n)
                    .map(|_| alphabet[rng.gen_range(0..alphabet.len())])
                    .collect()
            }
        })
        .collect()
}

/// A letter, digit, `.`, `_`, `/` or `-`: what keys and most plain
/// values are made of (the fast reader's simple keys, the writer's words).
pub(crate) fn is_word_byte(c: u8) -> bool {
    WORD_BYTE[usize::from(c)]
}

/// [`is_word_byte`] as a table: one load per byte.
static WORD_BYTE: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'/' | b'-');
        c += 1;
    }
    t
};

pub use emit::{to_string, to_string_sized};

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

fn error_at(mark: Marker, message: impl Into<String>) -> YamlError {
    YamlError {
        line: Some(mark.line()),
        column: Some(mark.col() + 1),
        message: message.into(),
    }
}

/// Parses one YAML document into a JSON value, as kubectl and Helm would
/// send it: YAML 1.1 plain scalars, merge keys (`<<`) applied, keys made
/// strings, an empty document `null`. Duplicate keys, null keys, values
/// JSON cannot hold (`.inf`, `.nan`) and several documents are errors.
pub fn parse(text: &str) -> Result<Value, YamlError> {
    if let Some(v) = fast::parse(text) {
        return Ok(v);
    }
    parse_into(text, &mut Builder::default())
}

/// A key given twice in one map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuplicateKey {
    /// 1-based line of the second occurrence.
    pub line: usize,
    /// The key.
    pub key: String,
}

/// Like [`parse`], but a key given twice in a map keeps its last value,
/// as go-yaml's non-strict decoding (and so the API server) does; the
/// duplicates are returned so a caller can warn about them.
pub fn parse_last_key_wins(text: &str) -> Result<(Value, Vec<DuplicateKey>), YamlError> {
    // The fast reader refuses duplicate keys, so what it reads has none.
    if let Some(v) = fast::parse(text) {
        return Ok((v, Vec::new()));
    }
    let mut builder = Builder {
        duplicates: Some(Vec::new()),
        ..Default::default()
    };
    let value = parse_into(text, &mut builder)?;
    Ok((value, builder.duplicates.unwrap_or_default()))
}

/// The general reader alone, for tests that compare it with the fast one.
#[cfg(test)]
pub(crate) fn parse_general(text: &str) -> Result<Value, YamlError> {
    parse_into(text, &mut Builder::default())
}

fn parse_into(text: &str, builder: &mut Builder) -> Result<Value, YamlError> {
    let mut parser = Parser::new_from_str(text);
    parser
        .load(builder, true)
        .map_err(|e| error_at(*e.marker(), e.info().to_string()))?;
    if let Some(e) = builder.error.take() {
        return Err(e);
    }
    match builder.docs.len() {
        0 => Ok(Value::Null),
        1 => Ok(builder.docs.pop().unwrap_or(Value::Null)),
        _ => Err(YamlError {
            line: builder.second_doc_line,
            column: None,
            message: "expected one YAML document, found several (separated by ---)".into(),
        }),
    }
}

/// A collection being built.
enum Frame {
    Seq {
        anchor: usize,
        items: Vec<Value>,
    },
    Map {
        anchor: usize,
        /// The keys written in this map. Merged maps (`<<`) are applied only
        /// at its end, so a key already here is one written twice.
        map: Map<String, Value>,
        /// Maps merged in with `<<`, applied at the end.
        merges: Vec<Map<String, Value>>,
        /// The key waiting for its value: `None` before a key is read.
        pending: Option<PendingKey>,
    },
}

enum PendingKey {
    Key(String, Marker),
    Merge(Marker),
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    anchors: HashMap<usize, Value>,
    docs: Vec<Value>,
    second_doc_line: Option<usize>,
    error: Option<YamlError>,
    /// When set, a repeated key overwrites and is recorded here instead of
    /// being an error.
    duplicates: Option<Vec<DuplicateKey>>,
}

fn is_core_tag(tag: &Tag, suffix: &str) -> bool {
    (tag.handle == "!!" || tag.handle == "tag:yaml.org,2002:") && tag.suffix == suffix
}

/// A scalar's value: quoted and block scalars are strings; plain scalars
/// (or explicitly tagged ones) are resolved.
fn scalar(text: String, style: TScalarStyle, tag: Option<&Tag>) -> Result<Value, String> {
    let resolved = match tag {
        Some(t) if is_core_tag(t, "str") || is_core_tag(t, "binary") => {
            return Ok(Value::String(text))
        }
        Some(t)
            if ["int", "float", "bool", "null"]
                .iter()
                .any(|s| is_core_tag(t, s)) =>
        {
            resolve::plain(&text)
        }
        // Other tags (`!foo`) do not change the value.
        Some(_) => return Ok(Value::String(text)),
        None if style != TScalarStyle::Plain => return Ok(Value::String(text)),
        // The common case: a plain scalar that stays a string is moved,
        // not copied.
        None => {
            return match resolve::plain_non_string(&text) {
                None => Ok(Value::String(text)),
                Some(resolve::Resolved::Json(v)) => Ok(v),
                Some(resolve::Resolved::NotJson) => Err(not_json(&text)),
            }
        }
    };
    let value = match resolved {
        resolve::Resolved::Json(v) => v,
        resolve::Resolved::NotJson => return Err(not_json(&text)),
    };
    // An explicit `!!int`/`!!float` that does not resolve to a number is
    // refused by go-yaml too.
    match tag {
        Some(t) if (is_core_tag(t, "int") || is_core_tag(t, "float")) && !value.is_number() => {
            Err(format!("cannot decode `{text}` as a {}", t.suffix))
        }
        Some(t) if is_core_tag(t, "bool") && !value.is_boolean() => {
            Err(format!("cannot decode `{text}` as a bool"))
        }
        _ => Ok(value),
    }
}

fn not_json(text: &str) -> String {
    format!("`{text}` is not a number JSON can hold (Kubernetes cannot accept .inf or .nan); quote it to make it a string")
}

impl Builder {
    fn fail(&mut self, mark: Marker, message: impl Into<String>) {
        if self.error.is_none() {
            self.error = Some(error_at(mark, message));
        }
    }

    /// Hands a finished value to the collection it belongs to.
    fn push(&mut self, value: Value, anchor: usize, mark: Marker) {
        if anchor > 0 {
            self.anchors.insert(anchor, value.clone());
        }
        match self.stack.last_mut() {
            None => {
                if self.docs.len() == 1 {
                    self.second_doc_line = Some(mark.line());
                }
                self.docs.push(value);
            }
            Some(Frame::Seq { items, .. }) => items.push(value),
            Some(Frame::Map {
                map,
                merges,
                pending,
                ..
            }) => match pending.take() {
                None => match resolve::key_string(value) {
                    Ok(k) => *pending = Some(PendingKey::Key(k, mark)),
                    Err(value) => {
                        let what = if value.is_null() {
                            "a null key (`~`, `null` or an empty key) cannot be a JSON key; quote it".to_string()
                        } else {
                            "a map or list cannot be a key".to_string()
                        };
                        self.fail(mark, what);
                    }
                },
                Some(PendingKey::Key(k, key_mark)) => match map.entry(k) {
                    serde_json::map::Entry::Vacant(e) => {
                        e.insert(value);
                    }
                    serde_json::map::Entry::Occupied(mut e) => {
                        if let Some(d) = self.duplicates.as_mut() {
                            d.push(DuplicateKey {
                                line: key_mark.line(),
                                key: e.key().clone(),
                            });
                            e.insert(value);
                            return;
                        }
                        let msg = format!("duplicate key `{}` in a map", e.key());
                        self.fail(key_mark, msg);
                    }
                },
                Some(PendingKey::Merge(m)) => {
                    let sources = match value {
                        Value::Object(o) => vec![o],
                        Value::Array(items) if items.iter().all(Value::is_object) => items
                            .into_iter()
                            .filter_map(|i| match i {
                                Value::Object(o) => Some(o),
                                _ => None,
                            })
                            .collect(),
                        _ => {
                            self.fail(m, "a merge key (<<) needs a map or a list of maps");
                            return;
                        }
                    };
                    merges.extend(sources);
                }
            },
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.error.is_some() {
            return;
        }
        match ev {
            Event::Scalar(text, style, anchor, tag) => {
                // A plain `<<` in key position is a merge key; a quoted one
                // is an ordinary key.
                if text == "<<" && style == TScalarStyle::Plain && tag.is_none() {
                    if let Some(Frame::Map {
                        pending: pending @ None,
                        ..
                    }) = self.stack.last_mut()
                    {
                        *pending = Some(PendingKey::Merge(mark));
                        return;
                    }
                }
                match scalar(text, style, tag.as_ref()) {
                    Ok(v) => self.push(v, anchor, mark),
                    Err(msg) => self.fail(mark, msg),
                }
            }
            Event::SequenceStart(anchor, _) => self.stack.push(Frame::Seq {
                anchor,
                items: Vec::new(),
            }),
            Event::MappingStart(anchor, _) => self.stack.push(Frame::Map {
                anchor,
                map: Map::new(),
                merges: Vec::new(),
                pending: None,
            }),
            Event::SequenceEnd => {
                if let Some(Frame::Seq { anchor, items }) = self.stack.pop() {
                    self.push(Value::Array(items), anchor, mark);
                }
            }
            Event::MappingEnd => {
                if let Some(Frame::Map {
                    anchor,
                    mut map,
                    merges,
                    ..
                }) = self.stack.pop()
                {
                    // Earlier merge sources win over later ones; explicit keys win over all.
                    for source in merges {
                        for (k, v) in source {
                            if !map.contains_key(&k) {
                                map.insert(k, v);
                            }
                        }
                    }
                    self.push(Value::Object(map), anchor, mark);
                }
            }
            Event::Alias(id) => match self.anchors.get(&id).cloned() {
                Some(v) => self.push(v, 0, mark),
                None => self.fail(mark, "an alias refers to an unknown anchor"),
            },
            Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart
            | Event::DocumentEnd
            | Event::Nothing => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn converts_keys_and_merges() {
        // `y` is a YAML 1.1 boolean, so the key is "true", as kubectl sends it.
        let v = parse("base: &b {x: 1}\nderived:\n  <<: *b\n  y: 2\n8020: port\nz: yes\n").unwrap();
        assert_eq!(
            v,
            json!({"base": {"x": 1}, "derived": {"x": 1, "true": 2}, "8020": "port", "z": true})
        );
    }

    #[test]
    fn explicit_keys_win_over_merged_ones() {
        let v =
            parse("a: &a {p: 1, q: 1}\nb: &b {q: 2, r: 2}\nc:\n  <<: [*a, *b]\n  p: 3\n").unwrap();
        assert_eq!(v["c"], json!({"p": 3, "q": 1, "r": 2}));
        let v = parse("'<<': literal\n").unwrap();
        assert_eq!(v, json!({"<<": "literal"}));
    }

    #[test]
    fn error_has_location() {
        let e = parse("a: 1\nb: [1, 2\n").unwrap_err();
        assert!(e.line.is_some());
        assert!(e.to_string().starts_with("line "), "{e}");
    }

    #[test]
    fn duplicate_null_keys_and_infinities_are_errors_with_lines() {
        let e = parse("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert_eq!(e.line, Some(3), "{e}");
        assert!(e.message.contains("duplicate key `a`"), "{e}");
        let e = parse("ok: 1\n~: x\n").unwrap_err();
        assert_eq!(e.line, Some(2), "{e}");
        let e = parse("x:\n  y: .inf\n").unwrap_err();
        assert_eq!(e.line, Some(2), "{e}");
        assert!(e.message.contains(".inf"), "{e}");
    }

    #[test]
    fn the_last_of_two_keys_wins_when_asked() {
        let (v, d) = parse_last_key_wins("a: 1\nb:\n  c: 2\n  c: 3\n").unwrap();
        assert_eq!(v, json!({"a": 1, "b": {"c": 3}}));
        assert_eq!(
            d,
            [DuplicateKey {
                line: 4,
                key: "c".into()
            }]
        );
    }

    #[test]
    fn several_documents_are_an_error() {
        let e = parse("a: 1\n---\nb: 2\n").unwrap_err();
        assert!(e.message.contains("one YAML document"), "{e}");
    }

    #[test]
    fn empty_is_null() {
        assert_eq!(parse("").unwrap(), Value::Null);
        assert_eq!(parse("# only a comment\n").unwrap(), Value::Null);
    }
}

/// What kubectl (sigs.k8s.io/yaml over go-yaml v2) sends as JSON for each
/// YAML input: the resolver rules in [`resolve`] checked one by one, and
/// every value written by [`to_string`] read back unchanged.
#[cfg(test)]
mod kubectl_vectors {
    use super::*;
    use serde_json::json;

    const VECTORS: &[(&str, &str)] = &[
        ("defaultMode: 0555", r#"{"defaultMode":365}"#),
        ("defaultMode: 0644", r#"{"defaultMode":420}"#),
        ("defaultMode: '0555'", r#"{"defaultMode":"0555"}"#),
        ("defaultMode: \"0555\"", r#"{"defaultMode":"0555"}"#),
        ("v: 0o17", r#"{"v":15}"#),
        ("v: 0x1F", r#"{"v":31}"#),
        ("v: -0x1F", r#"{"v":-31}"#),
        ("v: 0b101", r#"{"v":5}"#),
        ("v: 1_000", r#"{"v":1000}"#),
        ("v: 08", r#"{"v":8}"#),
        ("v: 0", r#"{"v":0}"#),
        ("v: +12", r#"{"v":12}"#),
        ("v: 18446744073709551615", r#"{"v":18446744073709551615}"#),
        ("v: 1.5", r#"{"v":1.5}"#),
        ("v: .5", r#"{"v":0.5}"#),
        ("v: 1e3", r#"{"v":"1e3"}"#),
        ("v: 1e+3", r#"{"v":1000}"#),
        ("v: 1.", r#"{"v":"1."}"#),
        ("v: 1:20", r#"{"v":"1:20"}"#),
        ("v: yes", r#"{"v":true}"#),
        ("v: Yes", r#"{"v":true}"#),
        ("v: y", r#"{"v":true}"#),
        ("v: N", r#"{"v":false}"#),
        ("v: no", r#"{"v":false}"#),
        ("v: on", r#"{"v":true}"#),
        ("v: OFF", r#"{"v":false}"#),
        ("v: True", r#"{"v":true}"#),
        ("v: yes please", r#"{"v":"yes please"}"#),
        ("v: 'yes'", r#"{"v":"yes"}"#),
        ("v: ~", r#"{"v":null}"#),
        ("v: null", r#"{"v":null}"#),
        ("v: NULL", r#"{"v":null}"#),
        ("v:", r#"{"v":null}"#),
        ("v: 2024-01-02", r#"{"v":"2024-01-02"}"#),
        (
            "v: 2001-12-14t21:59:43.10-05:00",
            r#"{"v":"2001-12-14t21:59:43.10-05:00"}"#,
        ),
        ("v: 500m", r#"{"v":"500m"}"#),
        ("v: 1Gi", r#"{"v":"1Gi"}"#),
        ("v: -Xmx1g", r#"{"v":"-Xmx1g"}"#),
        ("on: 1", r#"{"true":1}"#),
        ("no: 1", r#"{"false":1}"#),
        ("8020: rpc", r#"{"8020":"rpc"}"#),
        ("0x10: hex", r#"{"16":"hex"}"#),
        ("1.5: f", r#"{"1.5":"f"}"#),
        ("v: !!str 0555", r#"{"v":"0555"}"#),
        ("v: !!int '3'", r#"{"v":3}"#),
        ("v: |\n  a\n  b\n", r#"{"v":"a\nb\n"}"#),
        ("v: >-\n  a\n  b\n", r#"{"v":"a b"}"#),
        ("v: [0555, on, '1']", r#"{"v":[365,true,"1"]}"#),
    ];

    #[test]
    fn scalars_resolve_as_kubectl_sends_them() {
        assert!(VECTORS.len() >= 30);
        for (yaml, want) in VECTORS {
            let got = parse(yaml).unwrap_or_else(|e| panic!("{yaml:?}: {e}"));
            let want: Value = serde_json::from_str(want).unwrap();
            assert_eq!(got, want, "{yaml:?}");
        }
    }

    #[test]
    fn what_json_cannot_hold_is_refused() {
        for yaml in ["v: .inf", "v: -.Inf", "v: .nan", "v: !!int abc", "~: 1"] {
            assert!(parse(yaml).is_err(), "{yaml:?} should be refused");
        }
    }

    #[test]
    fn written_strings_read_back_as_the_same_strings() {
        let tricky = json!({
            "s": ["on", "yes", "y", "N", "0555", "0x1F", "1_000", "1e3", "1.5", "~", "null", "",
                  " lead", "trail ", "a: b", "a #b", "-x", "- x", "<<", "2024-01-02", "true",
                  "multi\nline\n", "no newline\nat end", "two\n\n", "\ttab", "quote\"s", "ünï",
                  "a:\tb", "a\t#b", "x:", "\u{85}x", "\u{feff}x", "n", "i", "infinite", "--5",
                  "1e+3", "+1", ".5", "inf", "NaN", "-Infinity", "0o17", "a:b", "a#b"],
            "on": {"nested": [{"a": 1, "b": [1.5, -2, 1e300]}, [], {}]},
            "": "empty key"
        });
        let text = to_string(&tricky);
        assert_eq!(parse(&text).unwrap(), tricky, "{text}");
    }

    #[test]
    fn strings_a_yaml_1_2_reader_takes_for_numbers_are_quoted() {
        // These read back as strings under YAML 1.1 rules too, so the
        // round trip above cannot tell whether they were quoted.
        for s in [
            "inf",
            "NaN",
            "-Infinity",
            "nan",
            "+inf",
            "1e3",
            "0o17",
            "1.5",
        ] {
            let text = to_string(&json!({ "k": s }));
            assert_eq!(text, format!("k: \"{s}\""), "{s}");
        }
        for s in ["n0", "infinite", "i", "nano", "x1e3", "a:b", "a#b", "ünï"] {
            let text = to_string(&json!({ "k": s }));
            assert_eq!(text, format!("k: {s}"), "{s}");
        }
    }
}
