//! Parser for `--set`-style expressions, compatible with Helm's grammar.
//!
//! `a.b=c,d=e`, lists `a={x,y}`, indexes `a[0].b=c`, escapes `\.`, `\,`,
//! `\=`, `\[` and `\\`. `true`, `false` and `null` (any case) and integers
//! without a leading zero are typed; everything else, floats included, stays a
//! string, as in Helm (use `--set-json` for a float).

use serde_json::{Map, Value};

/// Largest list index an expression may name; protects against `a[99999999]=x`
/// allocating a huge list.
pub const MAX_INDEX: usize = 65_536;

/// How the right-hand side of an expression is interpreted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetKind {
    /// `--set`: scalars are typed (bool, null, integer) and `{a,b}` is a list.
    Typed,
    /// `--set-string`: every scalar stays a string.
    String,
    /// `--set-json`: the value is a JSON document.
    Json,
    /// `--set-file`: the value is a path whose contents become a string.
    File,
}

/// A malformed `--set` expression.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} at column {column} of `{expression}`")]
pub struct SetError {
    /// The whole expression as the user gave it.
    pub expression: String,
    /// 1-based column (in characters) where the problem was found.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

/// One step of a key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathSegment {
    /// A map key.
    Key(String),
    /// A list index.
    Index(usize),
}

/// One `path=value` assignment parsed from an expression.
#[derive(Debug, Clone, PartialEq)]
pub struct Assignment {
    /// Where to put the value.
    pub path: Vec<PathSegment>,
    /// The value (for [`SetKind::File`], the path of the file to read).
    pub value: Value,
}

struct Parser<'a> {
    expr: &'a str,
    chars: Vec<char>,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn err(&self, message: impl Into<String>) -> SetError {
        SetError {
            expression: self.expr.to_string(),
            column: self.pos + 1,
            message: message.into(),
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn parse_path(&mut self) -> Result<Vec<PathSegment>, SetError> {
        let mut path = Vec::new();
        let mut key = String::new();
        let mut key_started = false;
        loop {
            match self.peek() {
                None => return Err(self.err("expected `=` after the key")),
                Some('\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some(c) => {
                            key.push(c);
                            key_started = true;
                            self.pos += 1;
                        }
                        None => return Err(self.err("dangling escape `\\`")),
                    }
                }
                Some('=') => {
                    if key_started {
                        path.push(PathSegment::Key(std::mem::take(&mut key)));
                    } else if path.is_empty() || matches!(self.chars.get(self.pos - 1), Some('.')) {
                        return Err(self.err("empty key"));
                    }
                    self.pos += 1;
                    return Ok(path);
                }
                Some('.') => {
                    if key_started {
                        path.push(PathSegment::Key(std::mem::take(&mut key)));
                        key_started = false;
                    } else if !matches!(self.chars.get(self.pos.wrapping_sub(1)), Some(']')) {
                        return Err(self.err("empty key"));
                    }
                    self.pos += 1;
                }
                Some('[') => {
                    if key_started {
                        path.push(PathSegment::Key(std::mem::take(&mut key)));
                        key_started = false;
                    } else if path.is_empty() {
                        return Err(self.err("an index needs a key before it"));
                    }
                    self.pos += 1;
                    let start = self.pos;
                    while matches!(self.peek(), Some(c) if c.is_ascii_digit()) {
                        self.pos += 1;
                    }
                    if self.peek() != Some(']') || start == self.pos {
                        return Err(self.err("expected a non-negative integer index and `]`"));
                    }
                    let digits: String = self.chars[start..self.pos].iter().collect();
                    let index: usize =
                        digits
                            .parse()
                            .ok()
                            .filter(|i| *i <= MAX_INDEX)
                            .ok_or_else(|| {
                                self.err(format!("index {digits} is larger than {MAX_INDEX}"))
                            })?;
                    self.pos += 1;
                    path.push(PathSegment::Index(index));
                    if !matches!(self.peek(), Some('.') | Some('[') | Some('=')) {
                        return Err(self.err("expected `.`, `[` or `=` after `]`"));
                    }
                }
                Some(',') => return Err(self.err("key has no value (expected `=`)")),
                Some(c) => {
                    key.push(c);
                    key_started = true;
                    self.pos += 1;
                }
            }
        }
    }

    /// Reads a raw scalar up to an unescaped terminator, returning its text.
    fn scalar(&mut self, terminators: &[char]) -> Result<String, SetError> {
        let mut out = String::new();
        while let Some(c) = self.peek() {
            if terminators.contains(&c) {
                break;
            }
            if c == '\\' {
                self.pos += 1;
                match self.peek() {
                    Some(n) => out.push(n),
                    None => return Err(self.err("dangling escape `\\`")),
                }
            } else {
                out.push(c);
            }
            self.pos += 1;
        }
        Ok(out)
    }

    fn parse_value(&mut self, kind: SetKind) -> Result<Value, SetError> {
        match kind {
            SetKind::Json => {
                let rest: String = self.chars[self.pos..].iter().collect();
                let mut stream = serde_json::Deserializer::from_str(&rest).into_iter::<Value>();
                match stream.next() {
                    Some(Ok(v)) => {
                        let consumed = rest[..stream.byte_offset()].chars().count();
                        self.pos += consumed;
                        Ok(v)
                    }
                    Some(Err(e)) => {
                        let col = rest
                            .lines()
                            .take(e.line().saturating_sub(1))
                            .map(|l| l.chars().count() + 1)
                            .sum::<usize>()
                            + e.column();
                        self.pos += col.saturating_sub(1);
                        Err(self.err(format!("invalid JSON: {e}")))
                    }
                    None => Err(self.err("expected a JSON value")),
                }
            }
            SetKind::File => Ok(Value::String(self.scalar(&[','])?)),
            SetKind::String => Ok(Value::String(self.scalar(&[','])?)),
            SetKind::Typed => {
                if self.peek() == Some('{') {
                    self.pos += 1;
                    let mut items = Vec::new();
                    if self.peek() == Some('}') {
                        self.pos += 1;
                        return Ok(Value::Array(items));
                    }
                    loop {
                        let text = self.scalar(&[',', '}'])?;
                        items.push(typed(&text));
                        match self.peek() {
                            Some(',') => self.pos += 1,
                            Some('}') => {
                                self.pos += 1;
                                break;
                            }
                            _ => return Err(self.err("list is not closed with `}`")),
                        }
                    }
                    Ok(Value::Array(items))
                } else {
                    Ok(typed(&self.scalar(&[','])?))
                }
            }
        }
    }
}

/// Types a scalar the way Helm's `--set` does.
pub fn typed(text: &str) -> Value {
    match text.to_ascii_lowercase().as_str() {
        "true" => return Value::Bool(true),
        "false" => return Value::Bool(false),
        "null" => return Value::Null,
        _ => {}
    }
    let digits = text.strip_prefix('-').unwrap_or(text);
    let leading_zero = digits.len() > 1 && digits.starts_with('0');
    if !digits.is_empty() && !leading_zero && digits.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(i) = text.parse::<i64>() {
            return Value::from(i);
        }
    }
    Value::String(text.to_string())
}

/// Parses one flag's expression into its assignments, in order.
pub fn parse(expression: &str, kind: SetKind) -> Result<Vec<Assignment>, SetError> {
    let mut p = Parser {
        expr: expression,
        chars: expression.chars().collect(),
        pos: 0,
    };
    let mut out = Vec::new();
    if p.chars.is_empty() {
        return Err(p.err("empty expression"));
    }
    loop {
        let path = p.parse_path()?;
        let value = p.parse_value(kind)?;
        out.push(Assignment { path, value });
        match p.peek() {
            None => return Ok(out),
            Some(',') => {
                p.pos += 1;
                // Helm accepts one trailing comma (`a=1,b=2,`).
                if p.peek().is_none() {
                    return Ok(out);
                }
            }
            Some(_) => return Err(p.err("expected `,` or the end of the expression")),
        }
    }
}

/// Sets `value` at `path` inside `root`, creating maps and lists on the way
/// and replacing whatever stood in the way with the right container.
pub fn set_path(root: &mut Value, path: &[PathSegment], value: Value) {
    let Some((first, rest)) = path.split_first() else {
        *root = value;
        return;
    };
    match first {
        PathSegment::Key(k) => {
            if !root.is_object() {
                *root = Value::Object(Map::new());
            }
            if let Value::Object(map) = root {
                let child = map.entry(k.clone()).or_insert(Value::Null);
                set_path(child, rest, value);
            }
        }
        PathSegment::Index(i) => {
            if !root.is_array() {
                *root = Value::Array(Vec::new());
            }
            if let Value::Array(list) = root {
                if list.len() <= *i {
                    list.resize(*i + 1, Value::Null);
                }
                set_path(&mut list[*i], rest, value);
            }
        }
    }
}

/// The JSON pointer (`/a/0/b`) naming a path.
pub fn pointer(path: &[PathSegment]) -> String {
    let mut out = String::new();
    for seg in path {
        out.push('/');
        match seg {
            PathSegment::Key(k) => out.push_str(&k.replace('~', "~0").replace('/', "~1")),
            PathSegment::Index(i) => out.push_str(&i.to_string()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn apply(expr: &str, kind: SetKind) -> Value {
        let mut v = json!({});
        for a in parse(expr, kind).unwrap() {
            set_path(&mut v, &a.path, a.value);
        }
        v
    }

    #[test]
    fn simple_and_nested() {
        assert_eq!(
            apply("a.b=c,d=e", SetKind::Typed),
            json!({"a": {"b": "c"}, "d": "e"})
        );
    }

    #[test]
    fn typing() {
        assert_eq!(
            apply(
                "a=true,b=FALSE,c=null,d=10,e=-3,f=007,g=1.5,h=1e3",
                SetKind::Typed
            ),
            json!({"a": true, "b": false, "c": null, "d": 10, "e": -3, "f": "007", "g": "1.5", "h": "1e3"})
        );
        assert_eq!(
            apply("a=true,d=10", SetKind::String),
            json!({"a": "true", "d": "10"})
        );
    }

    #[test]
    fn lists_and_indexes() {
        assert_eq!(
            apply("a={x,2,true},b={}", SetKind::Typed),
            json!({"a": ["x", 2, true], "b": []})
        );
        assert_eq!(
            apply("a[1].b=c,a[0]=z", SetKind::Typed),
            json!({"a": ["z", {"b": "c"}]})
        );
        assert_eq!(
            apply("m[0][1]=x", SetKind::Typed),
            json!({"m": [[null, "x"]]})
        );
    }

    #[test]
    fn escapes() {
        assert_eq!(
            apply(
                r"nodeSelector.kubernetes\.io/os=linux,a=x\,y",
                SetKind::Typed
            ),
            json!({"nodeSelector": {"kubernetes.io/os": "linux"}, "a": "x,y"})
        );
        assert_eq!(
            apply(r"hdfs.hdfsSite.dfs\.replication=2", SetKind::Typed),
            json!({"hdfs": {"hdfsSite": {"dfs.replication": 2}}})
        );
    }

    #[test]
    fn json_values() {
        assert_eq!(
            apply(r#"a={"b":[1,2.5]},c="x,y""#, SetKind::Json),
            json!({"a": {"b": [1, 2.5]}, "c": "x,y"})
        );
    }

    #[test]
    fn errors_name_the_column() {
        let e = parse("a.b", SetKind::Typed).unwrap_err();
        assert_eq!(e.column, 4);
        assert!(e.to_string().contains("expected `=`"), "{e}");
        let e = parse("a..b=1", SetKind::Typed).unwrap_err();
        assert_eq!(e.column, 3);
        let e = parse("a={x,y", SetKind::Typed).unwrap_err();
        assert!(e.message.contains("not closed"));
        let e = parse("a[x]=1", SetKind::Typed).unwrap_err();
        assert_eq!(e.column, 3);
        let e = parse("a[70000]=1", SetKind::Typed).unwrap_err();
        assert!(e.message.contains("larger than"));
        let e = parse("=1", SetKind::Typed).unwrap_err();
        assert!(e.message.contains("empty key"));
        // One trailing comma is accepted, as Helm does; two are not.
        assert_eq!(parse("a=1,b=2,", SetKind::Typed).unwrap().len(), 2);
        assert_eq!(
            parse("list[0]=foo,list[1]=bar,", SetKind::Typed)
                .unwrap()
                .len(),
            2
        );
        assert!(parse("a=1,,", SetKind::Typed).is_err());
        let e = parse(r#"a={"b":}"#, SetKind::Json).unwrap_err();
        assert!(e.message.contains("invalid JSON"));
        assert!(parse("", SetKind::Typed).is_err());
        assert!(parse("a,b=1", SetKind::Typed).is_err());
    }

    #[test]
    fn pointers_escape() {
        let a = parse(r"a\.b.c/d[2]=1", SetKind::Typed).unwrap();
        assert_eq!(pointer(&a[0].path), "/a.b/c~1d/2");
    }
}
