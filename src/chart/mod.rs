//! The chart model: `Chart.yaml` metadata, default values, schema, templates
//! and subcharts, loaded from a directory or an archive into memory.

pub mod constraint;
pub(crate) mod load;
pub(crate) mod precompile;
pub mod starter;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use load::{load, load_archive_bytes, load_dir, load_to_render};

/// The JSON Schema of `Chart.yaml`, shipped in `schemas/` for editors too.
pub const CHART_SCHEMA: &str = include_str!("../../schemas/chart.schema.json");

/// Largest single file a chart may hold (also enforced when reading archives).
pub const MAX_FILE_SIZE: u64 = 5 * 1024 * 1024;
/// Largest total size of a chart's files, decompressed.
pub const MAX_TOTAL_SIZE: u64 = 100 * 1024 * 1024;

/// One file of a chart, as it will be packaged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChartFile {
    /// The file's bytes.
    pub data: Vec<u8>,
    /// Whether any execute bit was set; packaged as mode 0755 instead of 0644.
    pub executable: bool,
}

/// A chart's files keyed by their `/`-separated path relative to the chart root.
pub type Files = BTreeMap<String, ChartFile>;

/// A maintainer entry of `Chart.yaml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Maintainer {
    /// Name.
    pub name: String,
    /// E-mail address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Home page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// A dependency entry of `Chart.yaml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dependency {
    /// The subchart's name (its `Chart.yaml` name).
    pub name: String,
    /// Version constraint the subchart must satisfy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// `file://PATH` relative to the chart, or empty for `charts/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    /// Comma-separated values paths; the first that resolves to a boolean
    /// switches the subchart on or off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    /// The key the subchart is known by in values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    /// Tags (accepted for Helm compatibility, not evaluated).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

/// `application` renders manifests; `library` only provides partials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChartType {
    /// A chart that renders manifests.
    #[default]
    Application,
    /// A chart whose partials other charts use.
    Library,
}

/// `Chart.yaml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    /// Always `v2`.
    pub api_version: String,
    /// DNS-1123 label.
    pub name: String,
    /// SemVer 2 version string.
    pub version: String,
    /// Application version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_version: Option<Value>,
    /// One-line description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Chart type.
    #[serde(default, rename = "type")]
    pub chart_type: ChartType,
    /// Kubernetes version constraint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kube_version: Option<String>,
    /// Keywords.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keywords: Vec<String>,
    /// Home page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub home: Option<String>,
    /// Source URLs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<String>,
    /// Maintainers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub maintainers: Vec<Maintainer>,
    /// Icon URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon: Option<String>,
    /// Deprecated flag.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deprecated: bool,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Dependencies.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dependencies: Vec<Dependency>,
}

impl Metadata {
    /// The parsed chart version (validated at load time).
    pub fn semver(&self) -> semver::Version {
        semver::Version::parse(&self.version).unwrap_or_else(|_| semver::Version::new(0, 0, 0))
    }

    /// `appVersion` as text.
    pub fn app_version_string(&self) -> Option<String> {
        self.app_version.as_ref().map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    }
}

/// A template file of a chart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    /// Path relative to the chart (`templates/statefulset.yaml`); for a
    /// partial, the name it is registered under.
    pub name: String,
    /// Path relative to the chart, for messages.
    pub path: String,
    /// Handlebars source.
    pub source: String,
}

/// A subchart as its parent uses it.
#[derive(Debug, Clone)]
pub struct Subchart {
    /// Key in the parent's values (alias or name).
    pub key: String,
    /// Condition paths from the dependency entry.
    pub condition: Option<String>,
    /// The loaded subchart.
    pub chart: Chart,
}

/// A chart loaded in memory.
#[derive(Debug, Clone)]
pub struct Chart {
    /// `Chart.yaml`.
    pub metadata: Metadata,
    /// `values.yaml` as written (explicit nulls kept: they are defaults).
    pub values: Value,
    /// `values.schema.json`, if any.
    pub schema: Option<Value>,
    /// Templates rendered to manifests, sorted by path.
    pub templates: Vec<Template>,
    /// Partials (files starting with `_`), by registered name.
    pub partials: Vec<Template>,
    /// `templates/NOTES.txt`.
    pub notes: Option<Template>,
    /// Subcharts in dependency order.
    pub subcharts: Vec<Subchart>,
    /// Every file of the chart, as packaged.
    pub files: Files,
    /// Where the chart came from (directory or archive path), for messages.
    pub origin: PathBuf,
    /// `schema` as loaded, compiled: loading compiles it to check it, and
    /// a large schema takes milliseconds to compile, so values are checked
    /// with this one while `schema` is still what it was compiled from.
    pub(crate) compiled_schema: Option<std::sync::Arc<(Value, jsonschema::Validator)>>,
    /// The templates, partials and `NOTES.txt`, compiled while the chart
    /// loaded, when it was loaded to be rendered.
    pub(crate) precompiled: Option<std::sync::Arc<precompile::Precompiled>>,
}

impl Chart {
    /// The chart's name.
    pub fn name(&self) -> &str {
        &self.metadata.name
    }

    /// The compiled form of `schema`, if it was compiled at load and has
    /// not been replaced since.
    pub(crate) fn compiled_schema_for(&self, schema: &Value) -> Option<&jsonschema::Validator> {
        self.compiled_schema
            .as_deref()
            .filter(|(loaded, _)| loaded == schema)
            .map(|(_, v)| v)
    }

    /// `README.md` of the chart, if any.
    pub fn readme(&self) -> Option<String> {
        ["README.md", "README.txt", "README"]
            .iter()
            .find_map(|n| self.files.get(*n))
            .map(|f| String::from_utf8_lossy(&f.data).into_owned())
    }
}

/// Why a chart could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    /// The path does not exist.
    #[error("{0}: no such chart directory or archive")]
    NotFound(PathBuf),
    /// A file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// No `Chart.yaml` at the chart root.
    #[error("{0}: Chart.yaml is missing (is this a chart directory?)")]
    MissingChartYaml(PathBuf),
    /// A YAML file did not parse.
    #[error("{path}: {error}")]
    Yaml {
        /// The file.
        path: PathBuf,
        /// The parser's error.
        error: crate::yaml::YamlError,
    },
    /// A JSON file did not parse.
    #[error("{path}: line {line}, column {column}: {message}")]
    Json {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The parser's error.
        message: String,
    },
    /// A file's content breaks the rules of its format.
    #[error("{path}: {}", problems.join("; "))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Every problem found.
        problems: Vec<String>,
    },
    /// Symbolic links are refused: they could point outside the chart.
    #[error("{0}: symbolic links are not allowed in charts")]
    Symlink(PathBuf),
    /// A file is over [`MAX_FILE_SIZE`].
    #[error("{path}: file is {size} bytes; a chart file may be at most {MAX_FILE_SIZE} bytes")]
    FileTooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        size: u64,
    },
    /// The chart's files add up to more than [`MAX_TOTAL_SIZE`].
    #[error("{0}: the chart's files add up to more than {MAX_TOTAL_SIZE} bytes")]
    TooLarge(PathBuf),
    /// A dependency could not be resolved.
    #[error("{chart}: dependency `{name}`: {problem}")]
    Dependency {
        /// The parent chart.
        chart: PathBuf,
        /// The dependency's name.
        name: String,
        /// What is wrong.
        problem: String,
    },
    /// The archive was refused.
    #[error(transparent)]
    Archive(#[from] crate::package::ArchiveError),
}
