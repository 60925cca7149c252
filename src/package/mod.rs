//! Deterministic chart archives, their safe reader, and repository indexes.

mod archive;
mod index;
pub mod provenance;

use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

pub use archive::{read_archive, read_limited, ArchiveError};
pub use index::{index_dir, Index, IndexEntry};

use crate::chart::{Chart, ChartError, ChartFile, Files};

/// Modification time stamped on every entry unless `SOURCE_DATE_EPOCH` is
/// set: 1980-01-01, the earliest time every archive tool accepts.
pub const DEFAULT_MTIME: u64 = 315_532_800;

/// Packaging failed.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    /// Writing the archive failed.
    #[error("{path}: {source}")]
    Io {
        /// The output file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The chart (or the rewritten Chart.yaml) is not valid.
    #[error(transparent)]
    Chart(#[from] ChartError),
    /// `SOURCE_DATE_EPOCH` is not a number of seconds.
    #[error("SOURCE_DATE_EPOCH=`{0}` is not a whole number of seconds")]
    SourceDateEpoch(String),
}

/// The mtime to stamp: `SOURCE_DATE_EPOCH` when set, else [`DEFAULT_MTIME`].
pub fn source_date_epoch() -> Result<u64, PackageError> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .parse()
            .map_err(|_| PackageError::SourceDateEpoch(v)),
        _ => Ok(DEFAULT_MTIME),
    }
}

/// The hex sha256 of some bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(bytes);
    // One formatted write, not a String per byte (a render's `sha256sum`
    // calls this for every object).
    format!("{:x}", h.finalize())
}

/// Builds the `.tgz` bytes of a chart named `name` holding `files`: entries
/// sorted, under `name/`, uid/gid 0, modes 0644/0755, a fixed mtime, and a
/// gzip header with neither file name nor time. The same files always give
/// the same bytes.
pub fn archive_bytes(name: &str, files: &Files, mtime: u64) -> std::io::Result<Vec<u8>> {
    let gz = flate2::GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        .write(Vec::new(), flate2::Compression::best());
    let mut tar = tar::Builder::new(gz);
    tar.mode(tar::HeaderMode::Deterministic);
    // BTreeMap iteration is already sorted by path.
    for (path, file) in files {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(file.data.len() as u64);
        header.set_mode(if file.executable { 0o755 } else { 0o644 });
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(mtime);
        tar.append_data(&mut header, format!("{name}/{path}"), file.data.as_slice())?;
    }
    let gz = tar.into_inner()?;
    let mut out = gz.finish()?;
    out.flush()?;
    Ok(out)
}

/// Overrides applied to `Chart.yaml` while packaging.
#[derive(Debug, Clone, Default)]
pub struct PackageOptions {
    /// Replace `version`.
    pub version: Option<String>,
    /// Replace `appVersion`.
    pub app_version: Option<String>,
}

/// A written package.
#[derive(Debug, Clone)]
pub struct Packaged {
    /// Where it was written.
    pub path: PathBuf,
    /// Hex sha256 of its bytes.
    pub digest: String,
    /// The chart as packaged (after overrides).
    pub chart: Chart,
}

/// Applies the version overrides to a chart's files and reloads it, so the
/// rewritten `Chart.yaml` is validated like any other.
pub fn with_overrides(chart: &Chart, opts: &PackageOptions) -> Result<Chart, PackageError> {
    if opts.version.is_none() && opts.app_version.is_none() {
        return Ok(chart.clone());
    }
    let mut files = chart.files.clone();
    let original = files
        .get("Chart.yaml")
        .map(|f| String::from_utf8_lossy(&f.data).into_owned())
        .unwrap_or_default();
    let mut doc = crate::yaml::parse(&original).map_err(|error| ChartError::Yaml {
        path: chart.origin.join("Chart.yaml"),
        error,
    })?;
    if let serde_json::Value::Object(m) = &mut doc {
        if let Some(v) = &opts.version {
            m.insert("version".into(), v.clone().into());
        }
        if let Some(v) = &opts.app_version {
            m.insert("appVersion".into(), v.clone().into());
        }
    }
    let text = crate::yaml::to_string(&doc) + "\n";
    files.insert(
        "Chart.yaml".into(),
        ChartFile {
            data: text.into_bytes(),
            executable: false,
        },
    );
    let dir = chart.origin.is_dir().then_some(chart.origin.as_path());
    Ok(crate::chart::load::from_files(
        files,
        &chart.origin,
        dir,
        crate::chart::load::Ahead::Nothing,
    )?)
}

/// Writes `NAME-VERSION.tgz` for `chart` into `out_dir`.
pub fn package(
    chart: &Chart,
    out_dir: &Path,
    opts: &PackageOptions,
) -> Result<Packaged, PackageError> {
    let chart = with_overrides(chart, opts)?;
    let mtime = source_date_epoch()?;
    let bytes =
        archive_bytes(chart.name(), &chart.files, mtime).map_err(|source| PackageError::Io {
            path: out_dir.to_path_buf(),
            source,
        })?;
    let path = out_dir.join(format!("{}-{}.tgz", chart.name(), chart.metadata.version));
    std::fs::create_dir_all(out_dir).map_err(|source| PackageError::Io {
        path: out_dir.to_path_buf(),
        source,
    })?;
    std::fs::write(&path, &bytes).map_err(|source| PackageError::Io {
        path: path.clone(),
        source,
    })?;
    Ok(Packaged {
        path,
        digest: sha256_hex(&bytes),
        chart,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_hex_is_the_lower_case_digest() {
        // FIPS 180-2 test vectors.
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    fn files() -> Files {
        let mut f = Files::new();
        f.insert(
            "Chart.yaml".into(),
            ChartFile {
                data: b"apiVersion: v2\nname: demo\nversion: 0.1.0\n".to_vec(),
                executable: false,
            },
        );
        f.insert(
            "templates/cm.yaml".into(),
            ChartFile {
                data: b"kind: ConfigMap\n".to_vec(),
                executable: true,
            },
        );
        f
    }

    #[test]
    fn round_trip_and_determinism() {
        let a = archive_bytes("demo", &files(), DEFAULT_MTIME).unwrap();
        let b = archive_bytes("demo", &files(), DEFAULT_MTIME).unwrap();
        assert_eq!(a, b);
        let back = read_archive(&a, Path::new("demo.tgz")).unwrap();
        assert_eq!(back, files());
        let c = archive_bytes("demo", &files(), DEFAULT_MTIME + 1).unwrap();
        assert_ne!(a, c, "the mtime is part of the archive");
    }

    #[test]
    fn digest_is_hex_sha256() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
