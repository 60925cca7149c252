//! Rendering a chart's templates, on every core when there are several.
//!
//! Templates are independent once compiled and registered: each renders
//! with the same context (only `Template.Name` differs). They take very
//! different times (the HDFS chart's PersistentVolumes template renders
//! hundreds of objects, the rest a few each), so workers take the next
//! template as they finish one, and each document a template writes is
//! queued as soon as it is complete ([`manifest::DocStream`]); a worker
//! with no template left parses queued documents. A large template is thus
//! parsed on the other cores while it is still rendering. Results are put
//! back in the templates' order, so objects, warnings and the first error
//! are what a render on one thread gives.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};

use handlebars::{Context, Handlebars};
use serde_json::Value;

use super::{convert, helpers, lookup, manifest, Manifest, NameMap, RenderError};

#[cfg(test)]
thread_local! {
    /// Tests choose the number of workers, so both ways are covered on any
    /// machine.
    static WORKERS: std::cell::Cell<Option<usize>> = const { std::cell::Cell::new(None) };
}

/// Worker threads for `templates` templates: one more than the templates
/// (up to the cores), so even a chart of one template has its documents
/// parsed on another core while it renders.
fn workers(templates: usize) -> usize {
    #[cfg(test)]
    if let Some(w) = WORKERS.with(std::cell::Cell::get) {
        return w;
    }
    crate::cores::cores().min(templates + 1)
}

/// Renders one registered template to text on the current thread (its
/// warnings and lookups go to this thread's render state).
fn render_text(
    hb: &Handlebars<'_>,
    ctx: &mut Context,
    names: &NameMap,
    full: &str,
) -> Result<String, RenderError> {
    super::set_template_name(ctx, full);
    hb.render_with_context(full, ctx)
        .map_err(|e| convert(e, names, full))
}

/// Renders the registered templates `fulls` and splits their output into
/// objects, appended to `out` in the templates' order; then `notes` (the
/// registered `NOTES.txt`), whose text it returns. The error is the first a
/// render on one thread would meet, in that order.
pub(super) fn render_templates(
    hb: &Handlebars<'_>,
    ctx: &mut Context,
    names: &NameMap,
    fulls: &[&str],
    notes: Option<&str>,
    known: Option<&BTreeMap<lookup::LookupKey, Value>>,
    out: &mut Vec<Manifest>,
) -> Result<Option<String>, RenderError> {
    let workers = workers(fulls.len());
    if workers > 1 {
        return render_on_workers(hb, ctx, names, fulls, notes, known, workers, out);
    }
    let mut texts = Vec::with_capacity(fulls.len());
    let mut failure = None;
    for full in fulls {
        match render_text(hb, ctx, names, full) {
            Ok(text) => texts.push(text),
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    // The objects of the templates before the first that failed to render
    // are parsed first: a bad document there is the earlier error.
    let texts: Vec<(&str, &str)> = fulls
        .iter()
        .copied()
        .zip(texts.iter().map(String::as_str))
        .collect();
    out.extend(manifest::split_all(&texts)?);
    if let Some(e) = failure {
        return Err(e);
    }
    notes
        .map(|full| render_text(hb, ctx, names, full))
        .transpose()
}

/// Documents waiting to be parsed, and how many templates have not finished
/// rendering (while some have, more documents may come).
struct Queue {
    /// (template index, document index, text).
    docs: Vec<(usize, usize, String)>,
    rendering: usize,
    /// Workers waiting for a document.
    waiting: usize,
}

/// What one worker did: per template it rendered, (index, outcome,
/// warnings); per document it parsed, (template, document, outcome); the
/// lookups it made.
#[derive(Default)]
struct Work {
    rendered: Vec<(usize, Result<(), RenderError>, Vec<String>)>,
    parsed: Vec<(
        usize,
        usize,
        Result<Option<Manifest>, manifest::ManifestError>,
    )>,
    lookups: (Vec<lookup::LookupKey>, Vec<lookup::LookupKey>),
    /// `NOTES.txt`, if this worker rendered it.
    notes: Option<String>,
}

/// Renders on `workers` threads, this one and `workers - 1` new ones: each
/// takes the next template as long as some are left, its documents going
/// to a shared queue as they are written, then parses queued documents
/// until every template is done.
/// One large template (hundreds of PersistentVolumes) is thus parsed while
/// it renders, instead of after. `NOTES.txt` is taken after the last
/// template, as one more (its text is not split into objects).
#[allow(clippy::too_many_arguments)]
fn render_on_workers(
    hb: &Handlebars<'_>,
    ctx: &Context,
    names: &NameMap,
    fulls: &[&str],
    notes: Option<&str>,
    known: Option<&BTreeMap<lookup::LookupKey, Value>>,
    workers: usize,
    out: &mut Vec<Manifest>,
) -> Result<Option<String>, RenderError> {
    let next = AtomicUsize::new(0);
    let queue = Mutex::new(Queue {
        docs: Vec::new(),
        rendering: fulls.len(),
        waiting: 0,
    });
    let ready = Condvar::new();
    // Every worker has a render state of its own (lookups answered from
    // the same known objects, its own warnings), this thread too.
    let work = || {
        lookup::start(known);
        helpers::start_warnings();
        let mut ctx = ctx.clone();
        let mut work = Work::default();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            if let Some(full) = fulls.get(i) {
                let outcome = render_streaming(hb, &mut ctx, names, full, i, &queue, &ready);
                work.rendered.push((i, outcome, helpers::take_warnings()));
                continue;
            }
            if let Some(full) = notes.filter(|_| i == fulls.len()) {
                let outcome =
                    render_text(hb, &mut ctx, names, full).map(|text| work.notes = Some(text));
                work.rendered.push((i, outcome, helpers::take_warnings()));
                continue;
            }
            let Some((t, d, text)) = take(&queue, &ready) else {
                break;
            };
            work.parsed
                .push((t, d, manifest::parse_document(fulls[t], d, &text)));
        }
        work.lookups = lookup::finish();
        work
    };
    // The other workers hand in their work here: waiting for it, not for
    // their threads to end (to join a thread waits for its teardown, about
    // half a millisecond after its last document here). The scope still
    // sees every thread finish, and raises a worker's panic (a bug) again.
    let handed = Mutex::new(Vec::with_capacity(workers));
    let mut all: Vec<Work> = std::thread::scope(|s| {
        // This thread is one of the workers. A new thread is queued on the
        // core of the thread that starts it, where it waited for a time
        // slice while this one rendered: this thread moves on after each
        // start (crate::cores::make_room).
        let (work, handed) = (&work, &handed);
        for _ in 1..workers {
            s.spawn(move || {
                let done = work();
                handed
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push(done);
            });
            crate::cores::make_room();
        }
        // This thread's own render state waits meanwhile.
        let (lookups, warnings) = (lookup::suspend(), helpers::take_warnings());
        let mine = work();
        lookup::resume(lookups);
        helpers::extend_warnings(warnings);
        vec![mine]
    });
    all.append(
        &mut handed
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    );
    let mut rendered = Vec::with_capacity(fulls.len() + 1);
    let mut notes = None;
    for work in &mut all {
        let (wanted, asked) = std::mem::take(&mut work.lookups);
        lookup::merge(wanted, asked);
        rendered.append(&mut work.rendered);
        notes = notes.or(work.notes.take());
    }
    rendered.sort_by_key(|(i, ..)| *i);
    // Warnings up to the first template (or NOTES.txt, last) that failed,
    // and its error.
    let mut failed = None;
    for (i, outcome, warnings) in rendered {
        helpers::extend_warnings(warnings);
        if let Err(e) = outcome {
            failed = Some((i, e));
            break;
        }
    }
    let end = failed.as_ref().map_or(usize::MAX, |(i, _)| *i);
    // The objects of the templates before the first that failed to render,
    // in order: a bad document there is the earlier error. Where each one
    // is gets sorted, not the parsed objects (a few hundred bytes each,
    // which a sort would move a dozen times over, through fresh memory);
    // each object moves once, from its worker's list to `out`.
    let mut order: Vec<(usize, usize, usize, usize)> = all
        .iter()
        .enumerate()
        .flat_map(|(w, work)| {
            work.parsed
                .iter()
                .enumerate()
                .map(move |(k, (t, d, _))| (*t, *d, w, k))
        })
        .collect();
    order.sort_unstable();
    out.reserve(order.len());
    for (_, _, w, k) in order.into_iter().take_while(|(t, ..)| *t < end) {
        out.extend(std::mem::replace(&mut all[w].parsed[k].2, Ok(None))?);
    }
    failed.map_or(Ok(notes), |(_, e)| Err(e))
}

/// Renders template `i` (`full`), its documents going to `queue` as they
/// are written; the queue then knows the template is done.
fn render_streaming(
    hb: &Handlebars<'_>,
    ctx: &mut Context,
    names: &NameMap,
    full: &str,
    i: usize,
    queue: &Mutex<Queue>,
    ready: &Condvar,
) -> Result<(), RenderError> {
    // Counted as done however it ends: were a helper to panic (a bug), the
    // other workers must not wait for its documents forever; the panic is
    // raised again when the workers are joined.
    let _done = Finished { queue, ready };
    super::set_template_name(ctx, full);
    let mut sink = Sink {
        stream: manifest::DocStream::new(),
        template: i,
        queue,
        ready,
    };
    let outcome = hb
        .render_with_context_to_output(full, ctx, &mut sink)
        .map_err(|e| convert(e, names, full));
    if outcome.is_ok() {
        // The last document; a template that failed has no objects.
        let mut q = lock(queue);
        sink.stream.finish(&mut |d, text| q.docs.push((i, d, text)));
    }
    outcome
}

/// Marks a template done in the queue when dropped, and wakes the waiting
/// workers (no more documents may come).
struct Finished<'a> {
    queue: &'a Mutex<Queue>,
    ready: &'a Condvar,
}

impl Drop for Finished<'_> {
    fn drop(&mut self) {
        lock(self.queue).rendering -= 1;
        self.ready.notify_all();
    }
}

/// The next document to parse, waiting while templates are still rendering;
/// `None` when every template is done and every document taken.
fn take(queue: &Mutex<Queue>, ready: &Condvar) -> Option<(usize, usize, String)> {
    let mut q = lock(queue);
    loop {
        if let Some(doc) = q.docs.pop() {
            return Some(doc);
        }
        if q.rendering == 0 {
            return None;
        }
        q.waiting += 1;
        q = ready
            .wait(q)
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        q.waiting -= 1;
    }
}

/// The queue, also after a worker panicked holding it (the panic is raised
/// again when the workers are joined).
fn lock(queue: &Mutex<Queue>) -> std::sync::MutexGuard<'_, Queue> {
    queue
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Where a template renders to: each document it completes goes to the
/// queue.
struct Sink<'a> {
    stream: manifest::DocStream,
    template: usize,
    queue: &'a Mutex<Queue>,
    ready: &'a Condvar,
}

impl handlebars::Output for Sink<'_> {
    fn write(&mut self, piece: &str) -> std::io::Result<()> {
        let (template, queue, ready) = (self.template, self.queue, self.ready);
        self.stream.push(piece, &mut |d, text| {
            let mut q = lock(queue);
            q.docs.push((template, d, text));
            // Waking a thread is a system call; only when one waits.
            if q.waiting > 0 {
                ready.notify_one();
            }
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::WORKERS;
    use crate::render::lookup::{self, LookupKey};
    use crate::render::{render, RenderOptions, Rendered};

    fn cm(name: &str, extra: &str) -> String {
        format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n{extra}")
    }

    /// Renders a chart of these templates with `workers` worker threads.
    fn run(workers: usize, templates: &[(&str, String)]) -> Result<Rendered, String> {
        let paths: Vec<String> = templates
            .iter()
            .map(|(n, _)| format!("templates/{n}"))
            .collect();
        let mut files = vec![("Chart.yaml", "apiVersion: v2\nname: each\nversion: 1.0.0\n")];
        files.extend(
            paths
                .iter()
                .zip(templates)
                .map(|(p, (_, t))| (p.as_str(), t.as_str())),
        );
        let chart = crate::chart::load::from_texts(&files).unwrap();
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
    fn notes_render_with_the_templates_and_their_errors_come_last() {
        let notes = |text: &str| ("NOTES.txt", text.to_string());
        let look = "{{toJson (k8sLookup \"v1\" \"ConfigMap\" \"ns\" \"known\")}}";
        let ok = [
            ("a.yaml", format!("{{{{warn \"from a\"}}}}{}", cm("a", ""))),
            notes(&format!(
                "{{{{warn \"from notes\"}}}}{{{{Release.Name}}}} {{{{Template.Name}}}} {look}"
            )),
            ("b.yaml", format!("{{{{warn \"from b\"}}}}{}", cm("b", ""))),
        ];
        let bad_notes = notes("{{Values.missing}}");
        for workers in [1, 2, 4] {
            let r = run(workers, &ok).unwrap();
            assert_eq!(
                r.notes.as_deref(),
                Some(r#"r each/templates/NOTES.txt {"data":{"v":"7"}}"#),
                "{workers} workers"
            );
            assert_eq!(r.warnings, ["from a", "from b", "from notes"]);
            assert_eq!(r.lookups.len(), 1, "{workers} workers");
            assert_eq!(r.manifests.len(), 2);
            // A template's render error, and a bad document, come first.
            let failing = [("a.yaml", "{{Values.nope}}".to_string()), bad_notes.clone()];
            let e = run(workers, &failing).unwrap_err();
            assert!(e.starts_with("each/templates/a.yaml"), "{e}");
            let broken = [("a.yaml", "a: [\n".to_string()), bad_notes.clone()];
            let e = run(workers, &broken).unwrap_err();
            assert!(e.starts_with("each/templates/a.yaml: document 1"), "{e}");
            let e = run(workers, &[("a.yaml", cm("a", "")), bad_notes.clone()]).unwrap_err();
            assert!(e.starts_with("each/templates/NOTES.txt"), "{e}");
        }
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
    fn the_calling_threads_warnings_and_lookups_stay_first() {
        // A subchart's templates render after the parent's, whose warnings
        // and lookups are already in this thread's render state; this
        // thread works for the subchart's render too.
        let hb = {
            let mut hb = handlebars::Handlebars::new();
            crate::render::helpers::register(&mut hb);
            lookup::register(&mut hb);
            for (name, text) in [
                ("a", format!("{{{{warn \"from a\"}}}}{}", cm("a", ""))),
                ("b", format!("{{{{#if (k8sLookup \"v1\" \"ConfigMap\" \"ns\" \"b\")}}}}{{{{/if}}}}{{{{warn \"from b\"}}}}{}", cm("b", ""))),
            ] {
                hb.register_template_string(name, text).unwrap();
            }
            hb
        };
        let ctx = handlebars::Context::wraps(json!({"Template": {}})).unwrap();
        let key = |name: &str| LookupKey {
            api_version: "v1".into(),
            kind: "ConfigMap".into(),
            namespace: "ns".into(),
            name: name.into(),
        };
        let known = BTreeMap::from([(key("parent"), json!({}))]);
        for workers in [2, 4] {
            lookup::start(Some(&known));
            crate::render::helpers::start_warnings();
            crate::render::helpers::extend_warnings(vec!["from the parent".into()]);
            lookup::merge(vec![key("wanted by the parent")], vec![key("parent")]);
            let mut out = Vec::new();
            super::render_on_workers(
                &hb,
                &ctx,
                &Default::default(),
                &["a", "b"],
                None,
                Some(&known),
                workers,
                &mut out,
            )
            .unwrap();
            assert_eq!(out.len(), 2);
            assert_eq!(
                crate::render::helpers::take_warnings(),
                ["from the parent", "from a", "from b"],
                "{workers} workers"
            );
            let names = |keys: Vec<LookupKey>| keys.into_iter().map(|k| k.name).collect::<Vec<_>>();
            let (wanted, asked) = lookup::finish();
            assert_eq!(
                names(wanted),
                ["b", "wanted by the parent"],
                "{workers} workers"
            );
            assert_eq!(names(asked), ["b", "parent"], "{workers} workers");
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

    #[test]
    fn a_template_that_fails_after_a_bad_document_reports_the_render_error() {
        // Its first document is already written (and, on several workers,
        // queued and parsed) when the render fails; one thread never
        // splits a template that failed, so the render error is the one.
        let templates = [
            ("a.yaml", cm("a", "")),
            (
                "b.yaml",
                "apiVersion: v1\nmetadata:\n  name: x\n---\nv: {{Values.missing}}\n".to_string(),
            ),
        ];
        for workers in [1, 2, 4] {
            let e = run(workers, &templates).unwrap_err();
            assert!(
                e.starts_with("each/templates/b.yaml")
                    && e.contains("missing value `Values.missing`"),
                "{workers}: {e}"
            );
        }
    }

    #[test]
    fn one_template_of_many_documents_keeps_their_order() {
        let many: Vec<String> = (0..40).map(|i| cm(&format!("o{i}"), "")).collect();
        let templates = [("many.yaml", many.join("---\n"))];
        for workers in [1, 2, 4] {
            let r = run(workers, &templates).unwrap();
            let names: Vec<&str> = r.manifests.iter().map(|m| m.name.as_str()).collect();
            let want: Vec<String> = (0..40).map(|i| format!("o{i}")).collect();
            assert_eq!(names, want, "{workers} workers");
        }
    }

    #[test]
    fn a_panicking_template_does_not_leave_the_other_workers_waiting() {
        // A helper that panics stands for a bug in windlass. The render
        // must end in that panic, not wait forever for the documents of
        // the template that panicked.
        fn boom(
            _: &handlebars::Helper<'_>,
            _: &handlebars::Handlebars<'_>,
            _: &handlebars::Context,
            _: &mut handlebars::RenderContext<'_, '_>,
            _: &mut dyn handlebars::Output,
        ) -> handlebars::HelperResult {
            panic!("a bug")
        }
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut hb = handlebars::Handlebars::new();
            hb.register_helper("boom", Box::new(boom));
            hb.register_template_string("a", "x: 1\n---\n{{boom}}")
                .unwrap();
            hb.register_template_string("b", "y: 2\n").unwrap();
            let ctx = handlebars::Context::wraps(json!({"Template": {}})).unwrap();
            let names = Default::default();
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                super::render_on_workers(
                    &hb,
                    &ctx,
                    &names,
                    &["a", "b"],
                    None,
                    None,
                    3,
                    &mut Vec::new(),
                )
            }));
            let _ = tx.send(outcome.is_err());
        });
        // Generous: a render of two tiny templates; only a hang comes near.
        let panicked = rx.recv_timeout(std::time::Duration::from_secs(120));
        assert_eq!(panicked, Ok(true), "the render hung or did not panic");
    }
}
