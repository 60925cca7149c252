//! Loading charts from directories and archives into [`Chart`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::constraint::Constraint;
use super::precompile::Precompiled;
use super::{
    Chart, ChartError, ChartFile, Files, Metadata, Subchart, Template, MAX_FILE_SIZE,
    MAX_TOTAL_SIZE,
};
use crate::package;

/// What a load does ahead for a render that follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ahead {
    /// Nothing: the chart is read, not rendered.
    Nothing,
    /// Its templates are compiled as it loads (a subchart of a chart
    /// loaded to render).
    Compile,
    /// Its templates are compiled as it loads, and its values schema on
    /// another core meanwhile (a chart loaded to render).
    CompileAndSchema,
}

impl Ahead {
    /// What this chart's subcharts do: their schemas compile on the loading
    /// thread, which has the other core's schema to wait for anyway. One
    /// thread besides this one: with one more per chart and per job, on two
    /// cores the loading thread waited a time slice (3 to 6 ms) for a core.
    fn for_subcharts(self) -> Ahead {
        match self {
            Ahead::CompileAndSchema => Ahead::Compile,
            other => other,
        }
    }
}

/// Loads a chart from a directory or a `.tgz` archive.
pub fn load(path: &Path) -> Result<Chart, ChartError> {
    load_with(path, Ahead::Nothing)
}

/// Loads a chart that is about to be rendered: as [`load`], and its
/// templates (and its subcharts') are compiled while its values schema
/// compiles on another core, so the first render finds them compiled.
pub fn load_to_render(path: &Path) -> Result<Chart, ChartError> {
    load_with(path, Ahead::CompileAndSchema)
}

fn load_with(path: &Path, ahead: Ahead) -> Result<Chart, ChartError> {
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => ChartError::NotFound(path.to_path_buf()),
        _ => ChartError::Io {
            path: path.to_path_buf(),
            source: e,
        },
    })?;
    if meta.is_dir() {
        let files = read_dir_files(path)?;
        from_files(files, path, Some(path), ahead)
    } else {
        let bytes = package::read_limited(path)?;
        let files = package::read_archive(&bytes, path)?;
        from_files(files, path, None, ahead)
    }
}

/// Loads a chart from a directory, honouring `.windlassignore` and `.helmignore`.
pub fn load_dir(dir: &Path) -> Result<Chart, ChartError> {
    let files = read_dir_files(dir)?;
    from_files(files, dir, Some(dir), Ahead::Nothing)
}

/// Loads a chart from archive bytes; `origin` names it in messages.
pub fn load_archive_bytes(bytes: &[u8], origin: &Path) -> Result<Chart, ChartError> {
    load_archive_bytes_with(bytes, origin, Ahead::Nothing)
}

fn load_archive_bytes_with(bytes: &[u8], origin: &Path, ahead: Ahead) -> Result<Chart, ChartError> {
    let files = package::read_archive(bytes, origin)?;
    from_files(files, origin, None, ahead)
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ChartError + '_ {
    move |source| ChartError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn read_dir_files(dir: &Path) -> Result<Files, ChartError> {
    if !dir.join("Chart.yaml").is_file() {
        return Err(ChartError::MissingChartYaml(dir.to_path_buf()));
    }
    let mut builder = ignore::WalkBuilder::new(dir);
    builder
        .standard_filters(false)
        .hidden(false)
        .follow_links(false)
        .add_custom_ignore_filename(".windlassignore")
        .add_custom_ignore_filename(".helmignore")
        .filter_entry(|e| e.file_name() != ".git");
    let mut files = Files::new();
    let mut total: u64 = 0;
    for entry in builder.build() {
        let entry = entry.map_err(|e| ChartError::Io {
            path: dir.to_path_buf(),
            source: std::io::Error::other(e.to_string()),
        })?;
        let path = entry.path();
        let Some(ft) = entry.file_type() else {
            continue;
        };
        if ft.is_symlink() {
            return Err(ChartError::Symlink(path.to_path_buf()));
        }
        if !ft.is_file() {
            continue;
        }
        let rel = path
            .strip_prefix(dir)
            .map_err(|_| ChartError::Symlink(path.to_path_buf()))?;
        let rel = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/");
        let meta = std::fs::metadata(path).map_err(io_err(path))?;
        if meta.len() > MAX_FILE_SIZE {
            return Err(ChartError::FileTooLarge {
                path: path.to_path_buf(),
                size: meta.len(),
            });
        }
        total += meta.len();
        if total > MAX_TOTAL_SIZE {
            return Err(ChartError::TooLarge(dir.to_path_buf()));
        }
        let data = std::fs::read(path).map_err(io_err(path))?;
        files.insert(
            rel,
            ChartFile {
                data,
                executable: is_executable(&meta),
            },
        );
    }
    Ok(files)
}

#[cfg(unix)]
fn is_executable(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
fn is_executable(_meta: &std::fs::Metadata) -> bool {
    false
}

/// The Chart.yaml schema, compiled with windlass itself (the schema file is
/// read at build time), so a load does not compile it again.
#[jsonschema::validator(path = "schemas/chart.schema.json")]
struct ChartSchema;

fn text(files: &Files, name: &str, origin: &Path) -> Result<Option<String>, ChartError> {
    match files.get(name) {
        None => Ok(None),
        Some(f) => String::from_utf8(f.data.clone())
            .map(Some)
            .map_err(|_| not_text(origin.join(name))),
    }
}

fn not_text(path: PathBuf) -> ChartError {
    ChartError::Invalid {
        path,
        problems: vec!["not valid UTF-8 text".into()],
    }
}

/// Validates and parses `Chart.yaml` text.
pub(crate) fn parse_metadata(text: &str, path: &Path) -> Result<Metadata, ChartError> {
    let doc = crate::yaml::parse(text).map_err(|error| ChartError::Yaml {
        path: path.to_path_buf(),
        error,
    })?;
    let problems: Vec<String> = ChartSchema::iter_errors(&doc)
        .map(|e| {
            let at = e.instance_path().to_string();
            if at.is_empty() {
                e.to_string()
            } else {
                format!("{at}: {e}")
            }
        })
        .collect();
    if !problems.is_empty() {
        return Err(ChartError::Invalid {
            path: path.to_path_buf(),
            problems,
        });
    }
    let meta: Metadata = serde_json::from_value(doc).map_err(|e| ChartError::Invalid {
        path: path.to_path_buf(),
        problems: vec![e.to_string()],
    })?;
    let mut problems = Vec::new();
    if let Err(e) = semver::Version::parse(&meta.version) {
        problems.push(format!("/version: `{}` is not SemVer 2: {e}", meta.version));
    }
    if let Some(kv) = &meta.kube_version {
        if let Err(e) = Constraint::parse(kv) {
            problems.push(format!("/kubeVersion: {e}"));
        }
    }
    for (i, d) in meta.dependencies.iter().enumerate() {
        if let Some(v) = &d.version {
            if let Err(e) = Constraint::parse(v) {
                problems.push(format!("/dependencies/{i}/version: {e}"));
            }
        }
    }
    if problems.is_empty() {
        Ok(meta)
    } else {
        Err(ChartError::Invalid {
            path: path.to_path_buf(),
            problems,
        })
    }
}

/// A chart's templates, partials and `NOTES.txt`, in that order.
type Templates = (Vec<Template>, Vec<Template>, Option<Template>);

fn read_templates(files: &Files, origin: &Path) -> Result<Templates, ChartError> {
    let mut templates = Vec::new();
    let mut partials: Vec<Template> = Vec::new();
    let mut notes = None;
    for path in files.keys().filter(|p| p.starts_with("templates/")) {
        // Every file there must be text, rendered or not.
        let Some(source) = text(files, path, origin)? else {
            continue;
        };
        let Some(kind) = template_kind(path) else {
            continue;
        };
        match kind {
            TemplateKind::Notes => {
                notes = Some(Template {
                    name: path.clone(),
                    path: path.clone(),
                    source,
                })
            }
            TemplateKind::Partial(name) => {
                if let Some(other) = partials.iter().find(|p| p.name == name) {
                    return Err(ChartError::Invalid {
                        path: origin.join(path),
                        problems: vec![format!(
                            "partial `{name}` is already defined by {}",
                            other.path
                        )],
                    });
                }
                partials.push(Template {
                    name,
                    path: path.clone(),
                    source,
                });
            }
            TemplateKind::Manifests => templates.push(Template {
                name: path.clone(),
                path: path.clone(),
                source,
            }),
        }
    }
    Ok((templates, partials, notes))
}

/// `values.schema.json`, parsed, and compiled (which also checks it against
/// its meta-schema); `None` when the chart has none.
type ValuesSchema = Option<(Value, jsonschema::Validator)>;

fn values_schema(file: Option<&ChartFile>, origin: &Path) -> Result<ValuesSchema, ChartError> {
    let Some(file) = file else {
        return Ok(None);
    };
    let path = origin.join("values.schema.json");
    let Ok(t) = std::str::from_utf8(&file.data) else {
        return Err(not_text(path));
    };
    let v: Value = serde_json::from_str(t).map_err(|e| ChartError::Json {
        path: path.clone(),
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })?;
    match jsonschema::validator_for(&v) {
        Err(e) => Err(ChartError::Invalid {
            path,
            problems: vec![format!("not a valid JSON Schema: {e}")],
        }),
        Ok(compiled) => Ok(Some((v, compiled))),
    }
}

/// Starts compiling the chart's values schema on a thread of its own, for
/// [`from_files`] to wait for once the rest is loaded: a large schema takes
/// longer to compile than everything else a load does on this thread.
/// `None` when there is no schema or no thread could be started.
fn start_values_schema(
    files: &Files,
    origin: &Path,
) -> Option<std::thread::JoinHandle<Result<ValuesSchema, ChartError>>> {
    let file = files.get("values.schema.json")?.clone();
    let origin = origin.to_path_buf();
    let handle = std::thread::Builder::new()
        .name("values-schema".into())
        .spawn(move || values_schema(Some(&file), &origin))
        .ok()?;
    crate::cores::make_room();
    Some(handle)
}

/// What a file under `templates/` is to the renderer.
enum TemplateKind {
    /// `templates/NOTES.txt`.
    Notes,
    /// A partial, by its registered name.
    Partial(String),
    /// A template of manifests (`.yaml`, `.yml`).
    Manifests,
}

/// What the file at `path` is, or `None` when it is not rendered.
fn template_kind(path: &str) -> Option<TemplateKind> {
    if !path.starts_with("templates/") {
        return None;
    }
    let file_name = path.rsplit('/').next().unwrap_or(path);
    if path == "templates/NOTES.txt" {
        Some(TemplateKind::Notes)
    } else if let Some(name) = partial_name(file_name) {
        Some(TemplateKind::Partial(name))
    } else if file_name.ends_with(".yaml") || file_name.ends_with(".yml") {
        Some(TemplateKind::Manifests)
    } else {
        None
    }
}

/// Partial name for `templates/_labels.yaml` (`labels`), or `None` when the
/// file is not a partial.
fn partial_name(file_name: &str) -> Option<String> {
    let rest = file_name.strip_prefix('_')?;
    let stem = [".yaml", ".yml", ".tpl", ".hbs", ".txt"]
        .iter()
        .find_map(|ext| rest.strip_suffix(ext))
        .unwrap_or(rest);
    Some(stem.to_string())
}

pub(crate) fn from_files(
    files: Files,
    origin: &Path,
    dir: Option<&Path>,
    ahead: Ahead,
) -> Result<Chart, ChartError> {
    // Started before anything is checked, so the schema compiles while
    // Chart.yaml, the values and the templates are read and the templates
    // compiled; a file that is no text is left to the checks below. Not on
    // a single core, where the two would only take turns.
    let schema_job = (ahead == Ahead::CompileAndSchema && crate::cores::cores() > 1)
        .then(|| start_values_schema(&files, origin))
        .flatten();
    let chart_yaml = text(&files, "Chart.yaml", origin)?
        .ok_or_else(|| ChartError::MissingChartYaml(origin.into()))?;
    let metadata = parse_metadata(&chart_yaml, &origin.join("Chart.yaml"))?;

    let values = match text(&files, "values.yaml", origin)? {
        None => Value::Object(Default::default()),
        Some(t) => match crate::yaml::parse(&t) {
            Ok(Value::Null) => Value::Object(Default::default()),
            Ok(v @ Value::Object(_)) => v,
            Ok(_) => {
                return Err(ChartError::Invalid {
                    path: origin.join("values.yaml"),
                    problems: vec!["the top level must be a map of values".into()],
                })
            }
            Err(error) => {
                return Err(ChartError::Yaml {
                    path: origin.join("values.yaml"),
                    error,
                })
            }
        },
    };

    // What follows is checked while the schema compiles; its errors come
    // after the schema's, as they did when the schema was compiled here.
    let rest = read_templates(&files, origin).and_then(|templates| {
        let subcharts = load_subcharts(&files, &metadata, origin, dir, ahead.for_subcharts())?;
        Ok((templates, subcharts))
    });
    let precompiled = match &rest {
        Ok(((templates, partials, notes), _)) if ahead != Ahead::Nothing => {
            let items = templates.iter().chain(partials).chain(notes);
            let items = items.map(|t| (t.path.clone(), t.source.clone())).collect();
            Some(std::sync::Arc::new(Precompiled::compile(items)))
        }
        _ => None,
    };
    let compiled_schema = match schema_job {
        Some(job) => job
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))?,
        None => values_schema(files.get("values.schema.json"), origin)?,
    }
    .map(std::sync::Arc::new);
    let schema = compiled_schema.as_ref().map(|c| c.0.clone());
    let ((templates, partials, notes), subcharts) = rest?;

    Ok(Chart {
        metadata,
        values,
        schema,
        templates,
        partials,
        notes,
        subcharts,
        files,
        origin: origin.to_path_buf(),
        compiled_schema,
        precompiled,
    })
}

fn load_subcharts(
    files: &Files,
    metadata: &Metadata,
    origin: &Path,
    dir: Option<&Path>,
    ahead: Ahead,
) -> Result<Vec<Subchart>, ChartError> {
    // Subcharts present under charts/, by their Chart.yaml name.
    let mut dirs: BTreeMap<String, Files> = BTreeMap::new();
    let mut found: Vec<Chart> = Vec::new();
    for (path, file) in files {
        let Some(rest) = path.strip_prefix("charts/") else {
            continue;
        };
        match rest.split_once('/') {
            Some((sub, inner)) => {
                dirs.entry(sub.to_string())
                    .or_default()
                    .insert(inner.to_string(), file.clone());
            }
            None if rest.ends_with(".tgz") => {
                let sub_origin = origin.join(path);
                found.push(load_archive_bytes_with(&file.data, &sub_origin, ahead)?);
            }
            None => {}
        }
    }
    for (sub, sub_files) in dirs {
        let sub_origin = origin.join("charts").join(&sub);
        let sub_dir = dir.map(|d| d.join("charts").join(&sub));
        found.push(from_files(
            sub_files,
            &sub_origin,
            sub_dir.as_deref(),
            ahead,
        )?);
    }

    let dep_err = |name: &str, problem: String| ChartError::Dependency {
        chart: origin.to_path_buf(),
        name: name.to_string(),
        problem,
    };
    let mut used = vec![false; found.len()];
    let mut subcharts = Vec::new();
    for dep in &metadata.dependencies {
        let idx = found.iter().position(|c| c.metadata.name == dep.name);
        let chart = match (idx, dep.repository.as_deref()) {
            (Some(i), _) => {
                used[i] = true;
                found[i].clone()
            }
            (None, Some(repo)) if repo.starts_with("file://") => {
                let Some(dir) = dir else {
                    return Err(dep_err(
                        &dep.name,
                        format!("not packaged under charts/ (repository {repo} is only read from a chart directory)"),
                    ));
                };
                let target = dir.join(repo.trim_start_matches("file://"));
                load_with(&target, ahead)
                    .map_err(|e| dep_err(&dep.name, format!("loading {repo}: {e}")))?
            }
            (None, Some(repo)) if !repo.is_empty() => {
                return Err(dep_err(
                    &dep.name,
                    format!("not found under charts/; windlass reads dependencies from charts/ or file:// only (repository {repo})"),
                ))
            }
            (None, _) => {
                return Err(dep_err(&dep.name, "not found under charts/".into()));
            }
        };
        if let Some(req) = &dep.version {
            // Constraint syntax was validated with the metadata.
            if let Ok(c) = Constraint::parse(req) {
                if !c.matches(&chart.metadata.semver()) {
                    return Err(dep_err(
                        &dep.name,
                        format!(
                            "version {} does not satisfy `{req}`",
                            chart.metadata.version
                        ),
                    ));
                }
            }
        }
        subcharts.push(Subchart {
            key: dep.alias.clone().unwrap_or_else(|| dep.name.clone()),
            condition: dep.condition.clone(),
            chart,
        });
    }
    for (chart, used) in found.into_iter().zip(used) {
        if !used {
            subcharts.push(Subchart {
                key: chart.metadata.name.clone(),
                condition: None,
                chart,
            });
        }
    }
    Ok(subcharts)
}

/// Chart files from `(path, text)` pairs, for unit tests.
#[cfg(test)]
fn files_of(entries: &[(&str, &str)]) -> Files {
    entries
        .iter()
        .map(|(path, text)| {
            let file = ChartFile {
                data: text.as_bytes().to_vec(),
                executable: false,
            };
            (path.to_string(), file)
        })
        .collect()
}

/// A chart of in-memory files (`(path, text)`), for unit tests elsewhere in
/// the crate.
#[cfg(test)]
pub(crate) fn from_texts(entries: &[(&str, &str)]) -> Result<Chart, ChartError> {
    from_files(files_of(entries), Path::new("test"), None, Ahead::Nothing)
}

/// As [`from_texts`], loaded to be rendered (templates compiled while it
/// loads).
#[cfg(test)]
pub(crate) fn from_texts_to_render(entries: &[(&str, &str)]) -> Result<Chart, ChartError> {
    from_files(
        files_of(entries),
        Path::new("test"),
        None,
        Ahead::CompileAndSchema,
    )
}

#[cfg(test)]
#[path = "load_tests.rs"]
mod tests;
