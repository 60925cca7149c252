//! windlass (fifth change): a template's token stream, the pairs pest's
//! parser gives flattened in order, read by a hand-written scanner for the
//! constructs charts use (text, escapes, expressions with literals, paths,
//! subexpressions and hashes, helper blocks with `else` chains, comments
//! and `{{> partial}}`). Anything else (raw blocks, decorators, triple
//! braces, `[segment]` paths, array and object literals) and any template
//! that does not parse make the scanner give up, and pest's parser, the
//! reference, reads the template instead: its errors are the errors.
//!
//! The scanner follows the grammar in grammar.pest rule by rule: ordered
//! choice, greedy repetition without backtracking into it, and pest's
//! implicit whitespace (`WHITESPACE*` between the elements of a sequence
//! and between repetitions in non-atomic rules, none in `@`/`$` rules).
//! windlass compares its tokens with pest's for every template it ships
//! and for generated ones.

use pest::Parser;

use crate::grammar::{HandlebarsParser, Rule};

/// One pair: its rule and byte span.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Tok {
    pub(crate) rule: Rule,
    pub(crate) start: usize,
    pub(crate) end: usize,
}

impl Tok {
    pub(crate) fn as_str<'a>(&self, source: &'a str) -> &'a str {
        &source[self.start..self.end]
    }
}

/// The tokens of pest's parse of `source` as `rule`, in `flatten` order.
pub(crate) fn from_pest(rule: Rule, source: &str) -> Result<Vec<Tok>, pest::error::Error<Rule>> {
    let pairs = HandlebarsParser::parse(rule, source)?;
    Ok(pairs
        .flatten()
        .map(|p| {
            let span = p.as_span();
            Tok {
                rule: p.as_rule(),
                start: span.start(),
                end: span.end(),
            }
        })
        .collect())
}

/// Line starts, for pest's `(line, column)` of a position: lines end at
/// `\n` (so a `\r\n` is one break and a lone `\r` a column), columns count
/// characters, both from 1.
pub(crate) struct Lines<'a> {
    source: &'a str,
    starts: Vec<usize>,
}

impl<'a> Lines<'a> {
    pub(crate) fn new(source: &'a str) -> Lines<'a> {
        let mut starts = vec![0];
        starts.extend(
            source
                .bytes()
                .enumerate()
                .filter(|(_, b)| *b == b'\n')
                .map(|(i, _)| i + 1),
        );
        Lines { source, starts }
    }

    pub(crate) fn line_col(&self, pos: usize) -> (usize, usize) {
        let line = self.starts.partition_point(|&s| s <= pos) - 1;
        let col = self.source[self.starts[line]..pos].chars().count() + 1;
        (line + 1, col)
    }
}

/// The tokens of the whole template (rule `handlebars`), or `None` when
/// the scanner does not know the construct or the template does not parse.
pub(crate) fn scan(source: &str) -> Option<Vec<Tok>> {
    let mut s = Scanner {
        b: source.as_bytes(),
        out: Vec::with_capacity(source.len() / 8 + 4),
        bail: false,
    };
    let end = s.template(0);
    if s.bail || s.skip(end) != s.b.len() {
        return None;
    }
    let len = s.b.len();
    s.leaf(Rule::EOI, len, len);
    Some(s.out)
}

struct Scanner<'a> {
    b: &'a [u8],
    out: Vec<Tok>,
    /// Set on a construct the scanner leaves to pest; the result is then
    /// thrown away, so what happens after it does not matter.
    bail: bool,
}

fn is_symbol_byte(c: u8) -> bool {
    // Every byte of a non-ASCII character is >= 0x80, and every such
    // character is in `symbol_char`'s ranges.
    c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'$' | b':') || c >= 0x80
}

fn is_partial_symbol_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'@' | b'/' | b'.') || c >= 0x80
}

impl Scanner<'_> {
    fn at(&self, p: usize) -> u8 {
        self.b.get(p).copied().unwrap_or(0)
    }

    fn starts(&self, p: usize, lit: &[u8]) -> bool {
        self.b.get(p..p + lit.len()) == Some(lit)
    }

    /// pest's implicit whitespace.
    fn skip(&self, mut p: usize) -> usize {
        while matches!(self.at(p), b' ' | b'\t' | b'\n' | b'\r') {
            p += 1;
        }
        p
    }

    fn open(&mut self, rule: Rule, start: usize) -> usize {
        self.out.push(Tok {
            rule,
            start,
            end: start,
        });
        self.out.len() - 1
    }

    fn close(&mut self, i: usize, end: usize) -> Option<usize> {
        self.out[i].end = end;
        Some(end)
    }

    fn leaf(&mut self, rule: Rule, start: usize, end: usize) -> Option<usize> {
        self.out.push(Tok { rule, start, end });
        Some(end)
    }

    /// Undoes a failed rule's tokens.
    fn fail<T>(&mut self, mark: usize) -> Option<T> {
        self.out.truncate(mark);
        None
    }

    fn give_up<T>(&mut self) -> Option<T> {
        self.bail = true;
        None
    }

    fn run(&self, mut p: usize, ok: fn(u8) -> bool) -> usize {
        while p < self.b.len() && ok(self.b[p]) {
            p += 1;
        }
        p
    }

    /// `template = { (raw_text | expression | ...)* }`; always matches.
    fn template(&mut self, p: usize) -> usize {
        let t = self.open(Rule::template, p);
        let mut end = p;
        if let Some(e) = self.item(p) {
            end = e;
            loop {
                let s = self.skip(end);
                match self.item(s) {
                    Some(e) => end = e,
                    None => break,
                }
            }
        }
        self.out[t].end = end;
        end
    }

    fn item(&mut self, p: usize) -> Option<usize> {
        if self.bail || p >= self.b.len() {
            return None;
        }
        if !self.starts(p, b"{{") {
            return self.raw_text(p);
        }
        let mut q = self.skip(p + 2);
        if self.at(q) == b'~' {
            q = self.skip(q + 1);
        }
        match self.at(q) {
            // hbs_comment needs `{{!` as written.
            b'!' if q == p + 2 => self.comment(p),
            b'#' => match self.at(self.skip(q + 1)) {
                b'*' | b'>' => self.give_up(),
                _ => self.helper_block(p),
            },
            // Block ends and inverse tags end the template.
            b'/' | b'^' => None,
            b'e' if self.starts(q, b"else") => None,
            b'>' => self.partial_expression(p),
            b'!' | b'{' | b'&' | b'*' => self.give_up(),
            _ => self.expression(p),
        }
    }

    /// `raw_text = ${ (escape | raw_run | (!"{{" ~ ANY))+ }`, at a position
    /// that is not `{{`.
    fn raw_text(&mut self, p: usize) -> Option<usize> {
        let t = self.open(Rule::raw_text, p);
        let mut q = p;
        while q < self.b.len() && !self.starts(q, b"{{") {
            if self.b[q] == b'\\' {
                if self.starts(q + 1, b"{{") {
                    let e = if self.starts(q + 3, b"{{") {
                        q + 5
                    } else {
                        q + 3
                    };
                    self.leaf(Rule::escape, q, e);
                    q = e;
                    continue;
                }
                let r = self.run(q + 1, |c| c == b'\\');
                if r > q + 1 && self.starts(r, b"{{") {
                    self.leaf(Rule::escape, q, r);
                    q = r;
                    continue;
                }
                // A backslash that escapes nothing: `!"{{" ~ ANY`, no pair.
                q += 1;
                continue;
            }
            let mut e = q + 1;
            while e < self.b.len() {
                match self.b[e] {
                    b'\\' => break,
                    b'{' if self.at(e + 1) == b'{' => break,
                    _ => e += 1,
                }
            }
            self.leaf(Rule::raw_run, q, e);
            q = e;
        }
        self.close(t, q)
    }

    /// `{{!-- ... --}}` (`hbs_comment`), else `{{! ... }}`
    /// (`hbs_comment_compact`).
    fn comment(&mut self, p: usize) -> Option<usize> {
        let s = self.skip(p + 3);
        if self.starts(s, b"--") {
            if let Some(k) = find(self.b, s + 2, b"--}}") {
                return self.leaf(Rule::hbs_comment, p, k + 4);
            }
        }
        let k = find(self.b, p + 3, b"}}")?;
        self.leaf(Rule::hbs_comment_compact, p, k + 2)
    }

    /// `"{{" ~ leading_tilde?`, then what follows (skipped).
    fn open_tag(&mut self, p: usize) -> Option<usize> {
        if !self.starts(p, b"{{") {
            return None;
        }
        let q = self.skip(p + 2);
        if self.at(q) == b'~' {
            self.leaf(Rule::leading_tilde_to_omit_whitespace, q, q + 1);
            return Some(self.skip(q + 1));
        }
        Some(q)
    }

    /// `trailing_tilde? ~ "}}"` from `q` (a position before whitespace).
    fn close_tag(&mut self, q: usize, close: &[u8]) -> Option<usize> {
        let mut q = self.skip(q);
        if self.at(q) == b'~' {
            self.leaf(Rule::trailing_tilde_to_omit_whitespace, q, q + 1);
            q = self.skip(q + 1);
        }
        self.starts(q, close).then_some(q + close.len())
    }

    /// `expression = { !(invert_tag | invert_chain_tag) ~ "{{" ~ ... }`
    /// (the caller has ruled out the inverse tags).
    fn expression(&mut self, p: usize) -> Option<usize> {
        let mark = self.out.len();
        let t = self.open(Rule::expression, p);
        let q = match self.open_tag(p) {
            Some(q) => q,
            None => return self.fail(mark),
        };
        let e = match self.call_or_name(q) {
            Some(e) => e,
            None => return self.fail(mark),
        };
        match self.close_tag(e, b"}}") {
            Some(e) => self.close(t, e),
            None => self.fail(mark),
        }
    }

    /// `(identifier ~ (hash | helper_parameter)+) | name`.
    fn call_or_name(&mut self, q: usize) -> Option<usize> {
        let mark = self.out.len();
        if let Some(e) = self.identifier(q) {
            let s = self.skip(e);
            if let Some(e) = self.params(s, 1) {
                return Some(e);
            }
            self.out.truncate(mark);
        }
        // name = _{ subexpression | reference }
        self.subexpression(q).or_else(|| self.reference(q))
    }

    /// `(hash | helper_parameter)` repeated, at least `min` times.
    fn params(&mut self, p: usize, min: usize) -> Option<usize> {
        let Some(mut end) = self.param_or_hash(p) else {
            return if min == 0 { Some(p) } else { None };
        };
        loop {
            let s = self.skip(end);
            match self.param_or_hash(s) {
                Some(e) => end = e,
                None => return Some(end),
            }
        }
    }

    fn param_or_hash(&mut self, p: usize) -> Option<usize> {
        if self.bail {
            return None;
        }
        let mark = self.out.len();
        let h = self.open(Rule::hash, p);
        if let Some(e) = self.identifier(p) {
            let s = self.skip(e);
            if self.at(s) == b'=' {
                let s = self.skip(s + 1);
                if let Some(e) = self.helper_parameter(s) {
                    return self.close(h, e);
                }
            }
        }
        self.out.truncate(mark);
        self.helper_parameter(p)
    }

    /// `!(keywords ~ !symbol_char)`: `as` or `else` (then whitespace) not
    /// followed by a symbol character.
    fn is_keyword(&self, p: usize) -> bool {
        let after = if self.starts(p, b"as") {
            p + 2
        } else if self.starts(p, b"else") {
            p + 4
        } else {
            return false;
        };
        !is_symbol_byte(self.at(self.skip(after)))
    }

    fn helper_parameter(&mut self, p: usize) -> Option<usize> {
        if self.is_keyword(p) {
            return None;
        }
        let mark = self.out.len();
        let t = self.open(Rule::helper_parameter, p);
        let q = self.skip(p);
        let e = self
            .literal(q)
            .or_else(|| self.reference(q))
            .or_else(|| self.subexpression(q));
        match e {
            Some(e) => self.close(t, e),
            None => self.fail(mark),
        }
    }

    fn literal(&mut self, p: usize) -> Option<usize> {
        let mark = self.out.len();
        let t = self.open(Rule::literal, p);
        let e = match self.at(p) {
            b'"' | b'\'' => self.string_literal(p),
            b'[' | b'{' => return self.give_up(),
            _ => None,
        };
        let e = e
            .or_else(|| self.number_literal(p))
            .or_else(|| self.word(p, &[b"null"], Rule::null_literal))
            .or_else(|| self.word(p, &[b"true", b"false"], Rule::boolean_literal));
        match e {
            Some(e) => self.close(t, e),
            None => self.fail(mark),
        }
    }

    fn string_literal(&mut self, p: usize) -> Option<usize> {
        let quote = self.at(p);
        let (rule, escapes): (Rule, &[u8]) = if quote == b'"' {
            (Rule::string_inner_double_quote, b"\"\\/bfnrt")
        } else {
            (Rule::string_inner_single_quote, b"'\\/bfnrt")
        };
        let mut q = p + 1;
        while q < self.b.len() && self.b[q] != quote {
            if self.b[q] != b'\\' {
                q += 1;
            } else if escapes.contains(&self.at(q + 1)) {
                q += 2;
            } else if self.at(q + 1) == b'u'
                && self
                    .b
                    .get(q + 2..q + 6)
                    .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit))
            {
                q += 6;
            } else {
                break;
            }
        }
        if self.at(q) != quote {
            return None;
        }
        let t = self.open(Rule::string_literal, p);
        self.leaf(rule, p + 1, q);
        self.close(t, q + 1)
    }

    /// `number_literal = @{ "-"? ~ ASCII_DIGIT+ ~ "."? ~ ASCII_DIGIT* ~
    /// ("E" ~ "-"? ~ ASCII_DIGIT+)? ~ !symbol_char }`
    fn number_literal(&mut self, p: usize) -> Option<usize> {
        let digit = |c: u8| c.is_ascii_digit();
        let mut q = p + usize::from(self.at(p) == b'-');
        let d = self.run(q, digit);
        if d == q {
            return None;
        }
        q = d;
        if self.at(q) == b'.' {
            q = self.run(q + 1, digit);
        }
        if self.at(q) == b'E' {
            let r = q + 1 + usize::from(self.at(q + 1) == b'-');
            let d = self.run(r, digit);
            if d > r {
                q = d;
            }
        }
        if is_symbol_byte(self.at(q)) {
            return None;
        }
        self.leaf(Rule::number_literal, p, q)
    }

    /// `null_literal`, `boolean_literal`: a word not followed by a symbol
    /// character.
    fn word(&mut self, p: usize, words: &[&[u8]], rule: Rule) -> Option<usize> {
        let w = words.iter().find(|w| self.starts(p, w))?;
        let e = p + w.len();
        if is_symbol_byte(self.at(e)) {
            return None;
        }
        self.leaf(rule, p, e)
    }

    fn identifier(&mut self, p: usize) -> Option<usize> {
        let e = self.run(p, is_symbol_byte);
        if e == p {
            return None;
        }
        self.leaf(Rule::identifier, p, e)
    }

    fn is_sep(&self, p: usize) -> bool {
        matches!(self.at(p), b'/' | b'.')
    }

    /// `reference = ${ path_inline }`.
    fn reference(&mut self, p: usize) -> Option<usize> {
        let mark = self.out.len();
        let r = self.open(Rule::reference, p);
        let pi = self.open(Rule::path_inline, p);
        let mut q = p;
        // path_current = _{ "this" ~ path_sep | "./" }
        if self.starts(q, b"this") && self.is_sep(q + 4) {
            q += 5;
        } else if self.starts(q, b"./") {
            q += 2;
        }
        if self.starts(q, b"@root") && self.is_sep(q + 5) {
            self.leaf(Rule::path_root, q, q + 5);
            q += 6;
        }
        if self.at(q) == b'@' {
            self.leaf(Rule::path_local, q, q + 1);
            q += 1;
        }
        while self.starts(q, b"..") && self.is_sep(q + 2) {
            self.leaf(Rule::path_up, q, q + 2);
            q += 3;
        }
        if self.at(q) == b'[' {
            return self.give_up();
        }
        let e = self.run(q, is_symbol_byte);
        if e == q {
            return self.fail(mark);
        }
        self.leaf(Rule::path_id, q, e);
        q = e;
        while self.is_sep(q) {
            if self.at(q + 1) == b'[' {
                return self.give_up();
            }
            let e = self.run(q + 1, is_symbol_byte);
            if e == q + 1 {
                break;
            }
            self.leaf(Rule::path_id, q + 1, e);
            q = e;
        }
        self.out[pi].end = q;
        self.close(r, q)
    }

    /// `subexpression = { "(" ~ ((identifier ~ (hash | helper_parameter)+)
    /// | reference) ~ ")" }`
    fn subexpression(&mut self, p: usize) -> Option<usize> {
        if self.at(p) != b'(' {
            return None;
        }
        let mark = self.out.len();
        let t = self.open(Rule::subexpression, p);
        let q = self.skip(p + 1);
        let inner = self.out.len();
        let mut e = None;
        if let Some(i) = self.identifier(q) {
            let s = self.skip(i);
            e = self.params(s, 1);
            if e.is_none() {
                self.out.truncate(inner);
            }
        }
        let e = match e.or_else(|| self.reference(q)) {
            Some(e) => self.skip(e),
            None => return self.fail(mark),
        };
        if self.at(e) != b')' {
            return self.fail(mark);
        }
        self.close(t, e + 1)
    }

    /// `exp_line = _{ identifier ~ (hash | helper_parameter)* ~ block_param? }`
    fn exp_line(&mut self, p: usize) -> Option<usize> {
        let e = self.identifier(p)?;
        let s = self.skip(e);
        let e = self.params(s, 0)?;
        let s = self.skip(e);
        Some(self.block_param(s).unwrap_or(s))
    }

    /// `block_param = { "as" ~ "|" ~ identifier ~ identifier? ~ "|" }`
    fn block_param(&mut self, p: usize) -> Option<usize> {
        if !self.starts(p, b"as") {
            return None;
        }
        let mark = self.out.len();
        let t = self.open(Rule::block_param, p);
        let s = self.skip(p + 2);
        if self.at(s) != b'|' {
            return self.fail(mark);
        }
        let s = self.skip(s + 1);
        let Some(e) = self.identifier(s) else {
            return self.fail(mark);
        };
        let s = self.skip(e);
        let e = self.identifier(s).unwrap_or(s);
        let s = self.skip(e);
        if self.at(s) != b'|' {
            return self.fail(mark);
        }
        self.close(t, s + 1)
    }

    /// A tag `{{ ~? <mark> <body> ~? }}` whose body is read by `body`.
    fn tag(
        &mut self,
        p: usize,
        rule: Rule,
        mark_byte: Option<u8>,
        body: fn(&mut Self, usize) -> Option<usize>,
    ) -> Option<usize> {
        let mark = self.out.len();
        let t = self.open(rule, p);
        let Some(mut q) = self.open_tag(p) else {
            return self.fail(mark);
        };
        if let Some(m) = mark_byte {
            if self.at(q) != m {
                return self.fail(mark);
            }
            q = self.skip(q + 1);
        }
        let Some(e) = body(self, q) else {
            return self.fail(mark);
        };
        match self.close_tag(e, b"}}") {
            Some(e) => self.close(t, e),
            None => self.fail(mark),
        }
    }

    fn invert_item(&mut self, q: usize) -> Option<usize> {
        if self.starts(q, b"else") {
            self.leaf(Rule::invert_tag_item, q, q + 4)
        } else if self.at(q) == b'^' {
            self.leaf(Rule::invert_tag_item, q, q + 1)
        } else {
            None
        }
    }

    /// `helper_block = _{ helper_block_start ~ template ~ (invert_chain_tag
    /// ~ template)* ~ (invert_tag ~ template)? ~ helper_block_end }`. A
    /// block that does not close makes the whole template fail to parse.
    fn helper_block(&mut self, p: usize) -> Option<usize> {
        let Some(e) = self.tag(p, Rule::helper_block_start, Some(b'#'), Self::exp_line) else {
            return self.give_up();
        };
        let mut end = self.template(self.skip(e));
        loop {
            let s = self.skip(end);
            let chain = self.tag(s, Rule::invert_chain_tag, None, |s, q| {
                let e = s.invert_item(q)?;
                let q = s.skip(e);
                s.exp_line(q)
            });
            match chain {
                Some(e) => end = self.template(self.skip(e)),
                None => break,
            }
        }
        let s = self.skip(end);
        if let Some(e) = self.tag(s, Rule::invert_tag, None, Self::invert_item) {
            end = self.template(self.skip(e));
        }
        let s = self.skip(end);
        let closed = self.tag(s, Rule::helper_block_end, Some(b'/'), |s, q| {
            let t = s.open(Rule::opt_identifier, q);
            let e = s.identifier(q).unwrap_or(q);
            s.close(t, e)
        });
        match closed {
            Some(e) => Some(e),
            None => self.give_up(),
        }
    }

    /// `partial_expression = { "{{" ~ ~? ~ ">" ~ partial_exp_line ~ ~? ~
    /// "}}" }`, for a plain partial name.
    fn partial_expression(&mut self, p: usize) -> Option<usize> {
        let e = self.tag(p, Rule::partial_expression, Some(b'>'), |s, q| {
            if matches!(s.at(q), b'[' | b'\'') {
                return s.give_up();
            }
            let e = s.run(q, is_partial_symbol_byte);
            if e == q {
                return s.give_up();
            }
            s.leaf(Rule::partial_identifier, q, e);
            let s2 = s.skip(e);
            s.params(s2, 0)
        });
        match e {
            Some(e) => Some(e),
            None => self.give_up(),
        }
    }
}

fn find(b: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    b.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|i| from + i)
}
