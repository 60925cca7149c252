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
    /// For a deployed revision: each object's [`ObjectRef::key`] and the
    /// digest of the fields windlass owned on it once applied
    /// ([`crate::cluster::owned_digest`]). The next operation skips the dry
    /// run of an object it renders exactly as this revision did while the
    /// live object still shows that ownership.
    ///
    /// [`ObjectRef::key`]: crate::cluster::ObjectRef::key
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub owned: std::collections::BTreeMap<String, String>,
    /// The hooks this revision's operation ran (and `windlass test`'s
    /// last run), in the order they ran, with their outcome.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hooks: Vec<HookRun>,
    /// The cluster lookups its templates made: fetched before the next
    /// upgrade renders, so a chart that looks things up renders once.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lookups: Vec<crate::render::lookup::LookupKey>,
    /// Set when the record could not be read (a chunk missing, bytes that
    /// do not decode): the fields then come from its labels only, and the
    /// manifest and values are empty. Never written back.
    #[serde(skip)]
    pub damaged: Option<String>,
}

/// One hook run, as recorded with the revision that ran it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookRun {
    /// The event it ran for (`pre-upgrade`).
    pub event: String,
    /// `Job hdfs/hdfs-decommission`.
    pub object: String,
    /// Its weight.
    pub weight: i64,
    /// `Succeeded` or `Failed`.
    pub phase: String,
    /// When it was created (RFC 3339).
    pub started: String,
    /// When it finished (RFC 3339).
    pub completed: String,
    /// Why it failed; empty when it succeeded.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
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

/// Annotation holding a revision's description, readable without
/// decompressing the record.
const DESCRIPTION_ANNOTATION: &str = "windlass.io/description";
/// Annotation naming a chunked record's chunk set.
const CHUNK_SET_ANNOTATION: &str = "windlass.io/chunk-set";
/// Annotation counting a record's parts (1 when not chunked).
const CHUNKS_ANNOTATION: &str = "windlass.io/chunks";
/// Longest description kept in the annotation (annotations share 256 KiB).
const DESCRIPTION_MAX: usize = 16 * 1024;

/// The compressed record. Status and description are left out: they live
/// in the Secret's label and annotation, so a status change rewrites one
/// Secret in one request, never the chunks.
fn encode(rel: &Release) -> Vec<u8> {
    let mut v = serde_json::to_value(rel).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.remove("status");
        o.remove("description");
    }
    let json = serde_json::to_vec(&v).unwrap_or_default();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing to a Vec cannot fail.
    let _ = gz.write_all(&json);
    gz.finish().unwrap_or_default()
}

/// Decodes a record; `status` and `description` (from the Secret) win over
/// what older records carried inside.
fn decode(
    bytes: &[u8],
    secret: &str,
    status: Option<&str>,
    description: Option<&str>,
) -> Result<Release, ReleaseError> {
    let corrupt = |m: String| ReleaseError::Corrupt {
        secret: secret.to_string(),
        message: m,
    };
    let mut json = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .take(512 * 1024 * 1024)
        .read_to_end(&mut json)
        .map_err(|e| corrupt(e.to_string()))?;
    let mut v: Value = serde_json::from_slice(&json).map_err(|e| corrupt(e.to_string()))?;
    if let Some(o) = v.as_object_mut() {
        if let Some(s) = status {
            o.insert("status".into(), json!(s));
        }
        if let Some(d) = description {
            o.insert("description".into(), json!(d));
        }
        o.entry("description").or_insert_with(|| json!(""));
    }
    serde_json::from_value(v).map_err(|e| corrupt(e.to_string()))
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

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// The name of chunk `i` of a chunk set (older records: no set).
fn chunk_name(main: &str, set: Option<&str>, i: usize) -> String {
    match set {
        Some(set) => format!("{main}.{set}.c{i}"),
        None => format!("{main}.c{i}"),
    }
}

const FORCE: crate::cluster::ApplyOptions = crate::cluster::ApplyOptions {
    force: true,
    dry_run: false,
};

/// Release records of one namespace.
///
/// A record larger than one Secret is split: its chunks form a set named
/// by the digest of the whole record, written first and never changed;
/// the main Secret, written last in a single request, names its set. An
/// interruption between any two writes therefore leaves either the old
/// main Secret with its intact set or the new one with its intact set;
/// sets no main Secret names are removed by the next save.
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

    fn labels(rel: &Release) -> Value {
        json!({
            "owner": crate::TOOL_NAME, "name": rel.name, "status": rel.status.as_str(),
            "version": rel.revision.to_string()
        })
    }

    /// Writes (creates or replaces) a revision's record, in chunks when large.
    pub async fn save(&self, rel: &Release) -> Result<(), ReleaseError> {
        if let Some(why) = &rel.damaged {
            return Err(ReleaseError::Corrupt {
                secret: secret_name(&rel.name, rel.revision),
                message: format!("refusing to write back a damaged record ({why})"),
            });
        }
        let payload = encode(rel);
        let parts: Vec<&[u8]> = if payload.is_empty() {
            vec![&payload[..]]
        } else {
            payload.chunks(CHUNK_BYTES).collect()
        };
        let main = secret_name(&rel.name, rel.revision);
        let set = (parts.len() > 1).then(|| crate::package::sha256_hex(&payload)[..12].to_string());
        for (i, part) in parts.iter().enumerate().skip(1) {
            let mut labels = Self::labels(rel);
            labels["status"] = json!("chunk");
            labels["windlass.io/chunk"] = json!("true");
            let chunk = json!({
                "apiVersion": "v1", "kind": "Secret", "type": SECRET_TYPE,
                "metadata": {
                    "name": chunk_name(&main, set.as_deref(), i), "namespace": self.namespace,
                    "labels": labels, "annotations": {CHUNK_SET_ANNOTATION: set}
                },
                "immutable": true,
                "data": {"release": b64(part)}
            });
            // An existing chunk of this set has this very content.
            match self.cluster.create(&chunk).await {
                Ok(_) | Err(crate::cluster::ClusterError::AlreadyExists { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let mut annotations = json!({
            CHUNKS_ANNOTATION: parts.len().to_string(),
            DESCRIPTION_ANNOTATION: truncate(&rel.description, DESCRIPTION_MAX),
        });
        if let Some(set) = &set {
            annotations[CHUNK_SET_ANNOTATION] = json!(set);
        }
        let s = json!({
            "apiVersion": "v1", "kind": "Secret", "type": SECRET_TYPE,
            "metadata": {
                "name": main, "namespace": self.namespace, "labels": Self::labels(rel),
                "annotations": annotations
            },
            "data": {"release": b64(parts[0])}
        });
        self.cluster.apply(&s, FORCE).await?;
        if set.is_some() {
            self.remove_chunks(&rel.name, rel.revision, set.as_deref())
                .await?;
        }
        Ok(())
    }

    /// Deletes the chunks of a revision except those of set `keep`.
    async fn remove_chunks(
        &self,
        release: &str,
        revision: u64,
        keep: Option<&str>,
    ) -> Result<(), ReleaseError> {
        let selector = format!(
            "owner={},name={release},version={revision},windlass.io/chunk",
            crate::TOOL_NAME
        );
        for c in self
            .cluster
            .list("v1", "Secret", Some(&self.namespace), &selector)
            .await?
        {
            if keep.is_some() && c["metadata"]["annotations"][CHUNK_SET_ANNOTATION].as_str() == keep
            {
                continue;
            }
            let name = c["metadata"]["name"].as_str().unwrap_or_default();
            self.cluster
                .delete("v1", "Secret", Some(&self.namespace), name)
                .await?;
        }
        Ok(())
    }

    async fn read(&self, secret: &Value) -> Result<Release, ReleaseError> {
        let name = secret["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let annotations = &secret["metadata"]["annotations"];
        let chunks: usize = annotations[CHUNKS_ANNOTATION]
            .as_str()
            .and_then(|c| c.parse().ok())
            .unwrap_or(1);
        let set = annotations[CHUNK_SET_ANNOTATION].as_str();
        let mut bytes = unb64(
            secret["data"]["release"].as_str().unwrap_or_default(),
            &name,
        )?;
        for i in 1..chunks {
            let chunk_name = chunk_name(&name, set, i);
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
        decode(
            &bytes,
            &name,
            secret["metadata"]["labels"]["status"].as_str(),
            annotations[DESCRIPTION_ANNOTATION].as_str(),
        )
    }

    /// Reads a record; a damaged one (a chunk missing, bytes that do not
    /// decode) becomes what its labels say, marked damaged, so one bad
    /// record never makes a whole release unreadable. Cluster errors
    /// still fail.
    async fn read_lenient(&self, secret: &Value) -> Result<Release, ReleaseError> {
        match self.read(secret).await {
            Err(ReleaseError::Corrupt { secret: s, message }) => {
                let meta = &secret["metadata"];
                let labels = &meta["labels"];
                let status = labels["status"]
                    .as_str()
                    .and_then(|s| serde_json::from_value(json!(s)).ok())
                    .unwrap_or(Status::Failed);
                let damaged = format!("release record {s} is damaged: {message}");
                Ok(Release {
                    name: labels["name"].as_str().unwrap_or_default().to_string(),
                    namespace: meta["namespace"].as_str().unwrap_or_default().to_string(),
                    revision: labels["version"]
                        .as_str()
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0),
                    status,
                    description: meta["annotations"][DESCRIPTION_ANNOTATION]
                        .as_str()
                        .unwrap_or("(damaged record)")
                        .to_string(),
                    first_deployed: String::new(),
                    last_deployed: meta["creationTimestamp"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    chart: ChartRef {
                        name: String::new(),
                        version: String::new(),
                        app_version: String::new(),
                        digest: String::new(),
                    },
                    config: Value::Null,
                    computed: Value::Null,
                    manifest: String::new(),
                    notes: String::new(),
                    created: Vec::new(),
                    owned: Default::default(),
                    hooks: Vec::new(),
                    lookups: Vec::new(),
                    damaged: Some(damaged),
                })
            }
            other => other,
        }
    }

    /// Every revision of a release, oldest first. Damaged records are
    /// included, marked ([`Release::damaged`]).
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
            out.push(self.read_lenient(s).await?);
        }
        out.sort_by_key(|r| r.revision);
        Ok(out)
    }

    /// Every revision of a release and its status, from the records'
    /// labels alone (nothing decompressed), oldest first.
    pub async fn statuses(&self, release: &str) -> Result<Vec<(u64, Status)>, ReleaseError> {
        let selector = format!(
            "owner={},name={release},!windlass.io/chunk",
            crate::TOOL_NAME
        );
        let mut out: Vec<(u64, Status)> = self
            .cluster
            .list("v1", "Secret", Some(&self.namespace), &selector)
            .await?
            .iter()
            .filter(|s| s["type"] == SECRET_TYPE)
            .filter_map(|s| {
                let labels = &s["metadata"]["labels"];
                let rev = labels["version"].as_str()?.parse().ok()?;
                let status = serde_json::from_value(labels["status"].clone()).ok()?;
                Some((rev, status))
            })
            .collect();
        out.sort_by_key(|(r, _)| *r);
        Ok(out)
    }

    /// The latest revision of every release in the namespace (or all
    /// namespaces). Only the latest record of each is decoded.
    pub async fn list(&self, all_namespaces: bool) -> Result<Vec<Release>, ReleaseError> {
        let selector = format!("owner={},!windlass.io/chunk", crate::TOOL_NAME);
        let secrets = if all_namespaces {
            self.cluster.list_all("v1", "Secret", &selector).await?
        } else {
            self.cluster
                .list("v1", "Secret", Some(&self.namespace), &selector)
                .await?
        };
        let mut latest: std::collections::BTreeMap<(String, String), (u64, &Value)> =
            Default::default();
        for s in secrets.iter().filter(|s| s["type"] == SECRET_TYPE) {
            let labels = &s["metadata"]["labels"];
            let key = (
                s["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                labels["name"].as_str().unwrap_or_default().to_string(),
            );
            let rev: u64 = labels["version"]
                .as_str()
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            if latest.get(&key).is_none_or(|(r, _)| *r < rev) {
                latest.insert(key, (rev, s));
            }
        }
        let mut out = Vec::with_capacity(latest.len());
        for ((ns, _), (_, s)) in latest {
            out.push(Store::new(self.cluster, &ns).read_lenient(s).await?);
        }
        Ok(out)
    }

    /// Deletes a revision's record and its chunks: the main Secret first,
    /// so no reader finds a record without its chunks.
    pub async fn delete(&self, release: &str, revision: u64) -> Result<(), ReleaseError> {
        let main = secret_name(release, revision);
        let Some(s) = self
            .cluster
            .get("v1", "Secret", Some(&self.namespace), &main)
            .await?
        else {
            return Ok(());
        };
        let chunked = s["metadata"]["annotations"][CHUNKS_ANNOTATION]
            .as_str()
            .is_some_and(|c| c != "1");
        self.cluster
            .delete("v1", "Secret", Some(&self.namespace), &main)
            .await?;
        if chunked {
            self.remove_chunks(release, revision, None).await?;
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
            owned: Default::default(),
            hooks: Vec::new(),
            lookups: Vec::new(),
            damaged: None,
        };
        let bytes = encode(&rel);
        assert_eq!(
            decode(&bytes, "s", Some("deployed"), Some("Upgrade complete")).unwrap(),
            rel
        );
        let failed = decode(&bytes, "s", Some("failed"), None).unwrap();
        assert_eq!(failed.status, Status::Failed);
        assert_eq!(failed.description, "");
        assert!(decode(b"not gzip", "s", None, None)
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
