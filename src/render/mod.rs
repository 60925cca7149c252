//! The rendering engine: Handlebars in strict mode with HTML escaping off,
//! Helm-style context objects and helpers, and manifest splitting.

mod compile;
mod each;
mod files;
pub mod helpers;
pub mod lookup;
pub mod manifest;

use std::collections::{BTreeMap, BTreeSet};

use handlebars::{Context, Handlebars, Template, TemplateError};
use serde_json::{json, Value};

use crate::chart::{Chart, ChartType};
use crate::values::Resolved;
pub use manifest::{Manifest, ManifestError};

/// Kubernetes version assumed when no cluster is asked (`--kube-version`).
pub const DEFAULT_KUBE_VERSION: &str = "v1.32.0";

/// API group versions every supported cluster serves; `Capabilities.APIVersions`
/// offline.
pub const DEFAULT_API_VERSIONS: &[&str] = &[
    "v1",
    "admissionregistration.k8s.io/v1",
    "apiextensions.k8s.io/v1",
    "apps/v1",
    "autoscaling/v1",
    "autoscaling/v2",
    "batch/v1",
    "coordination.k8s.io/v1",
    "discovery.k8s.io/v1",
    "events.k8s.io/v1",
    "networking.k8s.io/v1",
    "node.k8s.io/v1",
    "policy/v1",
    "rbac.authorization.k8s.io/v1",
    "scheduling.k8s.io/v1",
    "storage.k8s.io/v1",
];

/// What the templates see as `Release` and `Capabilities`.
#[derive(Debug, Clone)]
pub struct RenderOptions {
    /// `Release.Name`.
    pub release_name: String,
    /// `Release.Namespace`.
    pub namespace: String,
    /// `Release.Revision`.
    pub revision: u64,
    /// `Release.IsInstall` (else `Release.IsUpgrade`).
    pub is_install: bool,
    /// `Capabilities.KubeVersion.Version`, e.g. `v1.32.0`.
    pub kube_version: String,
    /// `Capabilities.APIVersions`.
    pub api_versions: Vec<String>,
    /// What cluster lookups answer ([`lookup`]); `None` renders offline,
    /// where every lookup is an empty map (as Helm's `template`).
    pub lookups: Option<BTreeMap<lookup::LookupKey, Value>>,
}

impl RenderOptions {
    /// Options for an offline render of a first install.
    pub fn offline(release_name: &str, namespace: &str) -> RenderOptions {
        RenderOptions {
            release_name: release_name.to_string(),
            namespace: namespace.to_string(),
            revision: 1,
            is_install: true,
            kube_version: DEFAULT_KUBE_VERSION.to_string(),
            api_versions: DEFAULT_API_VERSIONS.iter().map(|s| s.to_string()).collect(),
            lookups: None,
        }
    }
}

/// Rendering failed.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// A template did not parse or failed while rendering.
    #[error("{template}{}: {message}", location(*line, *column))]
    Template {
        /// `<chart>/templates/<file>`.
        template: String,
        /// 1-based line in the template, when known.
        line: Option<usize>,
        /// 1-based column, when known.
        column: Option<usize>,
        /// What went wrong.
        message: String,
    },
    /// A rendered document is not a valid object.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// Partials include each other in a loop.
    #[error("{chart}: partials include each other in a loop: {}", cycle.join(" -> "))]
    PartialCycle {
        /// The chart.
        chart: String,
        /// The loop.
        cycle: Vec<String>,
    },
    /// `--kube-version` is not a version.
    #[error("invalid Kubernetes version `{0}`")]
    KubeVersion(String),
    /// The chart's `kubeVersion` constraint excludes the target cluster.
    #[error("chart {chart} requires Kubernetes {constraint}, but the target is {version}")]
    KubeVersionMismatch {
        /// The chart.
        chart: String,
        /// Its constraint.
        constraint: String,
        /// The target version.
        version: String,
    },
}

fn location(line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!(" line {l}, column {c}"),
        (Some(l), None) => format!(" line {l}"),
        _ => String::new(),
    }
}

/// The result of rendering a chart.
#[derive(Debug, Clone, Default)]
pub struct Rendered {
    /// Objects in install order.
    pub manifests: Vec<Manifest>,
    /// The parent chart's rendered `NOTES.txt`.
    pub notes: Option<String>,
    /// What the templates' `warn` helper said (a value combination that
    /// works but is probably a mistake).
    pub warnings: Vec<String>,
    /// Cluster lookups the templates made that
    /// [`RenderOptions::lookups`] did not answer (each answered with an
    /// empty map): fetch them and render again.
    pub lookups_wanted: Vec<lookup::LookupKey>,
    /// Every cluster lookup the templates made (recorded with the
    /// revision, so the next upgrade fetches them before rendering).
    pub lookups: Vec<lookup::LookupKey>,
}

impl Rendered {
    /// The manifests as one YAML stream with `# Source:` comments.
    pub fn to_stream(&self) -> String {
        manifest::to_stream(&self.manifests)
    }
}

/// Maps registered template names back to chart paths for messages.
type NameMap = BTreeMap<String, String>;

/// Compiled templates, or why each did not compile, in the sources' order.
type Compiled = Vec<Result<Template, TemplateError>>;

fn convert(err: handlebars::RenderError, names: &NameMap, fallback: &str) -> RenderError {
    let registered = err
        .template_name
        .clone()
        .unwrap_or_else(|| fallback.to_string());
    let template = names.get(&registered).cloned().unwrap_or(registered);
    let message = match err.reason() {
        handlebars::RenderErrorReason::MissingVariable(Some(path)) => {
            format!("missing value `{path}` (strict mode: every value a template prints must exist; use `default` for optional ones)")
        }
        handlebars::RenderErrorReason::TemplateError(t) => {
            return RenderError::Template {
                template: t
                    .name()
                    .and_then(|n| names.get(n).cloned())
                    .unwrap_or(template),
                line: t.pos().map(|p| p.0),
                column: t.pos().map(|p| p.1),
                message: t.reason().to_string(),
            }
        }
        other => other.to_string(),
    };
    RenderError::Template {
        template,
        line: err.line_no,
        column: err.column_no,
        message,
    }
}

fn convert_parse(err: handlebars::TemplateError, template: &str) -> RenderError {
    RenderError::Template {
        template: template.to_string(),
        line: err.pos().map(|p| p.0),
        column: err.pos().map(|p| p.1),
        message: err.reason().to_string(),
    }
}

/// Names of partials a template calls with `{{> name}}` or `{{include "name"`.
fn references(source: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (i, _) in source.match_indices("{{") {
        let rest = source[i + 2..]
            .trim_start_matches(['~', '#', '-'])
            .trim_start();
        if let Some(r) = rest.strip_prefix('>') {
            let name: String = r
                .trim_start()
                .chars()
                .take_while(|c| !c.is_whitespace() && *c != '}' && *c != '~')
                .collect();
            out.insert(name.trim_matches(['"', '\'']).to_string());
        }
    }
    for (i, _) in source.match_indices("include \"") {
        let name: String = source[i + 9..].chars().take_while(|c| *c != '"').collect();
        out.insert(name);
    }
    out
}

fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(pos) = stack.iter().position(|n| n == node) {
            let mut cycle = stack[pos..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        stack.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if graph.contains_key(next) {
                if let Some(c) = visit(next, graph, stack, done) {
                    return Some(c);
                }
            }
        }
        stack.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        if let Some(c) = visit(node, graph, &mut Vec::new(), &mut done) {
            return Some(c);
        }
    }
    None
}

/// Builds the registry for one chart: its partials, then those of its
/// subcharts (so library charts work), each name registered once.
///
/// The chart's own templates (`templates`) are compiled in the same batch
/// as the partials, so the cores stay busy until the longest template is
/// done; they come back in order.
fn registry<'a>(
    chart: &Chart,
    prefix: &str,
    templates: &[compile::Item<'_>],
) -> Result<(Handlebars<'a>, NameMap, Compiled), RenderError> {
    let mut hb = Handlebars::new();
    hb.set_strict_mode(true);
    hb.register_escape_fn(handlebars::no_escape);
    helpers::register(&mut hb);
    lookup::register(&mut hb);
    files::register(&mut hb, &chart.files);
    let mut names = NameMap::new();
    let mut graph = BTreeMap::new();
    let mut stack: Vec<(&Chart, String)> = vec![(chart, prefix.to_string())];
    let mut batch = Vec::new();
    while let Some((c, p)) = stack.pop() {
        for partial in &c.partials {
            if names.contains_key(&partial.name) {
                continue;
            }
            names.insert(partial.name.clone(), format!("{p}/{}", partial.path));
            batch.push(compile::Item {
                chart: c,
                path: &partial.path,
                name: partial.name.clone(),
                source: &partial.source,
            });
        }
        for sub in c.subcharts.iter().rev() {
            stack.push((&sub.chart, format!("{p}/charts/{}", sub.chart.name())));
        }
    }
    let partials = batch.len();
    batch.extend(templates.iter().map(|t| compile::Item {
        chart: t.chart,
        path: t.path,
        name: t.name.clone(),
        source: t.source,
    }));
    let mut compiled = compile::compile_items(&batch);
    let own = compiled.split_off(partials);
    for (partial, compiled) in batch.iter().zip(compiled) {
        let compiled = compiled.map_err(|e| convert_parse(e, &names[&partial.name]))?;
        hb.register_template(&partial.name, compiled);
        graph.insert(partial.name.clone(), references(partial.source));
    }
    if let Some(cycle) = find_cycle(&graph) {
        return Err(RenderError::PartialCycle {
            chart: chart.name().to_string(),
            cycle,
        });
    }
    Ok((hb, names, own))
}

fn chart_context(chart: &Chart) -> Value {
    let m = &chart.metadata;
    json!({
        "Name": m.name,
        "Version": m.version,
        "AppVersion": m.app_version_string().unwrap_or_default(),
        "Description": m.description.clone().unwrap_or_default(),
        "ApiVersion": m.api_version,
        "Type": match m.chart_type { ChartType::Application => "application", ChartType::Library => "library" },
        "KubeVersion": m.kube_version.clone().unwrap_or_default(),
        "Keywords": m.keywords,
        "Home": m.home.clone().unwrap_or_default(),
        "Icon": m.icon.clone().unwrap_or_default(),
        "Annotations": m.annotations,
        "Deprecated": m.deprecated,
    })
}

/// Sets `Template.Name` to the template about to render.
fn set_template_name(ctx: &mut Context, full: &str) {
    if let Some(Value::Object(tm)) = ctx.data_mut().get_mut("Template") {
        tm.insert("Name".into(), Value::String(full.to_string()));
    }
}

/// Renders a chart and its enabled subcharts into install-ordered manifests.
pub fn render(
    chart: &Chart,
    values: &Resolved,
    opts: &RenderOptions,
) -> Result<Rendered, RenderError> {
    let version = crate::chart::constraint::parse_lenient(&opts.kube_version)
        .map_err(|_| RenderError::KubeVersion(opts.kube_version.clone()))?;
    let kube = json!({
        "Version": format!("v{}.{}.{}", version.major, version.minor, version.patch),
        "GitVersion": format!("v{version}"),
        "Major": version.major.to_string(),
        "Minor": version.minor.to_string(),
    });
    let mut out = Rendered::default();
    helpers::start_warnings();
    lookup::start(opts.lookups.as_ref());
    let rendered = render_into(
        chart,
        values,
        opts,
        &kube,
        &version,
        chart.name(),
        true,
        &mut out,
    );
    out.warnings = helpers::take_warnings();
    (out.lookups_wanted, out.lookups) = lookup::finish();
    rendered?;
    manifest::check_duplicates(&out.manifests, &opts.namespace)?;
    manifest::sort_for_install(&mut out.manifests);
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
fn render_into<'c>(
    chart: &'c Chart,
    values: &Resolved,
    opts: &RenderOptions,
    kube: &Value,
    version: &semver::Version,
    prefix: &str,
    top: bool,
    out: &mut Rendered,
) -> Result<(), RenderError> {
    if let Some(c) = &chart.metadata.kube_version {
        if let Ok(constraint) = crate::chart::constraint::Constraint::parse(c) {
            if !constraint.matches(version) {
                return Err(RenderError::KubeVersionMismatch {
                    chart: chart.name().to_string(),
                    constraint: c.clone(),
                    version: opts.kube_version.clone(),
                });
            }
        }
    }
    let application = chart.metadata.chart_type == ChartType::Application;
    let own: Vec<&crate::chart::Template> = if application {
        chart.templates.iter().collect()
    } else {
        Vec::new()
    };
    // NOTES.txt compiles with the templates, on every core, not after them.
    let notes = chart.notes.as_ref().filter(|_| top && application);
    let item = |t: &'c crate::chart::Template| compile::Item {
        chart,
        path: &t.path,
        name: format!("{prefix}/{}", t.path),
        source: &t.source,
    };
    let batch: Vec<compile::Item> = own.iter().copied().chain(notes).map(item).collect();
    let sources: Vec<String> = batch
        .iter()
        .take(own.len())
        .map(|t| t.name.clone())
        .collect();
    let (mut hb, names, mut compiled) = registry(chart, prefix, &batch)?;
    // Compiled last, so it is the last result.
    let notes = notes.and_then(|n| Some((compiled.pop()?, format!("{prefix}/{}", n.path))));
    let mut ctx = Context::wraps(json!({
        "Values": values.values,
        "Release": {
            "Name": opts.release_name,
            "Namespace": opts.namespace,
            "Revision": opts.revision,
            "IsInstall": opts.is_install,
            "IsUpgrade": !opts.is_install,
            "Service": crate::TOOL_NAME,
        },
        "Chart": chart_context(chart),
        "Capabilities": {
            "KubeVersion": kube,
            "APIVersions": opts.api_versions,
        },
        "Template": {"Name": "", "BasePath": format!("{prefix}/templates")},
    }))
    .map_err(|e| convert(e, &names, prefix))?;

    if application {
        for (full, compiled) in sources.iter().zip(compiled) {
            hb.register_template(full, compiled.map_err(|e| convert_parse(e, full))?);
        }
        // NOTES.txt renders with the templates, after them; its compile
        // error comes after theirs.
        let (notes, notes_error) = match notes {
            Some((Ok(compiled), full)) => {
                hb.register_template(&full, compiled);
                (Some(full), None)
            }
            Some((Err(e), full)) => (None, Some(convert_parse(e, &full))),
            None => (None, None),
        };
        let fulls: Vec<&str> = sources.iter().map(String::as_str).collect();
        let text = each::render_templates(
            &hb,
            &mut ctx,
            &names,
            &fulls,
            notes.as_deref(),
            opts.lookups.as_ref(),
            &mut out.manifests,
        )?;
        if let Some(e) = notes_error {
            return Err(e);
        }
        // Only the parent's (subcharts have none rendered).
        if text.is_some() {
            out.notes = text;
        }
    }
    for (sub, r) in chart.subcharts.iter().zip(&values.subcharts) {
        if r.enabled {
            let p = format!("{prefix}/charts/{}", sub.chart.name());
            render_into(&sub.chart, &r.values, opts, kube, version, &p, false, out)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart_with_notes(notes: &str) -> crate::chart::Chart {
        crate::chart::load::from_texts(&[
            ("Chart.yaml", "apiVersion: v2\nname: nt\nversion: 1.0.0\n"),
            (
                "templates/cm.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{Release.Name}}\n",
            ),
            ("templates/NOTES.txt", notes),
        ])
        .unwrap()
    }

    #[test]
    fn notes_render_after_the_templates_and_name_themselves_in_errors() {
        let opts = RenderOptions::offline("rel", "ns");
        let chart = chart_with_notes("{{Release.Name}} from {{Template.Name}}\n");
        let values = crate::values::resolve(&chart, &Default::default()).unwrap();
        let r = render(&chart, &values, &opts).unwrap();
        assert_eq!(
            r.notes.as_deref(),
            Some("rel from nt/templates/NOTES.txt\n")
        );
        assert_eq!(r.manifests.len(), 1);
        let chart = chart_with_notes("ok\n{{#if x}}never closed\n");
        let values = crate::values::resolve(&chart, &Default::default()).unwrap();
        let e = render(&chart, &values, &opts).unwrap_err().to_string();
        assert!(e.starts_with("nt/templates/NOTES.txt line 3"), "{e}");
        // NOTES.txt compiles with the templates, but its error still comes
        // after theirs: the template's render error is the one reported.
        let mut chart = chart;
        chart.templates[0].source = "v: {{Values.missing}}\n".into();
        let e = render(&chart, &values, &opts).unwrap_err().to_string();
        assert!(e.starts_with("nt/templates/cm.yaml"), "{e}");
    }

    /// A parent with a partial, a template, NOTES.txt and a subchart with
    /// its own partial and template.
    const TREE: &[(&str, &str)] = &[
        (
            "Chart.yaml",
            "apiVersion: v2\nname: top\nversion: 1.0.0\ndependencies:\n  - name: sub\n",
        ),
        ("values.yaml", "count: 2\n"),
        ("templates/_name.tpl", "{{@root.Release.Name}}-{{@root.Chart.Name}}"),
        (
            "templates/cms.yaml",
            "{{#each (range Values.count) as |i|}}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{> name}}-{{i}}\n{{/each}}\n",
        ),
        ("templates/NOTES.txt", "{{> name}} from {{Template.Name}}\n"),
        ("charts/sub/Chart.yaml", "apiVersion: v2\nname: sub\nversion: 1.0.0\n"),
        ("charts/sub/templates/_sub.tpl", "{{Chart.Name}}-x"),
        (
            "charts/sub/templates/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{> sub}}\n",
        ),
    ];

    fn stream_and_notes(chart: &crate::chart::Chart) -> (String, Option<String>) {
        let values = crate::values::resolve(chart, &Default::default()).unwrap();
        let r = render(chart, &values, &RenderOptions::offline("rel", "ns")).unwrap();
        (r.to_stream(), r.notes)
    }

    #[test]
    fn a_chart_loaded_to_render_hands_its_compiled_templates_to_the_first_render() {
        let plain = stream_and_notes(&crate::chart::load::from_texts(TREE).unwrap());
        assert!(plain.0.contains("name: rel-top-1"), "{}", plain.0);
        assert!(plain.0.contains("name: sub-x"), "{}", plain.0);
        let chart = crate::chart::load::from_texts_to_render(TREE).unwrap();
        let store = |c: &crate::chart::Chart| c.precompiled.as_ref().unwrap().left();
        // The parent's template, partial and notes; the subchart's two.
        assert_eq!(store(&chart), 3);
        assert_eq!(store(&chart.subcharts[0].chart), 2);
        let compiled = || compile::COMPILED.with(std::cell::Cell::get);
        let before = compiled();
        assert_eq!(stream_and_notes(&chart), plain);
        // All taken by that render; only the subchart's partial, taken for
        // the parent's registry, is compiled again for the subchart's.
        assert_eq!(compiled() - before, 1);
        assert_eq!(store(&chart), 0);
        assert_eq!(store(&chart.subcharts[0].chart), 0);
        // Later renders compile their own: the parent's three, the
        // subchart's partial for the parent, and the subchart's two.
        assert_eq!(stream_and_notes(&chart), plain);
        assert_eq!(compiled() - before, 1 + 6);
    }

    #[test]
    fn a_template_changed_after_loading_renders_its_new_text() {
        let mut chart = crate::chart::load::from_texts_to_render(TREE).unwrap();
        chart.templates[0].source = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n".into();
        chart.partials[0].source = "p".into();
        let (stream, notes) = stream_and_notes(&chart);
        assert!(stream.contains("kind: Secret"), "{stream}");
        assert!(!stream.contains("rel-top-0"), "{stream}");
        assert_eq!(notes.as_deref(), Some("p from top/templates/NOTES.txt\n"));
        // A template that does not compile fails as it does when compiled
        // by the render.
        let broken: Vec<(&str, &str)> = TREE
            .iter()
            .map(|&(p, t)| {
                if p == "templates/cms.yaml" {
                    (p, "{{#if x}}\nnever closed")
                } else {
                    (p, t)
                }
            })
            .collect();
        let values =
            |c: &crate::chart::Chart| crate::values::resolve(c, &Default::default()).unwrap();
        let opts = RenderOptions::offline("rel", "ns");
        let plain = crate::chart::load::from_texts(&broken).unwrap();
        let pre = crate::chart::load::from_texts_to_render(&broken).unwrap();
        let want = render(&plain, &values(&plain), &opts)
            .unwrap_err()
            .to_string();
        let got = render(&pre, &values(&pre), &opts).unwrap_err().to_string();
        assert!(want.starts_with("top/templates/cms.yaml line 2"), "{want}");
        assert_eq!(got, want);
    }

    #[test]
    fn finds_partial_references_and_cycles() {
        let r = references("{{> labels}} {{~> other~}} {{nindent 2 (include \"sel\" this)}}");
        assert_eq!(
            r.into_iter().collect::<Vec<_>>(),
            ["labels", "other", "sel"]
        );
        let mut g = BTreeMap::new();
        g.insert("a".to_string(), BTreeSet::from(["b".to_string()]));
        g.insert("b".to_string(), BTreeSet::from(["a".to_string()]));
        assert_eq!(find_cycle(&g).unwrap(), ["a", "b", "a"]);
        g.insert("b".to_string(), BTreeSet::new());
        assert!(find_cycle(&g).is_none());
    }
}
