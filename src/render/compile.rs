//! Template compilation on every core: templates are independent, so they
//! compile in parallel and are registered afterwards, in order. Compiling
//! is vendor/handlebars' scanner (pest's parser only where the scanner
//! gives up); the tests below hold the two to the same tokens.

use handlebars::{Template, TemplateError};

use crate::chart::Chart;
use crate::cores::{cores, make_room};

#[cfg(test)]
thread_local! {
    /// How many templates renders on this thread compiled themselves.
    pub(crate) static COMPILED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// One template a render needs compiled.
pub(crate) struct Item<'a> {
    /// The chart it belongs to, which may have compiled it while loading.
    pub chart: &'a Chart,
    /// Its path in that chart (`templates/...`).
    pub path: &'a str,
    /// The name it is registered under.
    pub name: String,
    /// Its text.
    pub source: &'a str,
}

/// Compiles `items`, taking those their chart compiled while it loaded
/// ([`crate::chart::load_to_render`]) and compiling the rest on every core;
/// the results are in the same order.
pub(crate) fn compile_items(items: &[Item<'_>]) -> Vec<Result<Template, TemplateError>> {
    let taken: Vec<Option<Result<Template, TemplateError>>> = items
        .iter()
        .map(|it| {
            let store = it.chart.precompiled.as_ref()?;
            store.take(it.path, it.source, &it.name)
        })
        .collect();
    let missing: Vec<(String, &str)> = items
        .iter()
        .zip(&taken)
        .filter(|(_, t)| t.is_none())
        .map(|(it, _)| (it.name.clone(), it.source))
        .collect();
    #[cfg(test)]
    COMPILED.with(|c| c.set(c.get() + missing.len()));
    let mut compiled = compile_all(&missing).into_iter();
    // `compile_all` gives one result per missing item, in order.
    taken
        .into_iter()
        .filter_map(|t| t.or_else(|| compiled.next()))
        .collect()
}

/// Compiles `(name, source)` pairs; the results are in the same order.
pub(crate) fn compile_all(items: &[(String, &str)]) -> Vec<Result<Template, TemplateError>> {
    let workers = cores().min(items.len());
    let compile = |i: usize| Template::compile_with_name(items[i].1, items[i].0.clone());
    if workers <= 1 {
        return (0..items.len()).map(compile).collect();
    }
    // Longest first, dealt out in turn, so the threads finish together.
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(items[i].1.len()));
    let mut done: Vec<(usize, Result<Template, TemplateError>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|w| {
                let mine: Vec<usize> = order.iter().copied().skip(w).step_by(workers).collect();
                let handle = s.spawn(move || {
                    mine.into_iter()
                        .map(|i| (i, compile(i)))
                        .collect::<Vec<_>>()
                });
                if w + 1 < workers {
                    // The next one queues where this thread goes.
                    make_room();
                }
                handle
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    });
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, r)| r).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_keep_the_input_order_and_errors() {
        let long = "x{{a}}".repeat(500);
        let items = vec![
            ("one".to_string(), "{{a}}"),
            ("broken".to_string(), "{{#if}}"),
            ("long".to_string(), long.as_str()),
            ("two".to_string(), "b{{b}}"),
        ];
        let out = compile_all(&items);
        assert_eq!(out.len(), 4);
        assert_eq!(out[0].as_ref().unwrap().name.as_deref(), Some("one"));
        assert!(out[1].is_err());
        assert_eq!(out[2].as_ref().unwrap().name.as_deref(), Some("long"));
        assert_eq!(out[3].as_ref().unwrap().name.as_deref(), Some("two"));
    }

    #[test]
    fn escapes_and_backslashes_in_text_render_as_before() {
        // vendor/handlebars reads text between expressions in runs up to
        // the next `{{` or backslash; a backslash still escapes `{{` and
        // is kept anywhere else. (Compiled templates of every chart and
        // fixture were compared with the crate before that change:
        // identical.)
        let mut hb = handlebars::Handlebars::new();
        hb.register_escape_fn(handlebars::no_escape);
        let data = serde_json::json!({"x": "X"});
        for (src, want) in [
            ("a \\{{x}} b", "a {{x}} b"),
            ("a \\\\{{x}} b", "a \\X b"),
            ("x\\y {{x}}\\", "x\\y X\\"),
            ("{{! c }}t\\ {{!-- d --}}{{x}}", "t\\ X"),
            ("", ""),
        ] {
            let t = Template::compile(src).unwrap();
            hb.register_template("t", t);
            assert_eq!(hb.render("t", &data).unwrap(), want, "{src:?}");
        }
    }

    #[test]
    fn string_literals_and_spread_out_calls_read_as_before() {
        // vendor/handlebars (third change) reads whitespace between tokens
        // and the plain characters of string literals in runs; escapes
        // inside literals still go one at a time.
        let mut hb = handlebars::Handlebars::new();
        hb.register_escape_fn(handlebars::no_escape);
        crate::render::helpers::register(&mut hb);
        let data = serde_json::json!({"x": "X"});
        for (src, want) in [
            (
                r#"{{concat "a\"b" 'c\'d' "e\\f" "g\nh" "\u0041"}}"#,
                "a\"bc'de\\fg\nhA",
            ),
            (
                r#"{{concat "" '' "plain text, no escapes" x}}"#,
                "plain text, no escapesX",
            ),
            (
                "{{concat\n    \"a\"\r\n\t  (concat\n  x   \"b\" )\n   }}",
                "aXb",
            ),
            ("{{#if  x }}\n  y\n{{~  else  ~}}\n z{{/if}}", "  y"),
        ] {
            let t = Template::compile(src).unwrap_or_else(|e| panic!("{src:?}: {e}"));
            hb.register_template("t", t);
            assert_eq!(hb.render("t", &data).unwrap(), want, "{src:?}");
        }
        for bad in [
            r#"{{concat "open}}"#,
            r#"{{concat "a\qb"}}"#,
            "{{concat 'x}}",
        ] {
            assert!(
                Template::compile(bad).is_err(),
                "{bad:?} should not compile"
            );
        }
    }

    #[test]
    fn elements_keep_their_line_and_column() {
        // vendor/handlebars takes positions from pest's line index instead
        // of rescanning the source; they must be what the rescan gave
        // (a `\r\n` is one line break, a lone `\r` a column). The figures
        // are what the published 6.4.4 gives for this source.
        let src = "a\r\nb\n  {{x}}\r\n\r\n \r {{#if y}}{{z}}{{/if}}";
        let t = Template::compile(src).unwrap();
        let got: Vec<(usize, usize)> = t.mapping.iter().map(|m| (m.0, m.1)).collect();
        assert_eq!(got, [(1, 1), (3, 3), (5, 4), (5, 4)]);
    }

    /// Every template file of the charts and test fixtures in this
    /// repository, with its path from the repository's root.
    fn repository_templates() -> Vec<(std::path::PathBuf, String)> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut out = Vec::new();
        let mut dirs = vec![root.join("charts"), root.join("tests")];
        while let Some(d) = dirs.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    dirs.push(p);
                    continue;
                }
                // Only the path inside the repository decides: a checkout
                // under a directory named `templates` holds no more of them.
                let inside = p.strip_prefix(root).unwrap().to_path_buf();
                if inside.components().any(|c| c.as_os_str() == "templates") {
                    if let Ok(text) = std::fs::read_to_string(&p) {
                        out.push((inside, text));
                    }
                }
            }
        }
        out.sort();
        out
    }

    fn same_compile(src: &str) {
        let fast = Template::compile(src);
        let reference = Template::compile_with_pest(src);
        match (fast, reference) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "{src:?}"),
            (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "{src:?}"),
            (a, b) => panic!("{src:?}: {a:?} against pest's {b:?}"),
        }
    }

    #[test]
    fn the_scanner_reads_every_shipped_template_as_pest_does() {
        // vendor/handlebars (fifth change) reads templates with a
        // hand-written scanner and leaves what it does not know to pest.
        // Its tokens must be pest's, token for token; the HDFS chart's
        // templates must not need pest at all (that is the speed).
        let all = repository_templates();
        assert!(all.len() > 50, "{}", all.len());
        for (path, text) in &all {
            let agrees = Template::scanner_agrees_with_pest(text);
            assert_ne!(agrees, Some(false), "{}", path.display());
            if path.starts_with("charts/hdfs") {
                assert_eq!(agrees, Some(true), "{} is left to pest", path.display());
            }
            same_compile(text);
        }
    }

    #[test]
    fn the_scanner_agrees_with_pest_on_generated_templates() {
        use rand::{Rng, SeedableRng};
        const PIECES: &[&str] = &[
            "text",
            " ",
            "\n",
            "  \n",
            "\r\n",
            "\t",
            "\\",
            "\\{{",
            "\\\\{{",
            "\\{{{{",
            "{{",
            "}}",
            "~",
            "é",
            "{{x}}",
            "{{ x }}",
            "{{~x~}}",
            "{{ ~ x ~ }}",
            "{{#if a}}",
            "{{ #if a }}",
            "{{#if a~}}",
            "{{~#if (eq a 'b')}}",
            "{{#each (range 3) as |i|}}",
            "{{#with a as |x y|}}",
            "{{#each a}}{{@first}}{{/each}}",
            "{{else}}",
            "{{~else}}",
            "{{else~}}",
            "{{else if b}}",
            "{{~else if (not b) ~}}",
            "{{^}}",
            "{{/if}}",
            "{{~/if~}}",
            "{{/ if }}",
            "{{/each}}",
            "{{/with}}",
            "{{/}}",
            "{{!c}}",
            "{{! c }}",
            "{{!-- c --}}",
            "{{!-- a }} --}}",
            "{{!--}}",
            "{{!-- x",
            "{{~!c}}",
            "{{> p}}",
            "{{>p x=1}}",
            "{{> p.q/r-s@t}}",
            "{{> 'p'}}",
            "{{> (f)}}",
            "{{f \"s\\\"q\" 'a\\'b' 1 -2 3.5 1E5 2E-3 1. null true false x=y}}",
            "{{f nullx truey 1x -}}",
            "{{@root.a.b}}",
            "{{@root}}",
            "{{@roota}}",
            "{{../a}}",
            "{{../../a/b}}",
            "{{..}}",
            "{{this.a}}",
            "{{this/a}}",
            "{{./a}}",
            "{{this}}",
            "{{this.}}",
            "{{@index}}",
            "{{@../index}}",
            "{{a.b.}}",
            "{{a..b}}",
            "{{f (g a) b}}",
            "{{f (g (h 1) k=\"v\") }}",
            "{{ f\n  a\n\t}}",
            "{{(f a)}}",
            "{{(a)}}",
            "{{()}}",
            "{{{x}}}",
            "{{&x}}",
            "{{*d}}",
            "{{#*inline \"x\"}}",
            "{{#> p}}",
            "{{{{raw}}}}",
            "{{[a b]}}",
            "{{a.[b]}}",
            "{{f [1]}}",
            "{{f {}}}",
            "{{elsewhere}}",
            "{{else_x}}",
            "{{as}}",
            "{{f as}}",
            "{{f as |x|}}",
            "{{f asx}}",
            "{{f else}}",
            "{{f elsex=1}}",
            "{{f 1.}}",
            "{{f \"\\u0041\"}}",
            "{{f \"\\u00\"}}",
            "{{f \"\\q\"}}",
            "{{f \"open}}",
            "{{f 'x}}",
            "{{f a=}}",
            "{{f a = b}}",
            "{{f $:a-_}}",
            "{{f ß}}",
            "{{ }}",
            "{{}}",
            "{{-1}}",
            "{{1}}",
            "{{\"s\"}}",
        ];
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        let (mut scanned, total) = (0, 30_000);
        for _ in 0..total {
            let n = rng.gen_range(1..10);
            let src: String = (0..n)
                .map(|_| PIECES[rng.gen_range(0..PIECES.len())])
                .collect();
            let agrees = Template::scanner_agrees_with_pest(&src);
            assert_ne!(agrees, Some(false), "{src:?}");
            scanned += usize::from(agrees.is_some());
            same_compile(&src);
        }
        // Most generated templates do not parse; enough of them do, and
        // are read by the scanner, for the comparison to mean something.
        assert!(scanned > total / 20, "{scanned} of {total} scanned");
    }
}
