//! Rendering a chart's templates, on every core when there are several.
//!
//! Templates are independent once compiled and registered: each renders
//! with the same context (only `Template.Name` differs). They take very
//! different times (the HDFS chart's PersistentVolumes template renders
//! hundreds of objects, the rest a few each), so the work is done in two
//! passes that each keep every core busy: the templates render to text,
//! workers taking the next template as they finish one; then all the
//! texts' documents are parsed, split evenly between the cores
//! ([`manifest::split_all`]). Results keep the templates' order, so objects,
//! warnings and the first error are what a render on one thread gives.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use handlebars::{Context, Handlebars};
use serde_json::Value;

use super::{convert, helpers, lookup, manifest, Manifest, NameMap, RenderError};

#[cfg(test)]
thread_local! {
    /// Tests choose the number of workers, so both ways are covered on any
    /// machine.
    static WORKERS: std::cell::Cell<Option<usize>> = const { std::cell::Cell::new(None) };
}

/// Worker threads for `templates` templates.
fn workers(templates: usize) -> usize {
    #[cfg(test)]
    if let Some(w) = WORKERS.with(std::cell::Cell::get) {
        return w.min(templates);
    }
    super::compile::cores().min(templates)
}

/// Renders one registered template to text on the current thread (its
/// warnings and lookups go to this thread's render state).
fn render_text(
    hb: &Handlebars<'_>,
    ctx: &mut Context,
    names: &NameMap,
    full: &str,
) -> Result<String, RenderError> {
    if let Some(Value::Object(tm)) = ctx.data_mut().get_mut("Template") {
        tm.insert("Name".into(), Value::String(full.to_string()));
    }
    hb.render_with_context(full, ctx)
        .map_err(|e| convert(e, names, full))
}

/// Renders the registered templates `fulls` and splits their output into
/// objects, appended to `out` in the templates' order. The error is the
/// first a render on one thread would meet.
pub(super) fn render_templates(
    hb: &Handlebars<'_>,
    ctx: &mut Context,
    names: &NameMap,
    fulls: &[&str],
    known: Option<&BTreeMap<lookup::LookupKey, Value>>,
    out: &mut Vec<Manifest>,
) -> Result<(), RenderError> {
    let (texts, failure) = render_texts(hb, ctx, names, fulls, known);
    // The objects of the templates before the first that failed to render
    // are parsed first: a bad document there is the earlier error.
    let texts: Vec<(&str, &str)> = fulls
        .iter()
        .copied()
        .zip(texts.iter().map(String::as_str))
        .collect();
    out.extend(manifest::split_all(&texts)?);
    failure.map_or(Ok(()), Err)
}

/// The templates' texts, in order, up to the first that failed to render,
/// and its error; on more than one core the templates are shared out
/// between worker threads.
fn render_texts(
    hb: &Handlebars<'_>,
    ctx: &mut Context,
    names: &NameMap,
    fulls: &[&str],
    known: Option<&BTreeMap<lookup::LookupKey, Value>>,
) -> (Vec<String>, Option<RenderError>) {
    let mut texts = Vec::with_capacity(fulls.len());
    let workers = workers(fulls.len());
    if workers <= 1 {
        for full in fulls {
            match render_text(hb, ctx, names, full) {
                Ok(text) => texts.push(text),
                Err(e) => return (texts, Some(e)),
            }
        }
        return (texts, None);
    }
    let next = AtomicUsize::new(0);
    let base: &Context = ctx;
    // (index, text, warnings it raised) per template.
    type Done = (usize, Result<String, RenderError>, Vec<String>);
    let mut done: Vec<Done> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                let next = &next;
                s.spawn(move || {
                    // Each worker has its own render state: lookups answered
                    // from the same known objects, its own warnings.
                    lookup::start(known);
                    helpers::start_warnings();
                    let mut ctx = base.clone();
                    let mut mine: Vec<Done> = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(full) = fulls.get(i) else { break };
                        let text = render_text(hb, &mut ctx, names, full);
                        mine.push((i, text, helpers::take_warnings()));
                    }
                    (mine, lookup::finish())
                })
            })
            .collect();
        let mut all = Vec::with_capacity(fulls.len());
        for h in handles {
            // A panic in a worker is a bug; surface it.
            let (mine, (wanted, asked)) = h
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            lookup::merge(wanted, asked);
            all.extend(mine);
        }
        all
    });
    done.sort_by_key(|(i, ..)| *i);
    for (_, text, warnings) in done {
        helpers::extend_warnings(warnings);
        match text {
            Ok(text) => texts.push(text),
            Err(e) => return (texts, Some(e)),
        }
    }
    (texts, None)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::WORKERS;
    use crate::render::lookup::LookupKey;
    use crate::render::{render, RenderOptions, Rendered};

    fn cm(name: &str, extra: &str) -> String {
        format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n{extra}")
    }

    /// Renders a chart of these templates with `workers` worker threads.
    fn run(workers: usize, templates: &[(&str, String)]) -> Result<Rendered, String> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("templates")).unwrap();
        std::fs::write(
            dir.path().join("Chart.yaml"),
            "apiVersion: v2\nname: each\nversion: 1.0.0\n",
        )
        .unwrap();
        for (name, text) in templates {
            std::fs::write(dir.path().join("templates").join(name), text).unwrap();
        }
        let chart = crate::chart::load(dir.path()).unwrap();
        let values = crate::values::resolve(&chart, &Default::default()).unwrap();
        let mut opts = RenderOptions::offline("r", "ns");
        let key = |name: &str| LookupKey {
            api_version: "v1".into(),
            kind: "ConfigMap".into(),
            namespace: "ns".into(),
            name: name.into(),
        };
        opts.lookups = Some(BTreeMap::from([(
            key("known"),
            json!({"data": {"v": "7"}}),
        )]));
        WORKERS.with(|w| w.set(Some(workers)));
        let out = render(&chart, &values, &opts).map_err(|e| e.to_string());
        WORKERS.with(|w| w.set(None));
        out
    }

    #[test]
    fn objects_warnings_and_lookups_are_those_of_one_thread() {
        let look = |name: &str| {
            format!("{{{{toJson (k8sLookup \"v1\" \"ConfigMap\" \"ns\" \"{name}\")}}}}")
        };
        let templates = [
            (
                "a.yaml",
                format!(
                    "{}{{{{warn \"from a\"}}}}",
                    cm("a", &format!("data:\n  v: '{}'\n", look("known")))
                ),
            ),
            (
                "b.yaml",
                format!(
                    "{{{{warn \"from b\"}}}}{}---\n{}",
                    cm("b1", ""),
                    cm("b2", "")
                ),
            ),
            (
                "c.yaml",
                cm("c", &format!("data:\n  v: '{}'\n", look("unknown"))),
            ),
            (
                "d.yaml",
                format!(
                    "{{{{warn \"from d\"}}}}{{{{warn \"from a\"}}}}{}",
                    cm("d", "")
                ),
            ),
            ("e.yaml", cm("e", "")),
        ];
        let want_names = ["a", "b1", "b2", "c", "d", "e"];
        for workers in [1, 2, 4] {
            let r = run(workers, &templates).unwrap();
            let names: Vec<&str> = r.manifests.iter().map(|m| m.name.as_str()).collect();
            assert_eq!(names, want_names, "{workers} workers");
            assert_eq!(r.manifests[0].object["data"]["v"], r#"{"data":{"v":"7"}}"#);
            assert_eq!(
                r.warnings,
                ["from a", "from b", "from d"],
                "{workers} workers"
            );
            let names =
                |keys: &[LookupKey]| keys.iter().map(|k| k.name.clone()).collect::<Vec<_>>();
            assert_eq!(names(&r.lookups_wanted), ["unknown"], "{workers} workers");
            assert_eq!(names(&r.lookups), ["known", "unknown"], "{workers} workers");
        }
    }

    #[test]
    fn the_error_is_the_first_in_template_order() {
        let bad_doc = "apiVersion: v1\nmetadata:\n  name: x\n".to_string();
        let bad_render = cm("y", "data:\n  v: {{Values.missing}}\n");
        // A bad document before a template that fails to render (the
        // second of its template: documents are counted per template)...
        let first = [
            ("a.yaml", cm("a", "")),
            ("b.yaml", format!("{}---\n{bad_doc}", cm("b", ""))),
            ("c.yaml", bad_render.clone()),
            ("d.yaml", cm("d", "")),
        ];
        // ...and after one.
        let second = [
            ("a.yaml", cm("a", "")),
            ("b.yaml", bad_render),
            ("c.yaml", bad_doc),
            ("d.yaml", cm("d", "")),
        ];
        for workers in [1, 2, 4] {
            let e = run(workers, &first).unwrap_err();
            assert!(
                e.starts_with("each/templates/b.yaml: document 2") && e.contains("kind"),
                "{workers}: {e}"
            );
            let e = run(workers, &second).unwrap_err();
            assert!(
                e.starts_with("each/templates/b.yaml") && e.contains("missing"),
                "{workers}: {e}"
            );
        }
    }
}
