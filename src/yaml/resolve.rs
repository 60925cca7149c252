//! How a plain (unquoted) YAML scalar becomes a JSON value under the rules
//! Helm and kubectl use: go-yaml v2's resolver (YAML 1.1) followed by
//! sigs.k8s.io/yaml's conversion to JSON.
//!
//! The rules, from go-yaml v2.4 `resolve.go`:
//! - `~`, `null`, `Null`, `NULL` and the empty scalar are null;
//! - `y Y yes Yes YES true True TRUE on On ON` are true, and
//!   `n N no No NO false False FALSE off Off OFF` are false;
//! - `.inf`, `-.inf`, `.nan` (and their capitalisations) are floats, which
//!   JSON cannot hold, so sigs.k8s.io/yaml fails on them;
//! - a scalar starting with a digit or a sign is tried, underscores removed,
//!   as a Go integer literal (`0x1F`, `0o17`, `0b101`, and a leading `0`
//!   for octal: `0555` is 365), then as an unsigned one, then as a float
//!   matching `^[-+]?[0-9]*\.?[0-9]+([eE][-+][0-9]+)?$` (so `1e3` stays a
//!   string but `1e+3` is 1000); one starting with `.` is tried as a float;
//! - timestamps stay strings when decoded into an untyped value;
//! - everything else is a string.

use serde_json::{Number, Value};

/// A plain scalar's resolved value, or why it cannot be JSON.
pub(crate) enum Resolved {
    /// A JSON value.
    Json(Value),
    /// `.inf` or `.nan`: a YAML float that JSON cannot represent.
    NotJson,
}

/// Resolves a plain scalar.
pub(crate) fn plain(s: &str) -> Resolved {
    plain_non_string(s).unwrap_or_else(|| Resolved::Json(string(s)))
}

/// What a plain scalar resolves to, or `None` when it stays a string (so
/// the common case, a word, allocates nothing).
pub(crate) fn plain_non_string(s: &str) -> Option<Resolved> {
    // Most scalars are words; only these letters start a null or boolean
    // word, and numbers start with a digit, a sign or a dot.
    if s.as_bytes().first().is_some_and(|b| {
        b.is_ascii_alphabetic()
            && !matches!(
                b,
                b'y' | b'Y' | b'n' | b'N' | b't' | b'T' | b'f' | b'F' | b'o' | b'O'
            )
    }) {
        return None;
    }
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Some(Resolved::Json(Value::Null)),
        "y" | "Y" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
            return Some(Resolved::Json(Value::Bool(true)))
        }
        "n" | "N" | "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            return Some(Resolved::Json(Value::Bool(false)))
        }
        ".nan" | ".NaN" | ".NAN" | ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF"
        | "-.inf" | "-.Inf" | "-.INF" => return Some(Resolved::NotJson),
        _ => {}
    }
    let first = s.as_bytes()[0];
    if first == b'.' {
        return go_float(s).map(|f| Resolved::Json(float_value(f)));
    }
    if !(first.is_ascii_digit() || first == b'+' || first == b'-') {
        return None;
    }
    if looks_like_timestamp(s) {
        return None;
    }
    // Underscores are rare; most numbers are read without a copy.
    let digits: std::borrow::Cow<str> = if s.contains('_') {
        s.chars().filter(|c| *c != '_').collect::<String>().into()
    } else {
        s.into()
    };
    if let Some(v) = go_int(&digits) {
        return Some(Resolved::Json(v));
    }
    if float_syntax(&digits) {
        if let Some(f) = go_float(&digits) {
            return Some(Resolved::Json(float_value(f)));
        }
    }
    // go-yaml's own binary forms (`0b1010`, `-0b1010`) are covered by
    // Go's base-0 integer syntax in go_int.
    None
}

fn string(s: &str) -> Value {
    Value::String(s.to_string())
}

/// Go's `strconv.ParseInt(s, 0, 64)`, falling back to `ParseUint`.
fn go_int(s: &str) -> Option<Value> {
    let (neg, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let lower: std::borrow::Cow<str> = if body.bytes().any(|b| b.is_ascii_uppercase()) {
        body.to_ascii_lowercase().into()
    } else {
        body.into()
    };
    let (radix, digits) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..])
    } else {
        (10, &*lower)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = u64::from_str_radix(digits, radix).ok()?;
    if neg {
        if magnitude <= i64::MAX as u64 + 1 {
            Some(Value::from((magnitude as i128).wrapping_neg() as i64))
        } else {
            None
        }
    } else {
        Some(Value::from(magnitude))
    }
}

/// `^[-+]?[0-9]*\.?[0-9]+([eE][-+][0-9]+)?$`, go-yaml v2's float pattern.
fn float_syntax(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = usize::from(matches!(b.first(), Some(b'+' | b'-')));
    let mantissa_start = i;
    while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
        i += 1;
    }
    let mantissa = &s[mantissa_start..i];
    let dots = mantissa.matches('.').count();
    // `[0-9]*\.?[0-9]+`: at most one dot, and a digit must follow it.
    if mantissa.is_empty() || dots > 1 || mantissa.ends_with('.') {
        return false;
    }
    if i == b.len() {
        return true;
    }
    if !matches!(b[i], b'e' | b'E') {
        return false;
    }
    i += 1;
    if !matches!(b.get(i), Some(b'+' | b'-')) {
        return false;
    }
    i += 1;
    i < b.len() && b[i..].iter().all(u8::is_ascii_digit)
}

/// Go's `strconv.ParseFloat(s, 64)` for the decimal forms that reach it.
fn go_float(s: &str) -> Option<f64> {
    let ok = s
        .bytes()
        .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-'));
    if !ok {
        return None;
    }
    s.parse::<f64>().ok().filter(|f| f.is_finite())
}

/// A float as Go's encoding/json writes it: integral values within i64
/// are plain integers (`1e+3` is sent as `1000`).
fn float_value(f: f64) -> Value {
    if f.fract() == 0.0 && f.abs() < 9.0e15 {
        return Value::from(f as i64);
    }
    Number::from_f64(f)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

/// `YYYY-...` forms go-yaml resolves as timestamps; decoded into an untyped
/// value they stay strings, so only the check matters.
fn looks_like_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() > 4 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-'
}

/// How sigs.k8s.io/yaml turns a resolved map key into a JSON key, or the
/// value back for keys it refuses (null, maps, lists).
pub(crate) fn key_string(v: Value) -> Result<String, Value> {
    match v {
        Value::String(s) => Ok(s),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Number(n) if n.is_i64() || n.is_u64() => Ok(n.to_string()),
        // strconv.FormatFloat(f, 'g', -1, 32): the shortest form as float32.
        Value::Number(n) => match n.as_f64() {
            Some(f) => Ok(format!("{}", f as f32)),
            None => Err(Value::Number(n)),
        },
        other => Err(other),
    }
}

/// Whether a string written plain would read back as the same string under
/// these rules and under YAML 1.2 readers (which take `1e3` as a number).
pub(crate) fn plain_reads_as_string(s: &str) -> bool {
    if plain_non_string(s).is_some() {
        return false;
    }
    // A YAML 1.2 reader's numbers (after signs) start with a digit or a
    // dot, or are inf/nan words; a timestamp starts with a digit. Anything
    // else is a string to both, which is most keys and values.
    let unsigned = s.trim_start_matches(['+', '-']);
    if !unsigned
        .bytes()
        .next()
        .is_some_and(|c| c.is_ascii_digit() || matches!(c, b'.' | b'i' | b'I' | b'n' | b'N'))
    {
        return true;
    }
    let lower = s.to_ascii_lowercase();
    let numeric_1_2 = lower.trim_start_matches(['+', '-']).parse::<f64>().is_ok()
        || lower.starts_with("0o")
        || lower.starts_with("0x")
        || matches!(lower.as_str(), "inf" | "nan" | "infinity");
    !numeric_1_2 && !looks_like_timestamp(s)
}
