//! `windlass create`: the scaffold of a new chart, which lints and renders
//! cleanly as written.

use std::path::Path;

/// Files of the scaffold, with `__NAME__` standing for the chart name.
const FILES: &[(&str, &str)] = &[
    ("Chart.yaml", include_str!("starter/Chart.yaml")),
    ("values.yaml", include_str!("starter/values.yaml")),
    (
        "values.schema.json",
        include_str!("starter/values.schema.json"),
    ),
    (".windlassignore", include_str!("starter/.windlassignore")),
    ("README.md", include_str!("starter/README.md")),
    (
        "templates/_fullname.yaml",
        include_str!("starter/templates/_fullname.yaml"),
    ),
    (
        "templates/_labels.yaml",
        include_str!("starter/templates/_labels.yaml"),
    ),
    (
        "templates/_selectorLabels.yaml",
        include_str!("starter/templates/_selectorLabels.yaml"),
    ),
    (
        "templates/deployment.yaml",
        include_str!("starter/templates/deployment.yaml"),
    ),
    (
        "templates/service.yaml",
        include_str!("starter/templates/service.yaml"),
    ),
    (
        "templates/NOTES.txt",
        include_str!("starter/templates/NOTES.txt"),
    ),
];

/// Why a chart could not be created.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    /// The name is not a DNS-1123 label.
    #[error("`{0}` is not a valid chart name: use lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters")]
    InvalidName(String),
    /// The target exists and is not empty.
    #[error("{0}: already exists and is not empty")]
    Exists(std::path::PathBuf),
    /// Writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Writes a new chart into `dir`; its name is the directory's last component.
pub fn create(dir: &Path) -> Result<String, CreateError> {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if !crate::render::manifest::is_dns1123_label(&name) {
        return Err(CreateError::InvalidName(name));
    }
    if dir.exists() {
        let non_empty = std::fs::read_dir(dir)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true);
        if non_empty {
            return Err(CreateError::Exists(dir.to_path_buf()));
        }
    }
    for (rel, content) in FILES {
        let path = dir.join(rel);
        let io = |source| CreateError::Io {
            path: path.clone(),
            source,
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        std::fs::write(&path, content.replace("__NAME__", &name)).map_err(io)?;
    }
    Ok(name)
}
