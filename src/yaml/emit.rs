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
    let mut out = String::new();
    match v {
        Value::Object(m) if !m.is_empty() => map(m, 0, &mut out),
        Value::Array(a) if !a.is_empty() => seq(a, 0, &mut out),
        other => out.push_str(&inline(other, 0)),
    }
    while out.ends_with('\n') {
        out.pop();
    }
    out
}

fn pad(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}

fn map(m: &serde_json::Map<String, Value>, indent: usize, out: &mut String) {
    for (i, (k, v)) in m.iter().enumerate() {
        // The first key of a map in a list item shares the `- ` line.
        if i > 0 || !out.ends_with("- ") {
            pad(out, indent);
        }
        out.push_str(&key(k));
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
            out.push_str(&inline(other, indent + 2));
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
                out.push_str(&inline(other, indent + 2));
                out.push('\n');
            }
        }
    }
}

/// A scalar (or empty collection) on the current line; a multi-line string
/// continues as a literal block indented to `block_indent`.
fn inline(v: &Value, block_indent: usize) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => number(n),
        Value::String(s) => string(s, block_indent),
        Value::Array(_) => "[]".into(),
        Value::Object(_) => "{}".into(),
    }
}

/// Numbers as go-yaml v2 reads them back: an exponent needs its sign.
fn number(n: &serde_json::Number) -> String {
    let s = n.to_string();
    match s.find(['e', 'E']) {
        Some(i) if !s[i + 1..].starts_with(['+', '-']) => {
            format!("{}e+{}", &s[..i], &s[i + 1..])
        }
        _ => s,
    }
}

fn key(k: &str) -> String {
    if plain_safe(k) {
        k.to_string()
    } else {
        quoted(k)
    }
}

fn string(s: &str, block_indent: usize) -> String {
    if plain_safe(s) {
        return s.to_string();
    }
    if s.contains('\n') && literal_safe(s) {
        let body = s.trim_end_matches('\n');
        let trailing = s.len() - body.len();
        let chomp = match trailing {
            0 => "-",
            1 => "",
            _ => "+",
        };
        let mut out = format!("|{chomp}");
        let lines: Vec<&str> = if trailing > 1 {
            s[..s.len() - 1].split('\n').collect()
        } else {
            body.split('\n').collect()
        };
        for line in lines {
            out.push('\n');
            if !line.is_empty() {
                out.extend(std::iter::repeat_n(' ', block_indent));
                out.push_str(line);
            }
        }
        return out;
    }
    quoted(s)
}

fn quoted(s: &str) -> String {
    // JSON string syntax is valid YAML double-quoted syntax.
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
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
    let Some(first) = s.chars().next() else {
        return false;
    };
    if "-?:,[]{}#&*!|>'\"%@`<=".contains(first) || first.is_whitespace() {
        return false;
    }
    if s.ends_with(char::is_whitespace) || s.ends_with(':') {
        return false;
    }
    if s.contains(": ") || s.contains(" #") || s.contains(":\t") || s.contains("\t#") {
        return false;
    }
    if s.chars().any(|c| c.is_control() || c == '\u{feff}') {
        return false;
    }
    plain_reads_as_string(s)
}
