//! A fast reader for the plain block YAML that templates emit, tried before
//! yaml-rust2 (which stays the reference and reads everything else).
//!
//! Why: a large render is hundreds of small documents of `key: value` lines
//! (a PersistentVolume per data directory), and yaml-rust2's general
//! scanner was half of `windlass template`'s time for them. This reader
//! takes one line at a time and accepts only a subset whose meaning is
//! unambiguous: block maps and lists indented with spaces, simple keys,
//! single-line plain scalars, quoted strings without escapes, and empty
//! `{}` / `[]`. Anything else (block scalars, flow collections, anchors,
//! tags, comments after a value, a scalar continued on the next line,
//! duplicate keys, tabs, non-ASCII text, values JSON cannot hold) makes it
//! answer `None`, and the caller reads the document with yaml-rust2, which
//! also gives the error messages. Plain scalars and keys are resolved by
//! the same functions as the general reader, except words
//! ([`super::is_word`]), which can only be strings and are taken as they
//! are; so an accepted document means exactly what it means there. Tests
//! compare the two on generated documents and on random words.

use serde_json::{Map, Value};
use yaml_rust2::scanner::TScalarStyle;

use super::resolve;

/// One collection being built, with the column its entries start at.
struct Open {
    indent: usize,
    node: Node,
}

enum Node {
    /// A map; `pending` is a key whose value is on the following lines.
    Map {
        map: Map<String, Value>,
        pending: Option<String>,
    },
    Seq(Vec<Value>),
}

/// What one line holds after its indentation.
enum Line<'a> {
    /// `- rest`, with the column `rest` starts at.
    Item(&'a str, usize),
    /// `key:` or `key: value` (`value` empty when absent).
    Entry(&'a str, &'a str),
}

/// Reads `text` when it is in the subset; `None` sends it to the general
/// reader.
pub(crate) fn parse(text: &str) -> Option<Value> {
    let mut stack: Vec<Open> = Vec::new();
    let mut root: Option<Value> = None;
    for raw in lines(text) {
        let bytes = raw.as_bytes();
        let indent = bytes.iter().take_while(|b| **b == b' ').count();
        let content = raw[indent..].trim_end_matches(' ');
        if content.is_empty() || content.starts_with('#') {
            continue;
        }
        // Tabs, carriage returns, control and non-ASCII characters are
        // left to the general reader.
        if !content.bytes().all(|b| (0x20..0x7f).contains(&b)) {
            return None;
        }
        let line = classify(content, indent)?;
        // A key waiting for its value takes a deeper line, or a list at
        // its own column, as the start of that value.
        if let Some(Open {
            indent: at,
            node: Node::Map {
                pending: Some(_), ..
            },
        }) = stack.last()
        {
            let at = *at;
            let nested = indent > at || (indent == at && matches!(line, Line::Item(..)));
            if nested {
                stack.push(open_for(&line, indent));
            } else {
                attach_pending_null(&mut stack)?;
            }
        }
        if stack.is_empty() {
            stack.push(open_for(&line, indent));
        }
        // Close what this line ends: deeper collections, and a list at
        // this column when the line is not one of its items.
        loop {
            let top = stack.last()?;
            let closes = top.indent > indent
                || (top.indent == indent
                    && matches!(top.node, Node::Seq(_))
                    && !matches!(line, Line::Item(..)));
            if !closes {
                break;
            }
            let done = stack.pop()?;
            if let Some(v) = attach(&mut stack, done)? {
                root = Some(v);
                break;
            }
        }
        if root.is_some() {
            // This line comes after the top-level node closed.
            return None;
        }
        let top = stack.last_mut()?;
        if top.indent != indent {
            return None;
        }
        match (line, &mut top.node) {
            (Line::Item(rest, column), Node::Seq(items)) => match classify_item(rest)? {
                Some(value) => items.push(value),
                None => {
                    // `- key: ...` opens a map at the key's column.
                    let (key, value) = split_entry(rest)?;
                    let mut open = Open {
                        indent: column,
                        node: Node::Map {
                            map: Map::new(),
                            pending: None,
                        },
                    };
                    add_entry(&mut open.node, key, value)?;
                    stack.push(open);
                }
            },
            (Line::Entry(key, value), node @ Node::Map { .. }) => add_entry(node, key, value)?,
            _ => return None,
        }
    }
    if matches!(
        stack.last(),
        Some(Open {
            node: Node::Map {
                pending: Some(_),
                ..
            },
            ..
        })
    ) {
        attach_pending_null(&mut stack)?;
    }
    while let Some(done) = stack.pop() {
        if let Some(v) = attach(&mut stack, done)? {
            root = Some(v);
        }
    }
    root
}

/// `text` split at line breaks, as `split('\n')` does; memchr finds them a
/// word at a time (the standard library's char search was a tenth of a
/// large render's instructions, most of it here and in `split_entry`).
fn lines(text: &str) -> impl Iterator<Item = &str> {
    let mut start = 0;
    let mut breaks = memchr::memchr_iter(b'\n', text.as_bytes());
    let mut done = false;
    std::iter::from_fn(move || {
        if done {
            return None;
        }
        let end = breaks.next().unwrap_or_else(|| {
            done = true;
            text.len()
        });
        let line = &text[start..end];
        start = end + 1;
        Some(line)
    })
}

fn classify(content: &str, indent: usize) -> Option<Line<'_>> {
    if let Some(after) = content.strip_prefix('-') {
        let rest = after.trim_start_matches(' ');
        // `-` alone (an item on the next lines) and `-x` (a scalar where
        // a key or an item belongs) are left to the general reader.
        if rest.len() == after.len() || rest.is_empty() {
            return None;
        }
        return Some(Line::Item(rest, indent + content.len() - rest.len()));
    }
    let (key, value) = split_entry(content)?;
    Some(Line::Entry(key, value))
}

/// `key: value` or `key:` split at the first colon; `None` when the line
/// is not a simple key.
fn split_entry(content: &str) -> Option<(&str, &str)> {
    let colon = memchr::memchr(b':', content.as_bytes())?;
    let key = &content[..colon];
    let after = &content[colon + 1..];
    if !after.is_empty() && !after.starts_with(' ') {
        return None;
    }
    let simple = !key.is_empty() && !key.starts_with('-') && key.bytes().all(super::is_word_byte);
    if !simple {
        return None;
    }
    Some((key, after.trim_start_matches(' ')))
}

/// A list item's own value: `Some(value)` for a scalar, `None` when the
/// item is a map (`- key: ...`); the outer `None` when outside the subset.
fn classify_item(rest: &str) -> Option<Option<Value>> {
    if rest.starts_with('-') && rest[1..].starts_with(' ') {
        // `- - x`: a list in a list.
        return None;
    }
    if split_entry(rest).is_some() {
        return Some(None);
    }
    scalar(rest).map(Some)
}

fn open_for(line: &Line<'_>, indent: usize) -> Open {
    let node = match line {
        Line::Item(..) => Node::Seq(Vec::new()),
        Line::Entry(..) => Node::Map {
            map: Map::new(),
            pending: None,
        },
    };
    Open { indent, node }
}

/// Adds `key: value` to a map; an empty value leaves the key pending.
fn add_entry(node: &mut Node, key: &str, value: &str) -> Option<()> {
    let Node::Map { map, pending } = node else {
        return None;
    };
    // `split_entry` let through only word bytes.
    let key = if super::is_word_of_word_bytes(key) {
        key.to_string()
    } else {
        resolve::key_string(plain(key)?).ok()?
    };
    if value.is_empty() {
        if map.contains_key(&key) {
            return None;
        }
        *pending = Some(key);
        return Some(());
    }
    let value = scalar(value)?;
    match map.entry(key) {
        serde_json::map::Entry::Vacant(e) => {
            e.insert(value);
            Some(())
        }
        serde_json::map::Entry::Occupied(_) => None,
    }
}

/// The value of a one-line scalar in the subset.
fn scalar(text: &str) -> Option<Value> {
    if super::is_word(text) {
        return Some(Value::String(text.to_string()));
    }
    match text {
        "{}" => return Some(Value::Object(Map::new())),
        "[]" => return Some(Value::Array(Vec::new())),
        _ => {}
    }
    let first = text.as_bytes()[0];
    if first == b'"' || first == b'\'' {
        let inner = text
            .strip_prefix(first as char)?
            .strip_suffix(first as char)?;
        if inner.contains([first as char, '\\']) {
            return None;
        }
        return Some(Value::String(inner.to_string()));
    }
    // Indicators that start something else than a plain scalar, and
    // sequences that end it or make it a key.
    if matches!(
        first,
        b'-' | b'?'
            | b':'
            | b','
            | b'['
            | b']'
            | b'{'
            | b'}'
            | b'#'
            | b'&'
            | b'*'
            | b'!'
            | b'|'
            | b'>'
            | b'%'
            | b'@'
            | b'`'
    ) && !(first == b'-' && text.len() > 1 && text.as_bytes()[1] != b' ')
    {
        return None;
    }
    if text.ends_with(':') || has_colon_space_or_space_hash(text.as_bytes()) {
        return None;
    }
    plain(text)
}

/// Whether `: ` or ` #` occurs (a key or a comment inside what would be a
/// scalar): one search for both characters instead of two substring searches.
fn has_colon_space_or_space_hash(b: &[u8]) -> bool {
    memchr::memchr2_iter(b':', b'#', b).any(|i| {
        if b[i] == b':' {
            b.get(i + 1) == Some(&b' ')
        } else {
            i > 0 && b[i - 1] == b' '
        }
    })
}

/// A plain scalar resolved by the general reader's own function.
fn plain(text: &str) -> Option<Value> {
    super::scalar(text.to_string(), TScalarStyle::Plain, None).ok()
}

/// Gives the map on top of the stack a null for its pending key.
fn attach_pending_null(stack: &mut [Open]) -> Option<()> {
    let Some(Open {
        node: Node::Map { map, pending },
        ..
    }) = stack.last_mut()
    else {
        return None;
    };
    let key = pending.take()?;
    map.insert(key, Value::Null);
    Some(())
}

/// Hands a finished collection to its parent; `Some(value)` when it was the
/// top-level node.
fn attach(stack: &mut [Open], done: Open) -> Option<Option<Value>> {
    let value = match done.node {
        Node::Map { map, pending: None } => Value::Object(map),
        Node::Map {
            pending: Some(_), ..
        } => return None,
        Node::Seq(items) => Value::Array(items),
    };
    match stack.last_mut() {
        None => Some(Some(value)),
        Some(Open {
            node: Node::Seq(items),
            ..
        }) => {
            items.push(value);
            Some(None)
        }
        Some(Open {
            node: Node::Map { map, pending },
            ..
        }) => {
            let key = pending.take()?;
            map.insert(key, value);
            Some(None)
        }
    }
}

#[cfg(test)]
#[path = "fast_tests.rs"]
mod tests;
