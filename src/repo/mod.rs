//! Chart repositories: Helm's `index.yaml` served over HTTP(S). Adding one
//! fetches and checks its index; charts are chosen by semver range (the
//! newest match; pre-releases only when the range names one), downloaded,
//! verified against the index's sha256 digest, and cached by that digest.

mod config;
pub mod oci;

use std::path::PathBuf;

use semver::Version;

pub use config::{Paths, RepoFile, Repository};

use crate::chart::constraint::Constraint;
use crate::package::sha256_hex;
use crate::package::{Index, IndexEntry};

/// Repository work failed.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    /// A local file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// `repositories.yaml` does not parse.
    #[error("{path}: {message}")]
    Config {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// The request failed (connection, TLS, ...).
    #[error("{url}: {message}")]
    Http {
        /// What was fetched.
        url: String,
        /// Why.
        message: String,
    },
    /// The server answered with an error status.
    #[error("{url}: HTTP {status}{}", hint(*status))]
    Status {
        /// What was fetched.
        url: String,
        /// The status code.
        status: u16,
    },
    /// An index that does not parse.
    #[error("{url}: not a chart repository index: {message}")]
    Index {
        /// The index.
        url: String,
        /// Why.
        message: String,
    },
    /// No repository of that name.
    #[error(
        "no repository named `{name}`{}; add it with `windlass repo add {name} URL`",
        known_list(known)
    )]
    UnknownRepo {
        /// The name asked for.
        name: String,
        /// The configured ones.
        known: Vec<String>,
    },
    /// A repository of that name exists already.
    #[error("repository `{name}` already exists ({url}); pass --force-update to replace it")]
    Exists {
        /// The name.
        name: String,
        /// Its URL.
        url: String,
    },
    /// The repository has no such chart.
    #[error("repository `{repo}` has no chart `{chart}` (`windlass search repo {chart}`; `windlass repo update` if it is new)")]
    NoChart {
        /// The repository.
        repo: String,
        /// The chart.
        chart: String,
    },
    /// No version matches.
    #[error("chart `{chart}` has no version matching `{range}` (it has: {})", available.join(", "))]
    NoVersion {
        /// `repo/chart`.
        chart: String,
        /// The range asked for.
        range: String,
        /// What the index lists.
        available: Vec<String>,
    },
    /// `--version` does not parse.
    #[error("--version `{range}` is not a version or range: {message}")]
    BadRange {
        /// The text.
        range: String,
        /// Why.
        message: String,
    },
    /// The download is not what the index promised.
    #[error("{url}: sha256 {actual} does not match the digest in the repository index ({expected}); refusing the download")]
    Digest {
        /// What was downloaded.
        url: String,
        /// The index's digest.
        expected: String,
        /// The download's.
        actual: String,
    },
    /// An `oci://` reference that does not parse, or is no Helm chart.
    #[error("{reference}: {message}")]
    BadReference {
        /// The reference.
        reference: String,
        /// Why.
        message: String,
    },
    /// The index lists no digest for the chart, so it cannot be verified.
    #[error("{chart} {version}: the repository index gives no digest, so the download cannot be verified; refusing it")]
    NoDigest {
        /// The chart.
        chart: String,
        /// Its version.
        version: String,
    },
}

fn hint(status: u16) -> &'static str {
    match status {
        401 | 403 => " (check the repository's --username/--password or --token)",
        404 => " (is the URL the repository's base, where index.yaml is?)",
        _ => "",
    }
}

fn known_list(known: &[String]) -> String {
    if known.is_empty() {
        " (none are configured)".into()
    } else {
        format!(" (configured: {})", known.join(", "))
    }
}

/// Fetches a URL with the repository's credentials (only sent to the
/// repository's own host, as Helm does).
async fn get(repo: &Repository, url: &str) -> Result<Vec<u8>, RepoError> {
    let http = |message: String| RepoError::Http {
        url: url.to_string(),
        message,
    };
    let client = reqwest::Client::builder()
        .user_agent(concat!("windlass/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| http(e.to_string()))?;
    let mut req = client.get(url);
    if same_origin(&repo.url, url) {
        if let Some(t) = &repo.token {
            req = req.bearer_auth(t);
        } else if let Some(u) = &repo.username {
            req = req.basic_auth(u, repo.password.as_deref());
        }
    }
    let resp = req.send().await.map_err(|e| http(error_chain(&e)))?;
    let status = resp.status();
    if !status.is_success() {
        return Err(RepoError::Status {
            url: url.to_string(),
            status: status.as_u16(),
        });
    }
    Ok(resp
        .bytes()
        .await
        .map_err(|e| http(error_chain(&e)))?
        .to_vec())
}

pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(c) = source {
        s.push_str(&format!(": {c}"));
        source = c.source();
    }
    s
}

fn origin(url: &str) -> &str {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let host_len = rest.find('/').unwrap_or(rest.len());
    &url[..url.len() - rest.len() + host_len]
}

fn same_origin(a: &str, b: &str) -> bool {
    origin(a).eq_ignore_ascii_case(origin(b))
}

/// `base/` + `rel` unless `rel` is a URL already.
fn join(base: &str, rel: &str) -> String {
    if rel.contains("://") {
        rel.to_string()
    } else {
        format!(
            "{}/{}",
            base.trim_end_matches('/'),
            rel.trim_start_matches('/')
        )
    }
}

/// Fetches and parses a repository's index.
pub async fn fetch_index(repo: &Repository) -> Result<(Index, Vec<u8>), RepoError> {
    let url = join(&repo.url, "index.yaml");
    let bytes = get(repo, &url).await?;
    let index = parse_index(&url, &bytes)?;
    Ok((index, bytes))
}

fn parse_index(url: &str, bytes: &[u8]) -> Result<Index, RepoError> {
    let index: Index = serde_yaml::from_slice(bytes).map_err(|e| RepoError::Index {
        url: url.to_string(),
        message: e.to_string(),
    })?;
    if index.api_version != "v1" {
        return Err(RepoError::Index {
            url: url.to_string(),
            message: format!("apiVersion is `{}`, not v1", index.api_version),
        });
    }
    Ok(index)
}

pub(crate) fn write(path: &std::path::Path, bytes: &[u8]) -> Result<(), RepoError> {
    let io = |source| RepoError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let tmp = path.with_extension("part");
    std::fs::write(&tmp, bytes).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

/// Adds (or with `force`, replaces) a repository once its index fetched
/// and parsed; caches the index.
pub async fn add(paths: &Paths, repo: Repository, force: bool) -> Result<usize, RepoError> {
    let mut file = RepoFile::load(&paths.repositories())?;
    if let Some(old) = file.repositories.iter().find(|r| r.name == repo.name) {
        if !force && *old != repo {
            return Err(RepoError::Exists {
                name: repo.name.clone(),
                url: old.url.clone(),
            });
        }
    }
    let (index, bytes) = fetch_index(&repo).await?;
    write(&paths.index(&repo.name), &bytes)?;
    file.repositories.retain(|r| r.name != repo.name);
    file.repositories.push(repo);
    file.save(&paths.repositories())?;
    Ok(index.entries.values().map(Vec::len).sum())
}

/// Removes repositories (and their cached indexes).
pub fn remove(paths: &Paths, names: &[String]) -> Result<(), RepoError> {
    let mut file = RepoFile::load(&paths.repositories())?;
    for n in names {
        file.get(n)?;
        file.repositories.retain(|r| &r.name != n);
        let _ = std::fs::remove_file(paths.index(n));
    }
    file.save(&paths.repositories())
}

/// Fetches the indexes of `names` (all when empty) again. Each result is
/// the repository's name and its chart version count or its error.
pub async fn update(
    paths: &Paths,
    names: &[String],
) -> Result<Vec<(String, Result<usize, RepoError>)>, RepoError> {
    let file = RepoFile::load(&paths.repositories())?;
    let chosen: Vec<&Repository> = if names.is_empty() {
        file.repositories.iter().collect()
    } else {
        names
            .iter()
            .map(|n| file.get(n))
            .collect::<Result<_, _>>()?
    };
    let mut out = Vec::new();
    for repo in chosen {
        let r = match fetch_index(repo).await {
            Ok((index, bytes)) => write(&paths.index(&repo.name), &bytes)
                .map(|_| index.entries.values().map(Vec::len).sum()),
            Err(e) => Err(e),
        };
        out.push((repo.name.clone(), r));
    }
    Ok(out)
}

/// A repository's cached index.
pub fn cached_index(paths: &Paths, name: &str) -> Result<Index, RepoError> {
    let path = paths.index(name);
    let bytes = std::fs::read(&path).map_err(|source| RepoError::Io {
        path: path.clone(),
        source,
    })?;
    parse_index(&path.display().to_string(), &bytes)
}

/// One search hit.
#[derive(Debug, Clone)]
pub struct Hit {
    /// `repo/chart`.
    pub name: String,
    /// The version.
    pub entry: IndexEntry,
}

/// Charts whose name, description or keywords contain `word` (all when it
/// is empty), newest version of each unless `all_versions`.
pub fn search(paths: &Paths, word: &str, all_versions: bool) -> Result<Vec<Hit>, RepoError> {
    let file = RepoFile::load(&paths.repositories())?;
    let word = word.to_lowercase();
    let mut hits = Vec::new();
    for repo in &file.repositories {
        let index = cached_index(paths, &repo.name)?;
        for (chart, versions) in &index.entries {
            let mut sorted = versions.clone();
            sorted.sort_by_key(|e| std::cmp::Reverse(version_of(e)));
            for e in sorted
                .iter()
                .take(if all_versions { usize::MAX } else { 1 })
            {
                let text = format!(
                    "{}/{chart} {} {}",
                    repo.name,
                    e.description.clone().unwrap_or_default(),
                    e.keywords.join(" ")
                )
                .to_lowercase();
                if word.is_empty() || text.contains(&word) {
                    hits.push(Hit {
                        name: format!("{}/{chart}", repo.name),
                        entry: e.clone(),
                    });
                }
            }
        }
    }
    Ok(hits)
}

fn version_of(e: &IndexEntry) -> Option<Version> {
    crate::chart::constraint::parse_lenient(&e.version).ok()
}

/// What `range` allows (`None`: any version that is no pre-release; a
/// bare version: exactly it).
type VersionTest = Box<dyn Fn(&Version) -> bool>;

fn allows(range: Option<&str>) -> Result<VersionTest, RepoError> {
    Ok(match range.map(str::trim) {
        None | Some("") => Box::new(|v: &Version| v.pre.is_empty()),
        Some(r) => match Version::parse(r.trim_start_matches('v')) {
            Ok(exact) => Box::new(move |v: &Version| *v == exact),
            Err(_) => {
                let c = Constraint::parse(r).map_err(|e| RepoError::BadRange {
                    range: r.to_string(),
                    message: e.reason,
                })?;
                Box::new(move |v: &Version| c.matches(v))
            }
        },
    })
}

/// The newest of `versions` that `range` allows; `None` when none does.
pub fn choose_version(
    versions: &[String],
    range: Option<&str>,
) -> Option<Result<String, RepoError>> {
    let ok = match allows(range) {
        Ok(f) => f,
        Err(e) => return Some(Err(e)),
    };
    versions
        .iter()
        .filter_map(|t| {
            crate::chart::constraint::parse_lenient(t)
                .ok()
                .map(|v| (v, t))
        })
        .filter(|(v, _)| ok(v))
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, t)| Ok(t.clone()))
}

/// The newest version of `chart` that `range` allows (`None`: the newest
/// that is no pre-release). A bare version means exactly that version.
pub fn choose<'a>(
    index: &'a Index,
    repo: &str,
    chart: &str,
    range: Option<&str>,
) -> Result<&'a IndexEntry, RepoError> {
    let versions = index
        .entries
        .get(chart)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| RepoError::NoChart {
            repo: repo.to_string(),
            chart: chart.to_string(),
        })?;
    let allows = allows(range)?;
    versions
        .iter()
        .filter_map(|e| version_of(e).map(|v| (v, e)))
        .filter(|(v, _)| allows(v))
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, e)| e)
        .ok_or_else(|| RepoError::NoVersion {
            chart: format!("{repo}/{chart}"),
            range: range.unwrap_or("(newest stable)").to_string(),
            available: versions.iter().map(|e| e.version.clone()).collect(),
        })
}

/// Downloads a chart version (or takes it from the cache), verified
/// against the index's digest; returns the cached archive's path.
pub async fn download(
    paths: &Paths,
    repo: &Repository,
    entry: &IndexEntry,
) -> Result<PathBuf, RepoError> {
    let expected = entry
        .digest
        .trim()
        .trim_start_matches("sha256:")
        .to_lowercase();
    if expected.is_empty() {
        return Err(RepoError::NoDigest {
            chart: entry.name.clone(),
            version: entry.version.clone(),
        });
    }
    let cached = paths.chart(&expected);
    if let Ok(bytes) = std::fs::read(&cached) {
        if sha256_hex(&bytes) == expected {
            return Ok(cached);
        }
    }
    let url = join(
        &repo.url,
        entry.urls.first().map(String::as_str).unwrap_or_default(),
    );
    let bytes = get(repo, &url).await?;
    let actual = sha256_hex(&bytes);
    if actual != expected {
        return Err(RepoError::Digest {
            url,
            expected,
            actual,
        });
    }
    write(&cached, &bytes)?;
    Ok(cached)
}

/// The provenance file of a chart version (`URL.prov`, as Helm publishes
/// it) and its URL; `None` when the repository has none.
pub async fn fetch_provenance(
    paths: &Paths,
    reference: &str,
    entry: &IndexEntry,
) -> Result<(Option<String>, String), RepoError> {
    let (repo_name, _) = reference.split_once('/').unwrap_or(("", reference));
    let file = RepoFile::load(&paths.repositories())?;
    let repo = file.get(repo_name)?;
    let url = format!(
        "{}.prov",
        join(
            &repo.url,
            entry.urls.first().map(String::as_str).unwrap_or_default()
        )
    );
    match get(repo, &url).await {
        Ok(b) => Ok((Some(String::from_utf8_lossy(&b).into_owned()), url)),
        Err(RepoError::Status { status: 404, .. }) => Ok((None, url)),
        Err(e) => Err(e),
    }
}

/// Resolves `repo/chart` at `range` to a verified archive in the cache;
/// returns it with the chosen version.
pub async fn fetch_chart(
    paths: &Paths,
    reference: &str,
    range: Option<&str>,
) -> Result<(PathBuf, IndexEntry), RepoError> {
    let (repo_name, chart) = reference.split_once('/').unwrap_or(("", reference));
    let file = RepoFile::load(&paths.repositories())?;
    let repo = file.get(repo_name)?;
    let index = cached_index(paths, repo_name)?;
    let entry = choose(&index, repo_name, chart, range)?.clone();
    let path = download(paths, repo, &entry).await?;
    Ok((path, entry))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(versions: &[&str]) -> Index {
        let yaml = format!(
            "apiVersion: v1\nentries:\n  c:\n{}generated: x\n",
            versions
                .iter()
                .map(|v| format!(
                    "  - name: c\n    version: {v}\n    digest: ab\n    urls: [c-{v}.tgz]\n"
                ))
                .collect::<String>()
        );
        serde_yaml::from_str(&yaml).unwrap()
    }

    #[test]
    fn chooses_the_newest_match() {
        let i = index(&["1.0.0", "1.2.0", "2.0.0-rc.1", "1.10.1", "0.9.0"]);
        let pick = |r: Option<&str>| choose(&i, "r", "c", r).map(|e| e.version.clone());
        assert_eq!(pick(None).unwrap(), "1.10.1", "newest stable, by semver");
        assert_eq!(pick(Some("~1.2")).unwrap(), "1.2.0");
        assert_eq!(pick(Some("^1.0")).unwrap(), "1.10.1");
        assert_eq!(
            pick(Some("1.0.0")).unwrap(),
            "1.0.0",
            "a bare version is exact"
        );
        assert_eq!(pick(Some(">=2.0.0-0")).unwrap(), "2.0.0-rc.1");
        let e = pick(Some(">=3")).unwrap_err().to_string();
        assert!(e.contains("has no version matching `>=3`"), "{e}");
        assert!(e.contains("1.10.1"), "{e}");
        let e = choose(&i, "r", "nope", None).unwrap_err().to_string();
        assert!(e.contains("repository `r` has no chart `nope`"), "{e}");
        assert!(matches!(
            choose(&i, "r", "c", Some(">= what")),
            Err(RepoError::BadRange { .. })
        ));
    }

    /// What `helm repo index` writes (Helm 3.16): fields windlass does not
    /// write itself are read past.
    #[test]
    fn reads_helms_index_format() {
        let yaml = r#"apiVersion: v1
entries:
  nginx:
  - annotations:
      category: Infrastructure
    apiVersion: v2
    appVersion: 1.27.3
    created: "2024-11-26T10:00:00.123456789Z"
    dependencies:
    - name: common
      repository: oci://registry-1.docker.io/bitnamicharts
      version: 2.x.x
    description: NGINX Open Source is a web server
    digest: 0f3a5b5c6d7e8f90112233445566778899aabbccddeeff00112233445566778
    home: https://bitnami.com
    maintainers:
    - name: Broadcom
    name: nginx
    sources:
    - https://github.com/bitnami/charts
    urls:
    - https://charts.bitnami.com/bitnami/nginx-18.2.6.tgz
    version: 18.2.6
generated: "2024-11-26T10:00:00.123456789Z"
"#;
        let i = parse_index("index.yaml", yaml.as_bytes()).unwrap();
        let e = choose(&i, "bitnami", "nginx", None).unwrap();
        assert_eq!(e.app_version.as_deref(), Some("1.27.3"));
        assert_eq!(
            e.urls[0],
            "https://charts.bitnami.com/bitnami/nginx-18.2.6.tgz"
        );
        let e = parse_index("i", b"apiVersion: v2\nentries: {}\n").unwrap_err();
        assert!(e.to_string().contains("apiVersion is `v2`, not v1"), "{e}");
    }

    #[test]
    fn credentials_stay_with_the_repository_host() {
        assert!(same_origin(
            "https://charts.example.com/x",
            "https://charts.example.com/y/c.tgz"
        ));
        assert!(!same_origin(
            "https://charts.example.com",
            "https://cdn.example.net/c.tgz"
        ));
        assert_eq!(join("http://h/r/", "c-1.tgz"), "http://h/r/c-1.tgz");
        assert_eq!(join("http://h/r", "https://o/c.tgz"), "https://o/c.tgz");
    }
}
