//! Helm-compatible provenance: `CHART.tgz.prov` is an OpenPGP clear-signed
//! message of the chart's Chart.yaml, YAML's document end `...`, and
//! `files: {CHART.tgz: sha256:...}`. Verifying checks the signature against
//! a keyring and the archive against the listed digest.

use std::collections::BTreeMap;
use std::io::Cursor;
use std::path::{Path, PathBuf};

use pgp::cleartext::CleartextSignedMessage;
use pgp::types::SecretKeyTrait;
use pgp::{PublicOrSecret, SignedSecretKey};
use serde::{Deserialize, Serialize};

use super::sha256_hex;

/// Signing or verifying failed; each way names the file.
#[derive(Debug, thiserror::Error)]
pub enum ProvenanceError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The keyring does not parse.
    #[error("keyring {path}: {message}")]
    Keyring {
        /// The keyring.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// No secret key in the keyring has a user ID containing the name.
    #[error("keyring {keyring}: no secret key whose user ID contains `{name}` (it has: {})", have.join("; "))]
    NoKey {
        /// The keyring.
        keyring: PathBuf,
        /// The name asked for.
        name: String,
        /// The user IDs it has.
        have: Vec<String>,
    },
    /// Signing failed (a wrong passphrase, a key that cannot sign).
    #[error("signing with `{name}`: {message}")]
    Sign {
        /// The key.
        name: String,
        /// Why.
        message: String,
    },
    /// There is no provenance file.
    #[error(
        "{prov}: no provenance file, so {archive} cannot be verified (package it with --sign)"
    )]
    Missing {
        /// The archive.
        archive: String,
        /// Where the provenance file was looked for.
        prov: String,
    },
    /// The provenance file is not a clear-signed Helm provenance message.
    #[error("{prov}: not a provenance file: {message}")]
    Malformed {
        /// The file.
        prov: String,
        /// Why.
        message: String,
    },
    /// The signature verifies against no key of the keyring.
    #[error("{prov}: the signature does not verify against any key in {keyring}: not signed by a key you trust, or the provenance file was altered")]
    Signature {
        /// The provenance file.
        prov: String,
        /// The keyring.
        keyring: PathBuf,
    },
    /// The archive is not what was signed.
    #[error("{archive}: sha256 {actual} does not match the signed digest {expected} in its provenance file: the archive was altered")]
    Digest {
        /// The archive.
        archive: String,
        /// The signed digest.
        expected: String,
        /// The archive's.
        actual: String,
    },
    /// The provenance file lists another archive.
    #[error("{prov}: signs {listed}, not {archive}")]
    NotListed {
        /// The provenance file.
        prov: String,
        /// The archive.
        archive: String,
        /// What it lists.
        listed: String,
    },
}

#[derive(Debug, Serialize, Deserialize)]
struct Sums {
    files: BTreeMap<String, String>,
}

fn read(path: &Path) -> Result<Vec<u8>, ProvenanceError> {
    std::fs::read(path).map_err(|source| ProvenanceError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn keys(keyring: &Path) -> Result<Vec<PublicOrSecret>, ProvenanceError> {
    let bytes = read(keyring)?;
    let bad = |message: String| ProvenanceError::Keyring {
        path: keyring.to_path_buf(),
        message,
    };
    let (iter, _) = pgp::from_reader_many(Cursor::new(bytes)).map_err(|e| bad(e.to_string()))?;
    let keys: Vec<PublicOrSecret> = iter
        .collect::<Result<_, _>>()
        .map_err(|e| bad(e.to_string()))?;
    if keys.is_empty() {
        return Err(bad("it holds no keys".into()));
    }
    Ok(keys)
}

fn user_ids(details: &pgp::composed::SignedKeyDetails) -> Vec<String> {
    details
        .users
        .iter()
        .map(|u| u.id.id().to_string())
        .collect()
}

/// The message a provenance file signs for `archive` (named `file_name`).
pub fn message(archive: &[u8], file_name: &str) -> Result<String, String> {
    let chart = crate::chart::load_archive_bytes(archive, Path::new(file_name))
        .map_err(|e| e.to_string())?;
    let meta = serde_yaml::to_string(&chart.metadata).map_err(|e| e.to_string())?;
    let sums = Sums {
        files: [(
            file_name.to_string(),
            format!("sha256:{}", sha256_hex(archive)),
        )]
        .into(),
    };
    let sums = serde_yaml::to_string(&sums).map_err(|e| e.to_string())?;
    // `---` would end the clear-signed text early; YAML's `...` ends a
    // document too (Helm's choice).
    Ok(format!("{meta}\n...\n{sums}"))
}

/// Signs `archive` with the secret key of `keyring` whose user ID contains
/// `name`; writes and returns `ARCHIVE.prov`.
pub fn sign(
    archive: &Path,
    keyring: &Path,
    name: &str,
    passphrase: &str,
) -> Result<PathBuf, ProvenanceError> {
    let bytes = read(archive)?;
    let file_name = archive
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let secret: Vec<SignedSecretKey> = keys(keyring)?
        .into_iter()
        .filter_map(|k| match k {
            PublicOrSecret::Secret(s) => Some(s),
            PublicOrSecret::Public(_) => None,
        })
        .collect();
    let lower = name.to_lowercase();
    let key = secret
        .iter()
        .find(|k| {
            user_ids(&k.details)
                .iter()
                .any(|u| u.to_lowercase().contains(&lower))
        })
        .ok_or_else(|| ProvenanceError::NoKey {
            keyring: keyring.to_path_buf(),
            name: name.to_string(),
            have: secret.iter().flat_map(|k| user_ids(&k.details)).collect(),
        })?;
    let fail = |message: String| ProvenanceError::Sign {
        name: name.to_string(),
        message,
    };
    let text = message(&bytes, &file_name).map_err(fail)?;
    let passphrase = passphrase.to_string();
    let signed = CleartextSignedMessage::sign(rand::thread_rng(), &text, key, || passphrase)
        .map_err(|e| fail(e.to_string()))?;
    let armored = signed
        .to_armored_string(Default::default())
        .map_err(|e| fail(e.to_string()))?;
    let prov = PathBuf::from(format!("{}.prov", archive.display()));
    std::fs::write(&prov, armored).map_err(|source| ProvenanceError::Io {
        path: prov.clone(),
        source,
    })?;
    Ok(prov)
}

/// Who signed a verified archive.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The signing key's user IDs.
    pub signed_by: Vec<String>,
    /// The archive's sha256.
    pub digest: String,
}

/// Verifies `archive` (called `file_name` in the provenance file) against
/// the provenance text `prov` (from `prov_name`, for messages) and the keys
/// of `keyring`.
pub fn verify_bytes(
    archive: &[u8],
    file_name: &str,
    prov: &str,
    prov_name: &str,
    keyring: &Path,
) -> Result<Verified, ProvenanceError> {
    let malformed = |message: String| ProvenanceError::Malformed {
        prov: prov_name.to_string(),
        message,
    };
    let (msg, _) =
        CleartextSignedMessage::from_string(prov).map_err(|e| malformed(e.to_string()))?;
    // Each key's primary public key, with its user IDs.
    let publics: Vec<(pgp::packet::PublicKey, Vec<String>)> = keys(keyring)?
        .into_iter()
        .map(|k| match k {
            PublicOrSecret::Public(p) => (p.primary_key.clone(), user_ids(&p.details)),
            PublicOrSecret::Secret(s) => (s.primary_key.public_key(), user_ids(&s.details)),
        })
        .collect();
    let (_, signer) = publics
        .iter()
        .find(|(k, _)| msg.verify(k).is_ok())
        .ok_or_else(|| ProvenanceError::Signature {
            prov: prov_name.to_string(),
            keyring: keyring.to_path_buf(),
        })?;
    // The signed text comes back with the CRLF line ends it was hashed with.
    let text = msg.signed_text().replace("\r\n", "\n");
    let (_, sums) = text
        .split_once("\n...\n")
        .ok_or_else(|| malformed("no `...` between Chart.yaml and the file sums".into()))?;
    let sums: Sums = serde_yaml::from_str(sums).map_err(|e| malformed(e.to_string()))?;
    let expected = sums
        .files
        .get(file_name)
        .ok_or_else(|| ProvenanceError::NotListed {
            prov: prov_name.to_string(),
            archive: file_name.to_string(),
            listed: sums.files.keys().cloned().collect::<Vec<_>>().join(", "),
        })?;
    let actual = sha256_hex(archive);
    if expected.trim_start_matches("sha256:") != actual {
        return Err(ProvenanceError::Digest {
            archive: file_name.to_string(),
            expected: expected.clone(),
            actual: format!("sha256:{actual}"),
        });
    }
    Ok(Verified {
        signed_by: signer.clone(),
        digest: actual,
    })
}

/// Verifies an archive with `ARCHIVE.prov` beside it.
pub fn verify(archive: &Path, keyring: &Path) -> Result<Verified, ProvenanceError> {
    let bytes = read(archive)?;
    let prov_path = PathBuf::from(format!("{}.prov", archive.display()));
    let prov = match std::fs::read_to_string(&prov_path) {
        Ok(p) => p,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ProvenanceError::Missing {
                archive: archive.display().to_string(),
                prov: prov_path.display().to_string(),
            })
        }
        Err(source) => {
            return Err(ProvenanceError::Io {
                path: prov_path,
                source,
            })
        }
    };
    let file_name = archive
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    verify_bytes(
        &bytes,
        &file_name,
        &prov,
        &prov_path.display().to_string(),
        keyring,
    )
}
