//! Where windlass keeps what the user configured (the repository list, with
//! credentials: a file only its owner can read) and what it downloaded
//! (indexes, and charts by digest).

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::RepoError;

/// The config and cache directories.
#[derive(Debug, Clone)]
pub struct Paths {
    /// `repositories.yaml` lives here.
    pub config: PathBuf,
    /// Indexes and downloaded charts live here.
    pub cache: PathBuf,
}

impl Paths {
    /// `$WINDLASS_CONFIG_HOME`, else `$XDG_CONFIG_HOME/windlass`, else
    /// `~/.config/windlass`; the cache likewise (`WINDLASS_CACHE_HOME`,
    /// `XDG_CACHE_HOME`, `~/.cache`).
    pub fn from_env() -> Paths {
        let dir = |own: &str, xdg: &str, fallback: &str| {
            if let Some(d) = std::env::var_os(own).filter(|d| !d.is_empty()) {
                return PathBuf::from(d);
            }
            if let Some(d) = std::env::var_os(xdg).filter(|d| !d.is_empty()) {
                return PathBuf::from(d).join("windlass");
            }
            let home = std::env::var_os("HOME").unwrap_or_else(|| ".".into());
            PathBuf::from(home).join(fallback).join("windlass")
        };
        Paths {
            config: dir("WINDLASS_CONFIG_HOME", "XDG_CONFIG_HOME", ".config"),
            cache: dir("WINDLASS_CACHE_HOME", "XDG_CACHE_HOME", ".cache"),
        }
    }

    /// The repository list.
    pub fn repositories(&self) -> PathBuf {
        self.config.join("repositories.yaml")
    }

    /// A repository's cached index.
    pub fn index(&self, repo: &str) -> PathBuf {
        self.cache
            .join("repository")
            .join(format!("{repo}-index.yaml"))
    }

    /// A downloaded chart archive, by its sha256.
    pub fn chart(&self, digest: &str) -> PathBuf {
        self.cache
            .join("charts")
            .join(format!("sha256-{digest}.tgz"))
    }
}

/// Writes a file readable by its owner only, through a temporary file so
/// a crash never leaves half of it.
pub(super) fn write_private(path: &Path, bytes: &[u8]) -> Result<(), RepoError> {
    let io = |source| RepoError::Io {
        path: path.to_path_buf(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io)?;
    let tmp = path.with_extension("tmp");
    {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let mut f = opts.open(&tmp).map_err(io)?;
        // An existing file keeps its mode on open: set it explicitly.
        #[cfg(unix)]
        f.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .map_err(io)?;
        f.write_all(bytes).map_err(io)?;
        f.sync_all().map_err(io)?;
    }
    std::fs::rename(&tmp, path).map_err(io)
}

/// One configured repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Repository {
    /// Its name (`bitnami` in `bitnami/nginx`).
    pub name: String,
    /// Base URL; `index.yaml` is under it.
    pub url: String,
    /// HTTP basic auth user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// HTTP basic auth password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// Bearer token (instead of a user and password).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// `repositories.yaml`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RepoFile {
    /// The repositories, in the order they were added.
    #[serde(default)]
    pub repositories: Vec<Repository>,
}

impl RepoFile {
    /// Reads the file; a missing one is an empty list.
    pub fn load(path: &Path) -> Result<RepoFile, RepoError> {
        match std::fs::read_to_string(path) {
            Ok(text) => serde_yaml::from_str(&text).map_err(|e| RepoError::Config {
                path: path.to_path_buf(),
                message: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(RepoFile::default()),
            Err(source) => Err(RepoError::Io {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    /// Writes the file readable by its owner only (it holds credentials).
    pub fn save(&self, path: &Path) -> Result<(), RepoError> {
        let text = serde_yaml::to_string(self).map_err(|e| RepoError::Config {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        write_private(path, text.as_bytes())
    }

    /// The repository called `name`.
    pub fn get(&self, name: &str) -> Result<&Repository, RepoError> {
        self.repositories
            .iter()
            .find(|r| r.name == name)
            .ok_or_else(|| RepoError::UnknownRepo {
                name: name.to_string(),
                known: self.repositories.iter().map(|r| r.name.clone()).collect(),
            })
    }
}
