//! Cluster errors in the user's terms: what was being done, to which
//! object, and what to do about it.

/// A field another field manager owns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldConflict {
    /// The manager that owns the field (`kubectl-scale`).
    pub manager: String,
    /// The field path as the server prints it (`.spec.replicas`).
    pub field: String,
}

/// One reason a request was invalid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cause {
    /// The field (`spec.volumeClaimTemplates`, `metadata.name`).
    pub field: String,
    /// The server's message for it.
    pub message: String,
}

/// Talking to the cluster failed.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// No kubeconfig and not running in a cluster.
    #[error(
        "no cluster configured: pass --kubeconfig, set KUBECONFIG, or create ~/.kube/config ({0})"
    )]
    NotConfigured(String),
    /// The kubeconfig could not be used.
    #[error("kubeconfig {path}: {message}")]
    Kubeconfig {
        /// The file (or `KUBECONFIG`).
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The server could not be reached.
    #[error("cannot reach the Kubernetes API server at {server}: {cause}")]
    Unreachable {
        /// The server URL.
        server: String,
        /// Refused, timed out, DNS, ...
        cause: String,
    },
    /// The TLS handshake failed.
    #[error("TLS handshake with {server} failed: {cause} (check the certificate-authority of the kubeconfig's cluster)")]
    Tls {
        /// The server URL.
        server: String,
        /// The TLS error.
        cause: String,
    },
    /// 401.
    #[error("the API server at {server} rejected the credentials (401 Unauthorized): check the user's token or client certificate in the kubeconfig")]
    Unauthorized {
        /// The server URL.
        server: String,
    },
    /// 403.
    #[error("{action}: forbidden: {message}")]
    Forbidden {
        /// What was being done.
        action: String,
        /// The server's message.
        message: String,
    },
    /// 404.
    #[error("{action}: not found: {message}")]
    NotFound {
        /// What was being done.
        action: String,
        /// The server's message.
        message: String,
    },
    /// 409 AlreadyExists.
    #[error("{action}: already exists: {message}")]
    AlreadyExists {
        /// What was being done.
        action: String,
        /// The server's message.
        message: String,
    },
    /// 409 from server-side apply: fields owned by other managers.
    #[error("{action}: {}", describe_conflicts(conflicts))]
    ApplyConflict {
        /// What was being done.
        action: String,
        /// Each conflicting field and its owner.
        conflicts: Vec<FieldConflict>,
    },
    /// 409 Conflict on update: the object changed meanwhile.
    #[error("{action}: the object was modified by someone else meanwhile; retry the operation ({message})")]
    Conflict {
        /// What was being done.
        action: String,
        /// The server's message.
        message: String,
    },
    /// 422.
    #[error(
        "{action}: rejected as invalid:{}",
        describe_causes(causes, message, name)
    )]
    Invalid {
        /// What was being done.
        action: String,
        /// The object's name, as the server reported it.
        name: String,
        /// The server's summary.
        message: String,
        /// Every cause with its field path.
        causes: Vec<Cause>,
    },
    /// The manifest names a kind the server does not serve.
    #[error("the cluster does not serve {kind} in {api_version} (is a CRD missing, or the apiVersion outdated?)")]
    UnknownKind {
        /// apiVersion.
        api_version: String,
        /// kind.
        kind: String,
    },
    /// 5xx or 429 that retries did not get past.
    #[error("{action}: the API server kept failing ({code} {message}); gave up after {attempts} attempts")]
    Server {
        /// What was being done.
        action: String,
        /// HTTP status.
        code: u16,
        /// The server's message.
        message: String,
        /// Attempts made.
        attempts: usize,
    },
    /// A 500 without a reason: the server refused the object itself (a
    /// wrong type, an unknown field, duplicate list keys). Not retried.
    #[error("{action}: the API server refused it: {}", refusal(message))]
    Refused {
        /// What was being done.
        action: String,
        /// The server's message.
        message: String,
    },
    /// Any other API error.
    #[error("{action}: {code} {reason}: {message}")]
    Api {
        /// What was being done.
        action: String,
        /// HTTP status.
        code: u16,
        /// The server's reason.
        reason: String,
        /// The server's message.
        message: String,
    },
    /// A manifest could not be sent (not an object, no name...).
    #[error("{0}")]
    BadObject(String),
    /// Waiting for readiness ran out of time.
    #[error("timed out after {}s waiting for: {}", .seconds, .not_ready.join("; "))]
    Timeout {
        /// How long it waited.
        seconds: u64,
        /// One line per object that is not ready, with why.
        not_ready: Vec<String>,
    },
    /// The caller asked to stop between writes (see
    /// [`Cluster::execute_checked`](super::Cluster::execute_checked)).
    #[error("stopped before the next write")]
    Stopped,
}

fn describe_conflicts(conflicts: &[FieldConflict]) -> String {
    let list: Vec<String> = conflicts
        .iter()
        .map(|c| format!("{} (owned by \"{}\")", c.field, c.manager))
        .collect();
    format!(
        "conflicts with fields another field manager owns: {}; change them back, or re-run with --force-conflicts to take them over",
        list.join(", ")
    )
}

fn describe_causes(causes: &[Cause], message: &str, name: &str) -> String {
    if causes.is_empty() {
        return format!(" {message}");
    }
    let mut out = String::new();
    for c in causes {
        let first = c.message.lines().next().unwrap_or_default();
        out.push_str(&format!("\n  - {}: {first}", c.field));
        if c.field == "spec" && first.contains("updates to statefulset spec") {
            out.push_str(&format!("\n    hint: a StatefulSet's volumeClaimTemplates, selector and serviceName cannot change; keep the old values, or delete the StatefulSet with `kubectl delete statefulset {name} --cascade=orphan` (its pods and volumes stay) and apply again"));
        }
        if c.field.contains("persistentvolumesource") {
            out.push_str("\n    hint: a PersistentVolume's source (e.g. hostPath) cannot change; keep the old path, or create a new PersistentVolume");
        }
    }
    out
}

/// `failed to create typed patch object (/x; apps/v1, Kind=StatefulSet):
/// .spec.replicas: expected ...` names the object twice over; the action
/// already names it, so keep the field and the problem.
fn refusal(message: &str) -> &str {
    match message.strip_prefix("failed to create typed patch object (") {
        Some(rest) => rest.split_once("): ").map_or(message, |(_, tail)| tail),
        None => message,
    }
}

fn quoted(s: &str) -> Option<String> {
    let start = s.find('"')? + 1;
    let len = s[start..].find('"')?;
    Some(s[start..start + len].to_string())
}

/// Maps a kube-rs error to a [`ClusterError`].
pub(crate) fn map(e: kube::Error, action: &str, server: &str, attempts: usize) -> ClusterError {
    match e {
        kube::Error::Api(status) => {
            let code = status.code;
            let message = status.message.clone();
            let action = action.to_string();
            let causes = status
                .details
                .as_ref()
                .map(|d| d.causes.clone())
                .unwrap_or_default();
            match code {
                401 => ClusterError::Unauthorized {
                    server: server.to_string(),
                },
                403 => ClusterError::Forbidden { action, message },
                404 => ClusterError::NotFound { action, message },
                409 if status.reason == "AlreadyExists" => {
                    ClusterError::AlreadyExists { action, message }
                }
                409 if causes.iter().any(|c| c.reason == "FieldManagerConflict") => {
                    ClusterError::ApplyConflict {
                        action,
                        conflicts: causes
                            .iter()
                            .filter(|c| c.reason == "FieldManagerConflict")
                            .map(|c| FieldConflict {
                                manager: quoted(&c.message).unwrap_or_else(|| c.message.clone()),
                                field: c.field.clone(),
                            })
                            .collect(),
                    }
                }
                409 => ClusterError::Conflict { action, message },
                422 => ClusterError::Invalid {
                    action,
                    name: status
                        .details
                        .as_ref()
                        .map(|d| d.name.clone())
                        .unwrap_or_default(),
                    message,
                    causes: causes
                        .iter()
                        .map(|c| Cause {
                            field: c.field.clone(),
                            message: c.message.clone(),
                        })
                        .collect(),
                },
                500 if status.reason.is_empty() => ClusterError::Refused { action, message },
                429 | 500..=599 => ClusterError::Server {
                    action,
                    code,
                    message,
                    attempts,
                },
                _ => ClusterError::Api {
                    action,
                    code,
                    reason: status.reason.clone(),
                    message,
                },
            }
        }
        other => {
            // Transport errors nest their cause; the innermost is the readable one.
            let mut chain = vec![other.to_string()];
            let mut src: Option<&dyn std::error::Error> = std::error::Error::source(&other);
            while let Some(s) = src {
                chain.push(s.to_string());
                src = s.source();
            }
            let all = chain.join(": ").to_lowercase();
            let cause = chain.last().cloned().unwrap_or_default();
            if all.contains("certificate")
                || all.contains("tls")
                || all.contains("unknownissuer")
                || all.contains("handshake")
            {
                ClusterError::Tls {
                    server: server.to_string(),
                    cause,
                }
            } else if all.contains("connection refused") {
                ClusterError::Unreachable {
                    server: server.to_string(),
                    cause: "connection refused".into(),
                }
            } else {
                ClusterError::Unreachable {
                    server: server.to_string(),
                    cause,
                }
            }
        }
    }
}
