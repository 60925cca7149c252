//! Template helpers: the functions real charts use most, under the names
//! Helm users know (`toYaml`, `nindent`, `include`, `default`, ...).
//!
//! Handlebars has no pipes, so `{{ include "x" . | nindent 4 }}` is written
//! `{{nindent 4 (include "x" this)}}`. Argument order follows Sprig.

use std::cell::Cell;

use base64::Engine as _;
use handlebars::{
    Context, Handlebars, Helper, HelperDef, RenderContext, RenderError, RenderErrorReason,
    ScopedJson,
};
use serde_json::{Map, Number, Value};

/// Deepest nesting of `include`/`tpl` calls before rendering gives up: a
/// partial that includes itself must be an error, not a stack overflow.
pub const MAX_INCLUDE_DEPTH: usize = 64;
/// Largest list `range` builds.
pub const MAX_RANGE: i64 = 100_000;

thread_local! {
    static DEPTH: Cell<usize> = const { Cell::new(0) };
}

/// One argument as a helper sees it (borrowed: arguments are often the
/// whole root context, and copying it for every call dominated rendering).
struct Arg<'a> {
    value: &'a Value,
    /// `Some(path)` when the argument named a value that does not exist.
    missing: Option<String>,
}

/// The arguments of one helper call.
struct Call<'a> {
    args: Vec<Arg<'a>>,
}

type HResult = Result<Value, String>;

impl Call<'_> {
    fn len(&self) -> usize {
        self.args.len()
    }

    /// The i-th argument; an error when absent or naming a missing value.
    fn arg(&self, i: usize) -> Result<&Value, String> {
        match self.args.get(i) {
            None => Err(format!("expects at least {} argument(s)", i + 1)),
            Some(Arg {
                missing: Some(p), ..
            }) => Err(format!("missing value `{p}` (argument {})", i + 1)),
            Some(a) => Ok(a.value),
        }
    }

    /// The i-th argument, or `None` when absent or missing.
    fn opt(&self, i: usize) -> Option<&Value> {
        self.args
            .get(i)
            .filter(|a| a.missing.is_none())
            .map(|a| a.value)
    }

    fn text(&self, i: usize) -> Result<String, String> {
        self.arg(i).map(text)
    }

    fn int(&self, i: usize) -> Result<i64, String> {
        to_int(self.arg(i)?)
    }

    /// All arguments from `from` on, each required.
    fn rest(&self, from: usize) -> Result<Vec<&Value>, String> {
        (from..self.len()).map(|i| self.arg(i)).collect()
    }
}

/// A value as text: strings as they are, null as empty, the rest as JSON.
pub fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Sprig's notion of "empty": null, false, 0, "", [] and {}.
pub fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// Bytes in a Kubernetes memory quantity (`1536Mi`, `2G`, `1e9`, `512`) or
/// a Java size (`512m`, `1g`, `64k`: powers of 1024, as `-Xmx` reads them).
/// Lower-case `m` is Java's mebibytes: a milli-byte memory size means
/// nothing.
fn to_bytes(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a memory size (e.g. 1536Mi, 2G, 512m)"))?;
    let k: f64 = match unit {
        "" => 1.0,
        "Ki" | "k" | "K" => 1024.0,
        "Mi" | "m" => 1024.0 * 1024.0,
        "Gi" | "g" => 1024.0 * 1024.0 * 1024.0,
        "Ti" | "t" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        _ => {
            return Err(format!(
                "`{s}`: unknown unit `{unit}` (use Ki, Mi, Gi, Ti, M, G, T, or k, m, g, t)"
            ))
        }
    };
    Ok((n * k).round() as u64)
}

fn to_int(v: &Value) -> Result<i64, String> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f.trunc() as i64))
            .ok_or_else(|| format!("{n} is not an integer")),
        Value::String(s) => s
            .trim()
            .parse::<i64>()
            .or_else(|_| s.trim().parse::<f64>().map(|f| f.trunc() as i64))
            .map_err(|_| format!("`{s}` is not a number")),
        Value::Bool(b) => Ok(i64::from(*b)),
        Value::Null => Ok(0),
        other => Err(format!("{other} is not a number")),
    }
}

fn number(v: &Value) -> Result<Num, String> {
    match v {
        Value::Number(n) => Ok(match n.as_i64() {
            Some(i) => Num::Int(i),
            None => Num::Float(n.as_f64().unwrap_or(f64::NAN)),
        }),
        Value::String(s) => {
            if let Ok(i) = s.trim().parse::<i64>() {
                Ok(Num::Int(i))
            } else {
                s.trim()
                    .parse::<f64>()
                    .map(Num::Float)
                    .map_err(|_| format!("`{s}` is not a number"))
            }
        }
        Value::Null => Ok(Num::Int(0)),
        other => Err(format!("{other} is not a number")),
    }
}

#[derive(Clone, Copy)]
enum Num {
    Int(i64),
    Float(f64),
}

impl Num {
    fn f(self) -> f64 {
        match self {
            Num::Int(i) => i as f64,
            Num::Float(f) => f,
        }
    }
}

fn num_value(n: Num) -> Value {
    match n {
        Num::Int(i) => Value::from(i),
        Num::Float(f) => Number::from_f64(f)
            .map(Value::Number)
            .unwrap_or(Value::Null),
    }
}

fn arith(call: &Call, op: fn(i64, i64) -> Option<i64>, fop: fn(f64, f64) -> f64) -> HResult {
    let nums = call
        .rest(0)?
        .into_iter()
        .map(number)
        .collect::<Result<Vec<_>, _>>()?;
    let (first, rest) = nums
        .split_first()
        .ok_or_else(|| "expects at least 1 argument".to_string())?;
    let mut acc = *first;
    for n in rest {
        acc = match (acc, *n) {
            (Num::Int(a), Num::Int(b)) => {
                Num::Int(op(a, b).ok_or_else(|| "integer overflow".to_string())?)
            }
            (a, b) => Num::Float(fop(a.f(), b.f())),
        };
    }
    Ok(num_value(acc))
}

fn values_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

fn compare(call: &Call) -> Result<std::cmp::Ordering, String> {
    let (a, b) = (call.arg(0)?, call.arg(1)?);
    match (a, b) {
        (Value::String(x), Value::String(y)) => Ok(x.cmp(y)),
        _ => {
            let (x, y) = (number(a)?.f(), number(b)?.f());
            x.partial_cmp(&y)
                .ok_or_else(|| "cannot compare NaN".to_string())
        }
    }
}

/// Largest indentation accepted: a typo like `indent 40000000` must be an
/// error, not an out-of-memory abort.
const MAX_INDENT: i64 = 1024;

fn width(c: &Call) -> Result<i64, String> {
    let n = c.int(0)?;
    if !(0..=MAX_INDENT).contains(&n) {
        return Err(format!("indentation {n} is outside 0..={MAX_INDENT}"));
    }
    Ok(n)
}

/// `s` with `n` spaces before each line (also an empty last one), built in
/// one pass: `indent` runs for every object of a large render.
fn indent(n: i64, s: &str) -> String {
    let width = usize::try_from(n).unwrap_or(0);
    let lines = 1 + s.bytes().filter(|b| *b == b'\n').count();
    let mut out = String::with_capacity(s.len() + width * lines);
    for (i, line) in s.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.extend(std::iter::repeat_n(' ', width));
        out.push_str(line);
    }
    out
}

fn printf(call: &Call) -> HResult {
    let fmt = call.text(0)?;
    let mut out = String::new();
    let mut args = (1..call.len()).map(|i| call.arg(i));
    let mut chars = fmt.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some(verb @ ('s' | 'v' | 'd' | 'q')) => {
                let v = args
                    .next()
                    .ok_or_else(|| format!("format `{fmt}` needs more arguments"))??;
                match verb {
                    'd' => out.push_str(&to_int(v)?.to_string()),
                    'q' => out.push_str(&Value::String(text(v)).to_string()),
                    _ => out.push_str(&text(v)),
                }
            }
            Some(other) => {
                return Err(format!(
                    "unsupported verb `%{other}` (use %s, %d, %v, %q or %%)"
                ))
            }
            None => return Err("format ends with a lone `%`".to_string()),
        }
    }
    Ok(Value::String(out))
}

fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

type PureFn = fn(&Call) -> HResult;

thread_local! {
    /// Warnings the `warn` helper raised during the current render on this
    /// thread (templates rendered on other threads hand theirs back with
    /// [`extend_warnings`]).
    static WARNINGS: std::cell::RefCell<Vec<String>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Clears the warnings before a render.
pub fn start_warnings() {
    WARNINGS.with(|w| w.borrow_mut().clear());
}

/// The warnings the render raised, each once, in the order raised.
pub fn take_warnings() -> Vec<String> {
    let mut all = WARNINGS.with(|w| std::mem::take(&mut *w.borrow_mut()));
    let mut seen = std::collections::HashSet::new();
    all.retain(|w| seen.insert(w.clone()));
    all
}

/// Adds warnings raised on another thread of the same render, after those
/// raised so far.
pub(super) fn extend_warnings(more: Vec<String>) {
    WARNINGS.with(|w| w.borrow_mut().extend(more));
}

/// Every pure helper: name and implementation.
const PURE: &[(&str, PureFn)] = &[
    ("toYaml", |c| {
        Ok(Value::String(crate::yaml::to_string(c.arg(0)?)))
    }),
    ("toJson", |c| Ok(Value::String(c.arg(0)?.to_string()))),
    ("fromYaml", |c| {
        crate::yaml::parse(&c.text(0)?).map_err(|e| format!("invalid YAML: {e}"))
    }),
    ("fromJson", |c| {
        serde_json::from_str(&c.text(0)?).map_err(|e| format!("invalid JSON: {e}"))
    }),
    ("indent", |c| {
        Ok(Value::String(indent(width(c)?, &c.text(1)?)))
    }),
    ("nindent", |c| {
        Ok(Value::String(format!(
            "\n{}",
            indent(width(c)?, &c.text(1)?)
        )))
    }),
    ("quote", |c| {
        let parts = c
            .rest(0)?
            .into_iter()
            .map(|v| Value::String(text(v)).to_string())
            .collect::<Vec<_>>();
        Ok(Value::String(parts.join(" ")))
    }),
    ("squote", |c| {
        let parts = c
            .rest(0)?
            .into_iter()
            .map(|v| format!("'{}'", text(v)))
            .collect::<Vec<_>>();
        Ok(Value::String(parts.join(" ")))
    }),
    ("default", |c| {
        let d = c.arg(0)?;
        Ok(match c.opt(1) {
            Some(v) if truthy(v) => v.clone(),
            _ => d.clone(),
        })
    }),
    ("empty", |c| Ok(Value::Bool(!c.opt(0).is_some_and(truthy)))),
    ("required", |c| {
        let msg = c.text(0)?;
        match c.opt(1) {
            None | Some(Value::Null) => Err(msg),
            Some(Value::String(s)) if s.is_empty() => Err(msg),
            Some(v) => Ok(v.clone()),
        }
    }),
    // `{{fail "message"}}`: stops rendering with the message (Helm's fail).
    ("fail", |c| Err(c.text(0)?)),
    // `bytes "1536Mi"`, `bytes "1g"`: a memory size in bytes, from a
    // Kubernetes quantity or a Java size, for comparing a heap with a limit.
    ("bytes", |c| {
        to_bytes(&text(c.arg(0)?)).map(|n| Value::Number(Number::from(n)))
    }),
    // `{{warn "message"}}`: renders nothing; lint reports the message as
    // a warning, template/install/upgrade print it.
    ("warn", |c| {
        let msg = c.text(0)?;
        WARNINGS.with(|w| w.borrow_mut().push(msg));
        Ok(Value::String(String::new()))
    }),
    ("ternary", |c| {
        Ok(if truthy(c.arg(2)?) {
            c.arg(0)?.clone()
        } else {
            c.arg(1)?.clone()
        })
    }),
    ("trunc", |c| {
        let n = c.int(0)?;
        let s: Vec<char> = c.text(1)?.chars().collect();
        let out: String = if n >= 0 {
            s.iter().take(n as usize).collect()
        } else {
            let k = (-n) as usize;
            s[s.len().saturating_sub(k)..].iter().collect()
        };
        Ok(Value::String(out))
    }),
    ("trim", |c| Ok(Value::String(c.text(0)?.trim().to_string()))),
    ("trimSuffix", |c| {
        let (suf, s) = (c.text(0)?, c.text(1)?);
        Ok(Value::String(
            s.strip_suffix(&suf).unwrap_or(&s).to_string(),
        ))
    }),
    ("trimPrefix", |c| {
        let (pre, s) = (c.text(0)?, c.text(1)?);
        Ok(Value::String(
            s.strip_prefix(&pre).unwrap_or(&s).to_string(),
        ))
    }),
    ("lower", |c| Ok(Value::String(c.text(0)?.to_lowercase()))),
    ("upper", |c| Ok(Value::String(c.text(0)?.to_uppercase()))),
    ("replace", |c| {
        Ok(Value::String(c.text(2)?.replace(&c.text(0)?, &c.text(1)?)))
    }),
    ("contains", |c| {
        Ok(Value::Bool(c.text(1)?.contains(&c.text(0)?)))
    }),
    ("printf", printf),
    ("concat", |c| {
        Ok(Value::String(c.rest(0)?.into_iter().map(text).collect()))
    }),
    ("join", |c| {
        let sep = c.text(0)?;
        match c.arg(1)? {
            Value::Array(items) => Ok(Value::String(
                items.iter().map(text).collect::<Vec<_>>().join(&sep),
            )),
            other => Err(format!("expects a list as argument 2, got {other}")),
        }
    }),
    ("b64enc", |c| {
        Ok(Value::String(
            base64::engine::general_purpose::STANDARD.encode(c.text(0)?),
        ))
    }),
    ("b64dec", |c| {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(c.text(0)?.trim())
            .map_err(|e| format!("invalid base64: {e}"))?;
        String::from_utf8(bytes)
            .map(Value::String)
            .map_err(|_| "decoded bytes are not UTF-8 text".to_string())
    }),
    ("sha256sum", |c| {
        Ok(Value::String(crate::package::sha256_hex(
            c.text(0)?.as_bytes(),
        )))
    }),
    ("xmlEscape", |c| Ok(Value::String(xml_escape(&c.text(0)?)))),
    ("eq", |c| {
        Ok(Value::Bool(values_equal(c.arg(0)?, c.arg(1)?)))
    }),
    ("ne", |c| {
        Ok(Value::Bool(!values_equal(c.arg(0)?, c.arg(1)?)))
    }),
    ("lt", |c| Ok(Value::Bool(compare(c)?.is_lt()))),
    ("le", |c| Ok(Value::Bool(compare(c)?.is_le()))),
    ("gt", |c| Ok(Value::Bool(compare(c)?.is_gt()))),
    ("ge", |c| Ok(Value::Bool(compare(c)?.is_ge()))),
    // Missing values count as false, so `(and Values.a Values.b)` works on
    // optional keys.
    ("and", |c| {
        if c.len() == 0 {
            return Err("expects at least 1 argument".into());
        }
        Ok(Value::Bool(
            (0..c.len()).all(|i| c.opt(i).is_some_and(truthy)),
        ))
    }),
    ("or", |c| {
        if c.len() == 0 {
            return Err("expects at least 1 argument".into());
        }
        Ok(Value::Bool(
            (0..c.len()).any(|i| c.opt(i).is_some_and(truthy)),
        ))
    }),
    ("not", |c| {
        if c.len() != 1 {
            return Err("expects exactly 1 argument".into());
        }
        Ok(Value::Bool(!c.opt(0).is_some_and(truthy)))
    }),
    ("add", |c| arith(c, i64::checked_add, |a, b| a + b)),
    ("sub", |c| {
        if c.len() != 2 {
            return Err("expects exactly 2 arguments".into());
        }
        arith(c, i64::checked_sub, |a, b| a - b)
    }),
    ("mul", |c| arith(c, i64::checked_mul, |a, b| a * b)),
    ("div", |c| {
        if c.len() != 2 {
            return Err("expects exactly 2 arguments".into());
        }
        if number(c.arg(1)?)?.f() == 0.0 {
            return Err("division by zero".into());
        }
        arith(c, i64::checked_div, |a, b| a / b)
    }),
    ("max", |c| arith(c, |a, b| Some(a.max(b)), f64::max)),
    ("min", |c| arith(c, |a, b| Some(a.min(b)), f64::min)),
    ("int", |c| Ok(Value::from(c.int(0)?))),
    ("toString", |c| Ok(Value::String(text(c.arg(0)?)))),
    ("list", |c| {
        Ok(Value::Array(c.rest(0)?.into_iter().cloned().collect()))
    }),
    ("dict", |c| {
        if c.len() % 2 != 0 {
            return Err("expects key/value pairs (an even number of arguments)".into());
        }
        let mut m = Map::new();
        for i in (0..c.len()).step_by(2) {
            m.insert(c.text(i)?, c.arg(i + 1)?.clone());
        }
        Ok(Value::Object(m))
    }),
    // Sorted (Sprig's order is random; a render must be deterministic).
    ("keys", |c| match c.arg(0)? {
        Value::Object(m) => Ok(Value::Array(m.keys().cloned().map(Value::String).collect())),
        other => Err(format!("expects a map, got {other}")),
    }),
    ("hasKey", |c| match c.arg(0)? {
        Value::Object(m) => Ok(Value::Bool(m.contains_key(&c.text(1)?))),
        other => Err(format!("expects a map as argument 1, got {other}")),
    }),
    ("has", |c| match c.arg(1)? {
        Value::Array(items) => {
            let needle = c.arg(0)?;
            Ok(Value::Bool(items.iter().any(|v| values_equal(v, needle))))
        }
        other => Err(format!("expects a list as argument 2, got {other}")),
    }),
    ("len", |c| match c.arg(0)? {
        Value::Array(a) => Ok(Value::from(a.len())),
        Value::Object(o) => Ok(Value::from(o.len())),
        Value::String(s) => Ok(Value::from(s.chars().count())),
        Value::Null => Ok(Value::from(0)),
        other => Err(format!("cannot take the length of {other}")),
    }),
    ("range", |c| {
        let (start, end) = if c.len() >= 2 {
            (c.int(0)?, c.int(1)?)
        } else {
            (0, c.int(0)?)
        };
        if end - start > MAX_RANGE {
            return Err(format!(
                "range of {} items is larger than {MAX_RANGE}",
                end - start
            ));
        }
        Ok(Value::Array((start..end).map(Value::from).collect()))
    }),
    ("semverCompare", |c| {
        let constraint =
            crate::chart::constraint::Constraint::parse(&c.text(0)?).map_err(|e| e.to_string())?;
        let version = crate::chart::constraint::parse_lenient(&c.text(1)?).map_err(|e| {
            format!(
                "invalid version `{}`: {e}",
                text(c.arg(1).unwrap_or(&Value::Null))
            )
        })?;
        Ok(Value::Bool(constraint.matches(&version)))
    }),
    ("mergeOverwrite", |c| {
        let mut out = Value::Object(Map::new());
        for v in c.rest(0)? {
            if !v.is_object() {
                return Err(format!("expects maps, got {v}"));
            }
            crate::values::overlay(&mut out, v.clone());
        }
        Ok(out)
    }),
];

/// Collects a helper's arguments. Handlebars cannot name the root context
/// on its own in a parameter (`@root` parses as a missing local), yet
/// `(include "x" @root)` is exactly what templates need inside `each`
/// blocks, so a bare `@root` is resolved to the root context here.
fn call_of<'a>(h: &'a Helper<'_>, ctx: &'a Context) -> Call<'a> {
    Call {
        args: h
            .params()
            .iter()
            .map(|p| {
                let path = p.relative_path().map(String::as_str);
                if p.is_value_missing() && path == Some("@root") {
                    return Arg {
                        value: ctx.data(),
                        missing: None,
                    };
                }
                Arg {
                    value: p.value(),
                    missing: p
                        .is_value_missing()
                        .then(|| path.unwrap_or("?").to_string()),
                }
            })
            .collect(),
    }
}

fn helper_error(name: &str, message: String) -> RenderError {
    RenderErrorReason::Other(format!("{name}: {message}")).into()
}

struct Pure {
    name: &'static str,
    f: PureFn,
}

impl HelperDef for Pure {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        ctx: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, RenderError> {
        (self.f)(&call_of(h, ctx))
            .map(ScopedJson::Derived)
            .map_err(|m| helper_error(self.name, m))
    }
}

/// Runs `f` one include level deeper, failing past [`MAX_INCLUDE_DEPTH`].
fn nested<T>(name: &str, f: impl FnOnce() -> Result<T, RenderError>) -> Result<T, RenderError> {
    let depth = DEPTH.with(|d| d.get());
    if depth >= MAX_INCLUDE_DEPTH {
        return Err(helper_error(
            name,
            format!(
                "nested more than {MAX_INCLUDE_DEPTH} levels deep (does a partial include itself?)"
            ),
        ));
    }
    DEPTH.with(|d| d.set(depth + 1));
    let out = f();
    DEPTH.with(|d| d.set(depth));
    out
}

/// The context a partial or `tpl` renders with: the caller's own when the
/// argument is the root (`this` at the top, `@root`), without copying it.
fn context_arg<'c>(call: &Call<'_>, i: usize, ctx: &'c Context) -> std::borrow::Cow<'c, Context> {
    match call.args.get(i) {
        Some(a) if !std::ptr::eq(a.value, ctx.data()) => {
            std::borrow::Cow::Owned(Context::from(a.value.clone()))
        }
        _ => std::borrow::Cow::Borrowed(ctx),
    }
}

/// `include NAME [CONTEXT]`: renders a partial to a string, without its
/// trailing newlines.
struct Include;

impl HelperDef for Include {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        r: &'reg Handlebars<'reg>,
        ctx: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, RenderError> {
        let call = call_of(h, ctx);
        let name = call.text(0).map_err(|m| helper_error("include", m))?;
        if r.get_template(&name).is_none() {
            return Err(helper_error(
                "include",
                format!("no partial named `{name}` (partials are templates/_NAME.yaml files)"),
            ));
        }
        let c = context_arg(&call, 1, ctx);
        // A partial is a whole file, which ends with a newline that nobody
        // wants in `(include "x" this)`.
        nested("include", || r.render_with_context(&name, &c))
            .map(|s| ScopedJson::Derived(Value::String(s.trim_end_matches('\n').to_string())))
    }
}

/// `tpl TEMPLATE [CONTEXT]`: renders a string as a template.
struct Tpl;

impl HelperDef for Tpl {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        r: &'reg Handlebars<'reg>,
        ctx: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, RenderError> {
        let call = call_of(h, ctx);
        let source = call.text(0).map_err(|m| helper_error("tpl", m))?;
        let c = context_arg(&call, 1, ctx);
        nested("tpl", || r.render_template_with_context(&source, &c))
            .map(|s| ScopedJson::Derived(Value::String(s)))
    }
}

/// Names of every helper windlass registers.
pub fn names() -> Vec<&'static str> {
    let mut v: Vec<&str> = PURE.iter().map(|(n, _)| *n).collect();
    v.extend(["include", "tpl"]);
    v
}

/// Registers every helper on a registry.
pub fn register(hb: &mut Handlebars<'_>) {
    for (name, f) in PURE {
        hb.register_helper(name, Box::new(Pure { name, f: *f }));
    }
    hb.register_helper("include", Box::new(Include));
    hb.register_helper("tpl", Box::new(Tpl));
}

#[cfg(test)]
mod tests;
