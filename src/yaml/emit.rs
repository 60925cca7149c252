//! Block YAML for JSON values, safe under both YAML 1.1 (kubectl, Helm)
//! and YAML 1.2 readers: a string is written plain only when both would
//! read it back as that same string (so `"on"`, `"0555"`, `"1e3"` and
//! `"~"` are quoted). Multi-line strings become literal blocks, as in
//! `kubectl get -o yaml`.

use serde_json::Value;

use super::resolve::plain_reads_as_string;

/// Serialises a value as block YAML without the trailing newline, the way
/// Helm's `toYaml` does.
pub fn to_string(v: &Value) -> String {
    to_string_sized(v, 0)
}

/// [`to_string`] into a buffer of `capacity` bytes to start with: a
/// rendered document's length is a good guess of its text's, and growing
/// the buffer by doubling was a tenth of writing a large render's YAML.
pub fn to_string_sized(v: &Value, capacity: usize) -> String {
    let mut out = String::with_capacity(capacity);
    match v {
        Value::Object(m) if !m.is_empty() => map(m, 0, &mut out),
        Value::Array(a) if !a.is_empty() => seq(a, 0, &mut out),
        other => inline(other, 0, &mut out),
    }
    while out.ends_with('\n') {
        out.pop();
    }
    out
}

/// `n` spaces, copied from a constant in slices (pushing them one `char` at
/// a time was a percent of a large render's instructions).
fn pad(out: &mut String, n: usize) {
    const SPACES: &str = "                                                                ";
    let mut left = n;
    while left > 0 {
        let k = left.min(SPACES.len());
        out.push_str(&SPACES[..k]);
        left -= k;
    }
}

fn map(m: &serde_json::Map<String, Value>, indent: usize, out: &mut String) {
    for (i, (k, v)) in m.iter().enumerate() {
        // The first key of a map in a list item shares the `- ` line.
        if i > 0 || !out.ends_with("- ") {
            pad(out, indent);
        }
        key(k, out);
        out.push(':');
        value_after_key(v, indent, out);
    }
}

fn value_after_key(v: &Value, indent: usize, out: &mut String) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            map(m, indent + 2, out);
        }
        Value::Array(a) if !a.is_empty() => {
            out.push('\n');
            seq(a, indent, out);
        }
        other => {
            out.push(' ');
            inline(other, indent + 2, out);
            out.push('\n');
        }
    }
}

fn seq(items: &[Value], indent: usize, out: &mut String) {
    for item in items {
        pad(out, indent);
        out.push_str("- ");
        match item {
            Value::Object(m) if !m.is_empty() => map(m, indent + 2, out),
            Value::Array(a) if !a.is_empty() => {
                out.push('\n');
                seq(a, indent + 2, out);
            }
            other => {
                inline(other, indent + 2, out);
                out.push('\n');
            }
        }
    }
}

/// A scalar (or empty collection) on the current line; a multi-line string
/// continues as a literal block indented to `block_indent`.
fn inline(v: &Value, block_indent: usize, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => number(n, out),
        Value::String(s) => string(s, block_indent, out),
        Value::Array(_) => out.push_str("[]"),
        Value::Object(_) => out.push_str("{}"),
    }
}

/// Numbers as go-yaml v2 reads them back: an exponent needs its sign.
fn number(n: &serde_json::Number, out: &mut String) {
    let s = n.to_string();
    match s.find(['e', 'E']) {
        Some(i) if !s[i + 1..].starts_with(['+', '-']) => {
            out.push_str(&s[..i]);
            out.push_str("e+");
            out.push_str(&s[i + 1..]);
        }
        _ => out.push_str(&s),
    }
}

fn key(k: &str, out: &mut String) {
    if plain_safe(k) {
        out.push_str(k);
    } else {
        quoted(k, out);
    }
}

fn string(s: &str, block_indent: usize, out: &mut String) {
    if plain_safe(s) {
        out.push_str(s);
        return;
    }
    if s.contains('\n') && literal_safe(s) {
        let body = s.trim_end_matches('\n');
        let trailing = s.len() - body.len();
        out.push_str(match trailing {
            0 => "|-",
            1 => "|",
            _ => "|+",
        });
        let lines = if trailing > 1 {
            &s[..s.len() - 1]
        } else {
            body
        };
        for line in lines.split('\n') {
            out.push('\n');
            if !line.is_empty() {
                pad(out, block_indent);
                out.push_str(line);
            }
        }
        return;
    }
    quoted(s, out);
}

fn quoted(s: &str, out: &mut String) {
    // JSON string syntax is valid YAML double-quoted syntax.
    match serde_json::to_string(s) {
        Ok(q) => out.push_str(&q),
        Err(_) => {
            out.push('"');
            out.push_str(s);
            out.push('"');
        }
    }
}

/// Whether a literal block can carry the string exactly.
fn literal_safe(s: &str) -> bool {
    !s.chars()
        .any(|c| (c.is_control() && c != '\n' && c != '\t') || c == '\u{feff}')
        && !s.starts_with(['\n', ' '])
        && !s
            .lines()
            .any(|l| l.starts_with('\t') && l.trim().is_empty())
}

/// Whether the string can be written without quotes and read back as
/// itself by YAML 1.1 and 1.2 readers.
fn plain_safe(s: &str) -> bool {
    super::is_word(s) || plain_safe_in_full(s)
}

fn plain_safe_in_full(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    if matches!(
        first,
        '-' | '?'
            | ':'
            | ','
            | '['
            | ']'
            | '{'
            | '}'
            | '#'
            | '&'
            | '*'
            | '!'
            | '|'
            | '>'
            | '\''
            | '"'
            | '%'
            | '@'
            | '`'
            | '<'
            | '='
    ) || first.is_whitespace()
    {
        return false;
    }
    if s.ends_with(char::is_whitespace) || s.ends_with(':') {
        return false;
    }
    // One pass over the bytes for `: `, ` #` and control characters (a tab
    // is one, so `:\t` and `\t#` are covered); other characters are
    // checked as characters only when there are any.
    let b = s.as_bytes();
    for (i, &c) in b.iter().enumerate() {
        let bad = match c {
            b':' => b.get(i + 1) == Some(&b' '),
            b'#' => i > 0 && b[i - 1] == b' ',
            0x00..=0x1f | 0x7f => true,
            _ => false,
        };
        if bad {
            return false;
        }
    }
    if !s.is_ascii() && s.chars().any(|c| c.is_control() || c == '\u{feff}') {
        return false;
    }
    plain_reads_as_string(s)
}

#[cfg(test)]
mod tests {
    use super::super::is_word;
    use super::*;

    #[test]
    fn pad_writes_exactly_n_spaces() {
        for n in [0, 1, 2, 63, 64, 65, 200] {
            let mut out = String::from("x");
            pad(&mut out, n);
            assert_eq!(out, format!("x{}", " ".repeat(n)), "{n}");
        }
    }

    #[test]
    fn a_word_is_plain_safe_by_the_full_rules_too() {
        // Random strings over the characters that matter (letters that
        // start special words, digits, signs, dots, separators, spaces,
        // indicators) and the special words in several cases.
        let mut words = 0;
        for s in super::super::test_strings(
            11,
            200_000,
            "yYnNtTfFoOiIeEaAlLsSuU0159.+-_/: #'\"!&*{}[],?|>%@`~\t",
        ) {
            if is_word(&s) {
                words += 1;
                assert!(plain_safe_in_full(&s), "{s:?}");
            }
        }
        assert!(words > 1000, "{words}");
        for w in [
            "name",
            "nodeAffinity",
            "ReadWriteOnce",
            "app.kubernetes.io/name",
            "Infinite",
        ] {
            assert!(is_word(w), "{w}");
        }
        for w in [
            "No", "TRUE", "Off", "nan", "Infinity", "1a", "a b", "a:", "",
        ] {
            assert!(!is_word(w), "{w}");
        }
    }
}
