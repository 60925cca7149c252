//! Release records: one Secret per revision in the release namespace
//! (`windlass.release.v1.<release>.v<revision>`, gzip-compressed JSON, split
//! across chunk Secrets past the API's 1 MiB object limit), their statuses,
//! and the Lease that serialises operations on a release.

pub mod lock;

use std::io::{Read, Write};

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::cluster::{Cluster, ClusterError};

/// Secret type of release records.
pub const SECRET_TYPE: &str = "windlass.io/release.v1";
/// Raw bytes per Secret: base64 makes 4/3 of it, under the 1 MiB limit.
pub const CHUNK_BYTES: usize = 700 * 1024;

/// Where a revision stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Being installed.
    PendingInstall,
    /// Being upgraded to.
    PendingUpgrade,
    /// Being rolled back to.
    PendingRollback,
    /// Live.
    Deployed,
    /// Replaced by a later revision.
    Superseded,
    /// The operation failed.
    Failed,
    /// Being uninstalled.
    Uninstalling,
    /// Uninstalled, history kept.
    Uninstalled,
}

impl Status {
    /// The label value (`pending-install`, `deployed`, ...).
    pub fn as_str(&self) -> &'static str {
        match self {
            Status::PendingInstall => "pending-install",
            Status::PendingUpgrade => "pending-upgrade",
            Status::PendingRollback => "pending-rollback",
            Status::Deployed => "deployed",
            Status::Superseded => "superseded",
            Status::Failed => "failed",
            Status::Uninstalling => "uninstalling",
            Status::Uninstalled => "uninstalled",
        }
    }

    /// Whether an operation was under way.
    pub fn is_pending(&self) -> bool {
        matches!(
            self,
            Status::PendingInstall
                | Status::PendingUpgrade
                | Status::PendingRollback
                | Status::Uninstalling
        )
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The chart a revision was made from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChartRef {
    /// Chart name.
    pub name: String,
    /// Chart version.
    pub version: String,
    /// App version.
    #[serde(default)]
    pub app_version: String,
    /// sha256 of the chart's files.
    #[serde(default)]
    pub digest: String,
}

/// One revision of a release.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Release {
    /// Release name.
    pub name: String,
    /// Release namespace.
    pub namespace: String,
    /// Revision, from 1.
    pub revision: u64,
    /// Status.
    pub status: Status,
    /// What happened, in words.
    pub description: String,
    /// When the release was first installed (RFC 3339).
    pub first_deployed: String,
    /// When this revision was made.
    pub last_deployed: String,
    /// The chart.
    pub chart: ChartRef,
    /// The values the user supplied (not the merged defaults).
    pub config: Value,
    /// The values the templates saw: chart defaults merged with `config`.
    #[serde(default)]
    pub computed: Value,
    /// The rendered manifest (YAML stream).
    pub manifest: String,
    /// Rendered NOTES.txt.
    #[serde(default)]
    pub notes: String,
    /// Objects this revision's operation was going to create: recorded
    /// before it writes anything, so that after a failure or an
    /// interruption the next operation knows exactly which objects it may
    /// have left behind, and prunes only those (never everything a failed
    /// manifest listed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub created: Vec<crate::cluster::ObjectRef>,
}

/// Reading or writing records failed.
#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    /// The cluster refused.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// A record could not be decoded.
    #[error("release record {secret} is damaged: {message}")]
    Corrupt {
        /// The Secret.
        secret: String,
        /// What is wrong.
        message: String,
    },
    /// Release names are DNS-1123 labels of at most 53 characters.
    #[error("invalid release name `{0}`: use at most 53 lower-case letters, digits and '-', starting and ending with a letter or digit")]
    InvalidName(String),
}

/// Release names must leave room for suffixes in object names.
pub fn validate_name(name: &str) -> Result<(), ReleaseError> {
    if name.len() <= 53 && crate::render::manifest::is_dns1123_label(name) {
        Ok(())
    } else {
        Err(ReleaseError::InvalidName(name.to_string()))
    }
}

/// Name of the record Secret of a revision.
pub fn secret_name(release: &str, revision: u64) -> String {
    format!("windlass.release.v1.{release}.v{revision}")
}

/// Current time, RFC 3339.
pub fn now() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

fn encode(rel: &Release) -> Vec<u8> {
    let json = serde_json::to_vec(rel).unwrap_or_default();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing to a Vec cannot fail.
    let _ = gz.write_all(&json);
    gz.finish().unwrap_or_default()
}

fn decode(bytes: &[u8], secret: &str) -> Result<Release, ReleaseError> {
    let corrupt = |m: String| ReleaseError::Corrupt {
        secret: secret.to_string(),
        message: m,
    };
    let mut json = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .take(512 * 1024 * 1024)
        .read_to_end(&mut json)
        .map_err(|e| corrupt(e.to_string()))?;
    serde_json::from_slice(&json).map_err(|e| corrupt(e.to_string()))
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn unb64(s: &str, secret: &str) -> Result<Vec<u8>, ReleaseError> {
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .map_err(|e| ReleaseError::Corrupt {
            secret: secret.to_string(),
            message: e.to_string(),
        })
}

/// Release records of one namespace.
pub struct Store<'a> {
    cluster: &'a Cluster,
    namespace: String,
}

impl<'a> Store<'a> {
    /// Records in `namespace`.
    pub fn new(cluster: &'a Cluster, namespace: &str) -> Store<'a> {
        Store {
            cluster,
            namespace: namespace.to_string(),
        }
    }

    fn secret(
        &self,
        name: &str,
        rel: &Release,
        data: &[u8],
        chunks: usize,
        chunk: Option<usize>,
    ) -> Value {
        let mut labels = json!({
            "owner": crate::TOOL_NAME, "name": rel.name, "status": rel.status.as_str(),
            "version": rel.revision.to_string()
        });
        if chunk.is_some() {
            labels["windlass.io/chunk"] = json!("true");
        }
        json!({
            "apiVersion": "v1", "kind": "Secret", "type": SECRET_TYPE,
            "metadata": {
                "name": name, "namespace": self.namespace, "labels": labels,
                "annotations": {"windlass.io/chunks": chunks.to_string()}
            },
            "data": {"release": b64(data)}
        })
    }

    /// Writes (creates or replaces) a revision's record, in chunks when large.
    pub async fn save(&self, rel: &Release) -> Result<(), ReleaseError> {
        let payload = encode(rel);
        let parts: Vec<&[u8]> = if payload.is_empty() {
            vec![&payload[..]]
        } else {
            payload.chunks(CHUNK_BYTES).collect()
        };
        let main = secret_name(&rel.name, rel.revision);
        // Chunks first, so a reader never finds a main record whose chunks
        // are missing.
        for (i, part) in parts.iter().enumerate().skip(1) {
            let s = self.secret(&format!("{main}.c{i}"), rel, part, parts.len(), Some(i));
            self.cluster
                .apply(
                    &s,
                    crate::cluster::ApplyOptions {
                        force: true,
                        dry_run: false,
                    },
                )
                .await?;
        }
        let s = self.secret(&main, rel, parts[0], parts.len(), None);
        self.cluster
            .apply(
                &s,
                crate::cluster::ApplyOptions {
                    force: true,
                    dry_run: false,
                },
            )
            .await?;
        Ok(())
    }

    async fn read(&self, secret: &Value) -> Result<Release, ReleaseError> {
        let name = secret["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let chunks: usize = secret["metadata"]["annotations"]["windlass.io/chunks"]
            .as_str()
            .and_then(|c| c.parse().ok())
            .unwrap_or(1);
        let mut bytes = unb64(
            secret["data"]["release"].as_str().unwrap_or_default(),
            &name,
        )?;
        for i in 1..chunks {
            let chunk_name = format!("{name}.c{i}");
            let chunk = self
                .cluster
                .get("v1", "Secret", Some(&self.namespace), &chunk_name)
                .await?
                .ok_or_else(|| ReleaseError::Corrupt {
                    secret: name.clone(),
                    message: format!("chunk {chunk_name} is missing"),
                })?;
            bytes.extend(unb64(
                chunk["data"]["release"].as_str().unwrap_or_default(),
                &chunk_name,
            )?);
        }
        decode(&bytes, &name)
    }

    /// Every revision of a release, oldest first.
    pub async fn history(&self, release: &str) -> Result<Vec<Release>, ReleaseError> {
        let selector = format!(
            "owner={},name={release},!windlass.io/chunk",
            crate::TOOL_NAME
        );
        let secrets = self
            .cluster
            .list("v1", "Secret", Some(&self.namespace), &selector)
            .await?;
        let mut out = Vec::with_capacity(secrets.len());
        for s in secrets.iter().filter(|s| s["type"] == SECRET_TYPE) {
            out.push(self.read(s).await?);
        }
        out.sort_by_key(|r| r.revision);
        Ok(out)
    }

    /// The latest revision of every release in the namespace (or all
    /// namespaces), newest first per name.
    pub async fn list(&self, all_namespaces: bool) -> Result<Vec<Release>, ReleaseError> {
        let selector = format!("owner={},!windlass.io/chunk", crate::TOOL_NAME);
        let secrets = if all_namespaces {
            self.cluster.list_all("v1", "Secret", &selector).await?
        } else {
            self.cluster
                .list("v1", "Secret", Some(&self.namespace), &selector)
                .await?
        };
        let mut latest: std::collections::BTreeMap<(String, String), Release> = Default::default();
        for s in secrets.iter().filter(|s| s["type"] == SECRET_TYPE) {
            let ns = s["metadata"]["namespace"].as_str().unwrap_or_default();
            let store = Store::new(self.cluster, ns);
            let rel = store.read(s).await?;
            let key = (rel.namespace.clone(), rel.name.clone());
            if latest.get(&key).is_none_or(|r| r.revision < rel.revision) {
                latest.insert(key, rel);
            }
        }
        Ok(latest.into_values().collect())
    }

    /// Deletes a revision's record and its chunks.
    pub async fn delete(&self, release: &str, revision: u64) -> Result<(), ReleaseError> {
        let main = secret_name(release, revision);
        if let Some(s) = self
            .cluster
            .get("v1", "Secret", Some(&self.namespace), &main)
            .await?
        {
            let chunks: usize = s["metadata"]["annotations"]["windlass.io/chunks"]
                .as_str()
                .and_then(|c| c.parse().ok())
                .unwrap_or(1);
            self.cluster
                .delete("v1", "Secret", Some(&self.namespace), &main)
                .await?;
            for i in 1..chunks {
                self.cluster
                    .delete(
                        "v1",
                        "Secret",
                        Some(&self.namespace),
                        &format!("{main}.c{i}"),
                    )
                    .await?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_through_gzip() {
        let rel = Release {
            name: "hdfs".into(),
            namespace: "data".into(),
            revision: 3,
            status: Status::Deployed,
            description: "Upgrade complete".into(),
            first_deployed: now(),
            last_deployed: now(),
            chart: ChartRef {
                name: "hdfs".into(),
                version: "0.1.0".into(),
                app_version: "3.4.1".into(),
                digest: "abc".into(),
            },
            config: json!({"datanode": {"replicas": 3}}),
            computed: json!({}),
            manifest: "---\nkind: ConfigMap\n".into(),
            notes: String::new(),
            created: Vec::new(),
        };

        let bytes = encode(&rel);
        assert_eq!(decode(&bytes, "s").unwrap(), rel);
        assert!(decode(b"not gzip", "s")
            .unwrap_err()
            .to_string()
            .contains("release record s is damaged"));
        assert_eq!(
            serde_json::to_value(Status::PendingUpgrade).unwrap(),
            "pending-upgrade"
        );
    }

    #[test]
    fn release_names() {
        assert!(validate_name("hdfs").is_ok());
        assert!(validate_name("Bad").is_err());
        assert!(validate_name(&"a".repeat(54)).is_err());
        assert_eq!(secret_name("hdfs", 2), "windlass.release.v1.hdfs.v2");
    }
}
