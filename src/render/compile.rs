//! Template compilation on every core. Compiling (pest's parser) is the
//! largest cost of a small render of the HDFS chart after reading YAML;
//! templates are independent, so they compile in parallel and are
//! registered afterwards, in order.

use std::sync::OnceLock;

use handlebars::{Template, TemplateError};

/// The number of cores to use. Asked once per process: the standard library
/// reads the cgroup files on every call, and a render asks for every template.
pub(crate) fn cores() -> usize {
    static CORES: OnceLock<usize> = OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
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
                s.spawn(move || {
                    mine.into_iter()
                        .map(|i| (i, compile(i)))
                        .collect::<Vec<_>>()
                })
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
}
