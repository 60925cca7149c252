//! Helm-compatible repository `index.yaml`.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::{read_limited, sha256_hex, PackageError};
use crate::chart::{load_archive_bytes, ChartError};

/// One chart version in the index. Read leniently: indexes written by
/// other tools leave out what they do not know.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IndexEntry {
    /// Chart API version.
    #[serde(default)]
    pub api_version: String,
    /// Chart name.
    pub name: String,
    /// Chart version.
    pub version: String,
    /// Application version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_version: Option<String>,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Chart type.
    #[serde(default, rename = "type")]
    pub chart_type: crate::chart::ChartType,
    /// Kubernetes constraint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kube_version: Option<String>,
    /// Keywords.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keywords: Vec<String>,
    /// Home page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub home: Option<String>,
    /// Icon.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon: Option<String>,
    /// Deprecated.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deprecated: bool,
    /// RFC 3339 time of indexing.
    #[serde(default)]
    pub created: String,
    /// Hex sha256 of the archive.
    #[serde(default)]
    pub digest: String,
    /// Where to download it.
    #[serde(default)]
    pub urls: Vec<String>,
}

/// A repository index (`index.yaml`, apiVersion v1).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    /// Always `v1`.
    pub api_version: String,
    /// Chart name -> versions, newest first.
    pub entries: BTreeMap<String, Vec<IndexEntry>>,
    /// RFC 3339 time of generation.
    #[serde(default)]
    pub generated: String,
}

impl Index {
    /// The index as YAML.
    pub fn to_yaml(&self) -> String {
        serde_yaml::to_string(self).unwrap_or_default()
    }
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// Indexes every `*.tgz` in `dir`. Each archive is loaded with the safe
/// reader, so a hostile archive is refused rather than indexed. The time
/// stamps come from `SOURCE_DATE_EPOCH` when set, for reproducible indexes.
pub fn index_dir(dir: &Path, url: Option<&str>) -> Result<Index, PackageError> {
    let now = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) if !v.trim().is_empty() => {
            UNIX_EPOCH + Duration::from_secs(super::source_date_epoch()?)
        }
        _ => SystemTime::now(),
    };
    let created = rfc3339(now);
    let io = |source| PackageError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .map_err(io)?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "tgz") && p.is_file())
        .collect();
    names.sort();
    let mut entries: BTreeMap<String, Vec<IndexEntry>> = BTreeMap::new();
    for path in names {
        let bytes = read_limited(&path).map_err(ChartError::from)?;
        let chart = load_archive_bytes(&bytes, &path)?;
        let file = path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        let link = match url {
            Some(u) => format!("{}/{file}", u.trim_end_matches('/')),
            None => file,
        };
        let m = &chart.metadata;
        entries.entry(m.name.clone()).or_default().push(IndexEntry {
            api_version: m.api_version.clone(),
            name: m.name.clone(),
            version: m.version.clone(),
            app_version: m.app_version_string(),
            description: m.description.clone(),
            chart_type: m.chart_type,
            kube_version: m.kube_version.clone(),
            keywords: m.keywords.clone(),
            home: m.home.clone(),
            icon: m.icon.clone(),
            deprecated: m.deprecated,
            created: created.clone(),
            digest: sha256_hex(&bytes),
            urls: vec![link],
        });
    }
    for versions in entries.values_mut() {
        versions.sort_by(|a, b| {
            let va = semver::Version::parse(&a.version).ok();
            let vb = semver::Version::parse(&b.version).ok();
            vb.cmp(&va)
        });
    }
    Ok(Index {
        api_version: "v1".into(),
        entries,
        generated: created,
    })
}
