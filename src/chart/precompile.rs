//! A chart's templates compiled while it loads.
//!
//! Loading a chart to render it ([`super::load_to_render`]) compiles its
//! templates on the loading thread while the values schema compiles on
//! another core (the two largest parts of loading a large chart). The
//! render then takes the compiled templates instead of compiling them. A
//! compiled template is moved out, not copied (a copy costs about a fifth
//! of compiling it), so only the first render of a loaded chart finds them;
//! later renders compile as before.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use handlebars::{Template, TemplateError};

/// Per template path: the source it was compiled from, and the outcome.
type Results = HashMap<String, (String, Result<Template, TemplateError>)>;

/// Templates compiled for one chart (not its subcharts, which have their
/// own), until a render takes them.
pub(crate) struct Precompiled(Mutex<Results>);

impl std::fmt::Debug for Precompiled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Precompiled")
    }
}

impl Precompiled {
    /// Compiles `(path, source)` pairs on this thread.
    pub(crate) fn compile(items: Vec<(String, String)>) -> Precompiled {
        let results = items
            .into_iter()
            .map(|(path, source)| {
                let compiled = Template::compile_with_name(&source, path.clone());
                (path, (source, compiled))
            })
            .collect();
        Precompiled(Mutex::new(results))
    }

    fn results(&self) -> MutexGuard<'_, Results> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The template at `path`, compiled from exactly `source` and named
    /// `name` (its registered name), unless it was taken already.
    pub(crate) fn take(
        &self,
        path: &str,
        source: &str,
        name: &str,
    ) -> Option<Result<Template, TemplateError>> {
        let (compiled_from, outcome) = self.results().remove(path)?;
        if compiled_from != source {
            return None;
        }
        Some(match outcome {
            Ok(mut template) => {
                template.name = Some(name.to_string());
                Ok(template)
            }
            Err(e) => Err(e.in_template(name.to_string())),
        })
    }

    /// How many compiled templates have not been taken.
    #[cfg(test)]
    pub(crate) fn left(&self) -> usize {
        self.results().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items() -> Vec<(String, String)> {
        vec![
            ("templates/a.yaml".into(), "a: {{Values.a}}\n".into()),
            ("templates/_l.tpl".into(), "{{#if x}}y{{/if}}".into()),
            ("templates/bad.yaml".into(), "{{#if x}}never closed".into()),
        ]
    }

    #[test]
    fn gives_each_template_once_as_compiled_under_its_registered_name() {
        let p = Precompiled::compile(items());
        let a = p
            .take(
                "templates/a.yaml",
                "a: {{Values.a}}\n",
                "hdfs/templates/a.yaml",
            )
            .unwrap()
            .unwrap();
        let direct =
            Template::compile_with_name("a: {{Values.a}}\n", "hdfs/templates/a.yaml".to_string())
                .unwrap();
        assert_eq!(format!("{a:?}"), format!("{direct:?}"));
        // Taken: the next render compiles its own.
        assert!(p
            .take("templates/a.yaml", "a: {{Values.a}}\n", "x")
            .is_none());
        let bad = p
            .take(
                "templates/bad.yaml",
                "{{#if x}}never closed",
                "hdfs/templates/bad.yaml",
            )
            .unwrap()
            .unwrap_err();
        let direct = Template::compile_with_name(
            "{{#if x}}never closed",
            "hdfs/templates/bad.yaml".to_string(),
        )
        .unwrap_err();
        assert_eq!(bad.to_string(), direct.to_string());
        assert_eq!(bad.pos(), direct.pos());
        assert_eq!(p.left(), 1);
    }

    #[test]
    fn a_source_changed_since_loading_is_not_served() {
        let p = Precompiled::compile(items());
        assert!(p.take("templates/_l.tpl", "{{x}}", "l").is_none());
        assert!(p.take("templates/missing.yaml", "", "m").is_none());
        // The stale one is dropped; the other two wait for their render.
        assert_eq!(p.left(), 2);
    }
}
