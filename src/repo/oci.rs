//! Charts in OCI registries, as Helm stores them: an OCI image manifest
//! whose config is the chart's Chart.yaml as JSON
//! (`application/vnd.cncf.helm.config.v1+json`) and whose layer is the
//! archive (`application/vnd.cncf.helm.chart.content.v1.tar+gzip`, with the
//! provenance file as a second layer when there is one), tagged with the
//! chart version (`+` written `_`). A chart pushed by Helm installs with
//! windlass, and the reverse.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use oci_client::client::{ClientConfig, ClientProtocol, Config, ImageLayer};
use oci_client::manifest::OciImageManifest;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use serde::{Deserialize, Serialize};

use super::{choose_version, config::Paths, RepoError};
use crate::package::sha256_hex;

/// Helm's config media type.
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.cncf.helm.config.v1+json";
/// Helm's chart archive layer.
pub const CHART_MEDIA_TYPE: &str = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";
/// Helm's provenance layer.
pub const PROV_MEDIA_TYPE: &str = "application/vnd.cncf.helm.chart.provenance.v1.prov";

/// `oci://host[:port]/path/chart[:tag|@sha256:digest]`, split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OciRef {
    /// `host[:port]`.
    pub registry: String,
    /// `path/chart`.
    pub repository: String,
    /// The tag, if given.
    pub tag: Option<String>,
    /// `sha256:...`, if given.
    pub digest: Option<String>,
}

impl OciRef {
    /// Parses an `oci://` reference.
    pub fn parse(text: &str) -> Result<OciRef, RepoError> {
        let bad = |why: &str| RepoError::BadReference {
            reference: text.to_string(),
            message: why.to_string(),
        };
        let rest = text
            .strip_prefix("oci://")
            .ok_or_else(|| bad("it does not start with oci://"))?;
        let (registry, path) = rest
            .split_once('/')
            .ok_or_else(|| bad("it names no repository after the registry"))?;
        let (path, digest) = match path.split_once('@') {
            Some((p, d)) => (p, Some(d.to_string())),
            None => (path, None),
        };
        let (repository, tag) = match path.rsplit_once(':') {
            Some((p, t)) if !t.contains('/') => (p, Some(t.to_string())),
            _ => (path, None),
        };
        if registry.is_empty() || repository.is_empty() {
            return Err(bad("the registry or repository is empty"));
        }
        Ok(OciRef {
            registry: registry.to_string(),
            repository: repository.trim_end_matches('/').to_string(),
            tag,
            digest,
        })
    }
}

/// Credentials saved by `windlass registry login`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RegistryLogins {
    /// By registry host.
    #[serde(default)]
    pub registries: BTreeMap<String, Login>,
}

/// One registry's credentials.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Login {
    /// User.
    pub username: String,
    /// Password or token.
    pub password: String,
}

impl RegistryLogins {
    fn path(paths: &Paths) -> PathBuf {
        paths.config.join("registries.yaml")
    }

    /// Reads the saved logins (none when the file is missing).
    pub fn load(paths: &Paths) -> Result<RegistryLogins, RepoError> {
        let path = Self::path(paths);
        match std::fs::read_to_string(&path) {
            Ok(t) => serde_yaml::from_str(&t).map_err(|e| RepoError::Config {
                path,
                message: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(source) => Err(RepoError::Io { path, source }),
        }
    }

    /// Saves them, readable by their owner only.
    pub fn save(&self, paths: &Paths) -> Result<(), RepoError> {
        let path = Self::path(paths);
        let text = serde_yaml::to_string(self).map_err(|e| RepoError::Config {
            path: path.clone(),
            message: e.to_string(),
        })?;
        super::config::write_private(&path, text.as_bytes())
    }

    fn auth(&self, registry: &str) -> RegistryAuth {
        match self.registries.get(registry) {
            Some(l) => RegistryAuth::Basic(l.username.clone(), l.password.clone()),
            None => RegistryAuth::Anonymous,
        }
    }
}

fn client(plain_http: bool) -> Client {
    Client::new(ClientConfig {
        protocol: if plain_http {
            ClientProtocol::Http
        } else {
            ClientProtocol::Https
        },
        ..Default::default()
    })
}

fn oci_error(reference: &str, e: oci_client::errors::OciDistributionError) -> RepoError {
    RepoError::Http {
        url: reference.to_string(),
        message: super::error_chain(&e),
    }
}

/// What a push stored.
#[derive(Debug, Clone)]
pub struct Pushed {
    /// `oci://host/path/chart:tag`.
    pub reference: String,
    /// The manifest's digest (`sha256:...`): pull by it for exactly this.
    pub digest: String,
}

/// Pushes a packaged chart (and `ARCHIVE.prov` beside it, when there is
/// one) to `oci://host/path`, as `path/<chart>:<version>`.
pub async fn push(
    paths: &Paths,
    archive: &Path,
    dest: &str,
    plain_http: bool,
) -> Result<Pushed, RepoError> {
    let io = |source| RepoError::Io {
        path: archive.to_path_buf(),
        source,
    };
    let bytes = std::fs::read(archive).map_err(io)?;
    let chart =
        crate::chart::load_archive_bytes(&bytes, archive).map_err(|e| RepoError::Config {
            path: archive.to_path_buf(),
            message: e.to_string(),
        })?;
    let base = OciRef::parse(dest)?;
    if base.tag.is_some() || base.digest.is_some() {
        return Err(RepoError::BadReference {
            reference: dest.to_string(),
            message: "push to oci://HOST/PATH: the chart's name and version make the rest".into(),
        });
    }
    let name = chart.metadata.name.clone();
    let tag = chart.metadata.version.replace('+', "_");
    let repository = format!("{}/{name}", base.repository);
    let reference = Reference::with_tag(base.registry.clone(), repository.clone(), tag.clone());
    let config = Config {
        data: serde_json::to_vec(&chart.metadata).unwrap_or_default(),
        media_type: CONFIG_MEDIA_TYPE.into(),
        annotations: None,
    };
    let mut layers = vec![ImageLayer {
        data: bytes,
        media_type: CHART_MEDIA_TYPE.into(),
        annotations: None,
    }];
    let prov = PathBuf::from(format!("{}.prov", archive.display()));
    if let Ok(p) = std::fs::read(&prov) {
        layers.push(ImageLayer {
            data: p,
            media_type: PROV_MEDIA_TYPE.into(),
            annotations: None,
        });
    }
    let mut annotations = BTreeMap::new();
    annotations.insert("org.opencontainers.image.title".to_string(), name.clone());
    annotations.insert(
        "org.opencontainers.image.version".to_string(),
        chart.metadata.version.clone(),
    );
    if let Some(d) = &chart.metadata.description {
        annotations.insert(
            "org.opencontainers.image.description".to_string(),
            d.clone(),
        );
    }
    let mut manifest = OciImageManifest::build(&layers, &config, Some(annotations));
    // Optional in the OCI spec; Helm's (ORAS's) manifests carry it.
    manifest.media_type = Some(oci_client::manifest::OCI_IMAGE_MEDIA_TYPE.to_string());
    let shown = format!("oci://{}/{repository}:{tag}", base.registry);
    let logins = RegistryLogins::load(paths)?;
    let auth = logins.auth(&base.registry);
    let c = client(plain_http);
    c.push(&reference, &layers, config, &auth, Some(manifest))
        .await
        .map_err(|e| oci_error(&shown, e))?;
    let (_, digest) = c
        .pull_image_manifest(&reference, &auth)
        .await
        .map_err(|e| oci_error(&shown, e))?;
    Ok(Pushed {
        reference: shown,
        digest,
    })
}

/// What a pull got.
#[derive(Debug, Clone)]
pub struct Pulled {
    /// The cached archive.
    pub archive: PathBuf,
    /// The tag pulled (empty when pulled by digest alone).
    pub tag: String,
    /// The manifest's digest.
    pub digest: String,
    /// The provenance layer's text, when the chart was pushed with one.
    pub prov: Option<String>,
}

/// Pulls a chart: by digest when the reference has one, else by tag: the
/// reference's, `version` when it is a version, or the newest tag that the
/// range `version` allows (the newest stable without one). The archive is
/// checked against the manifest's layer digest and cached by it.
pub async fn pull(
    paths: &Paths,
    reference: &str,
    version: Option<&str>,
    plain_http: bool,
) -> Result<Pulled, RepoError> {
    let r = OciRef::parse(reference)?;
    let logins = RegistryLogins::load(paths)?;
    let auth = logins.auth(&r.registry);
    let c = client(plain_http);
    let oci_ref = match (&r.digest, &r.tag) {
        (Some(d), _) => Reference::with_digest(r.registry.clone(), r.repository.clone(), d.clone()),
        (None, Some(t)) => Reference::with_tag(r.registry.clone(), r.repository.clone(), t.clone()),
        (None, None) => {
            let any =
                Reference::with_tag(r.registry.clone(), r.repository.clone(), "latest".into());
            let tags = c
                .list_tags(&any, &auth, None, None)
                .await
                .map_err(|e| oci_error(reference, e))?
                .tags;
            // Tags stand for versions with `+` written `_`.
            let versions: Vec<String> = tags.iter().map(|t| t.replace('_', "+")).collect();
            let chosen =
                choose_version(&versions, version).ok_or_else(|| RepoError::NoVersion {
                    chart: reference.to_string(),
                    range: version.unwrap_or("(newest stable)").to_string(),
                    available: versions.clone(),
                })??;
            Reference::with_tag(
                r.registry.clone(),
                r.repository.clone(),
                chosen.replace('+', "_"),
            )
        }
    };
    let image = c
        .pull(&oci_ref, &auth, vec![CHART_MEDIA_TYPE, PROV_MEDIA_TYPE])
        .await
        .map_err(|e| oci_error(reference, e))?;
    if image.config.media_type != CONFIG_MEDIA_TYPE {
        return Err(RepoError::BadReference {
            reference: reference.to_string(),
            message: format!(
                "it is not a Helm chart (config media type {})",
                image.config.media_type
            ),
        });
    }
    let layer = image
        .layers
        .iter()
        .find(|l| l.media_type == CHART_MEDIA_TYPE)
        .ok_or_else(|| RepoError::BadReference {
            reference: reference.to_string(),
            message: "its manifest has no chart layer".into(),
        })?;
    let actual = sha256_hex(&layer.data);
    let expected = image
        .manifest
        .as_ref()
        .and_then(|m| m.layers.iter().find(|l| l.media_type == CHART_MEDIA_TYPE))
        .map(|l| l.digest.trim_start_matches("sha256:").to_string())
        .unwrap_or_default();
    if actual != expected {
        return Err(RepoError::Digest {
            url: reference.to_string(),
            expected,
            actual,
        });
    }
    let archive = paths.chart(&actual);
    super::write(&archive, &layer.data)?;
    let prov = image
        .layers
        .iter()
        .find(|l| l.media_type == PROV_MEDIA_TYPE)
        .map(|l| String::from_utf8_lossy(&l.data).into_owned());
    Ok(Pulled {
        archive,
        tag: oci_ref.tag().unwrap_or_default().to_string(),
        digest: image.digest.unwrap_or_default(),
        prov,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_references() {
        let r = OciRef::parse("oci://127.0.0.1:5000/charts/hdfs:0.1.0").unwrap();
        assert_eq!(r.registry, "127.0.0.1:5000");
        assert_eq!(r.repository, "charts/hdfs");
        assert_eq!(r.tag.as_deref(), Some("0.1.0"));
        let r = OciRef::parse("oci://ghcr.io/org/charts/hdfs@sha256:abc").unwrap();
        assert_eq!(r.repository, "org/charts/hdfs");
        assert_eq!(r.digest.as_deref(), Some("sha256:abc"));
        assert_eq!(r.tag, None);
        let r = OciRef::parse("oci://localhost:5000/hdfs").unwrap();
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str(), r.tag),
            ("localhost:5000", "hdfs", None)
        );
        assert!(OciRef::parse("https://x/y").is_err());
        assert!(OciRef::parse("oci://hostonly").is_err());
    }
}
