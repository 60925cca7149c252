//! One identity for a Kubernetes object across the code: group, kind,
//! namespace and name. The version is left out on purpose: the same object
//! read through `apps/v1` or a later version is still the same object, and
//! a chart moving an object to a new apiVersion must not prune it.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Which object: group (empty for the core group), kind, namespace (empty
/// for cluster-scoped objects, or before the object is prepared) and name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ObjectRef {
    /// API group, empty for the core group.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub group: String,
    /// Kind.
    pub kind: String,
    /// Namespace; empty for cluster-scoped objects.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl ObjectRef {
    /// The identity of an object as given (call it on prepared objects,
    /// whose namespace has been filled in or removed by their scope).
    pub fn of(obj: &Value) -> ObjectRef {
        let group = obj["apiVersion"]
            .as_str()
            .unwrap_or("")
            .rsplit_once('/')
            .map(|(g, _)| g.to_string())
            .unwrap_or_default();
        ObjectRef {
            group,
            kind: obj["kind"].as_str().unwrap_or("object").to_string(),
            namespace: obj["metadata"]["namespace"]
                .as_str()
                .unwrap_or("")
                .to_string(),
            name: obj["metadata"]["name"].as_str().unwrap_or("?").to_string(),
        }
    }
}

impl ObjectRef {
    /// `group/kind/namespace/name`: a map key in release records.
    pub fn key(&self) -> String {
        format!(
            "{}/{}/{}/{}",
            self.group, self.kind, self.namespace, self.name
        )
    }
}

impl std::fmt::Display for ObjectRef {
    /// `Kind namespace/name`, or `Kind name` when cluster-scoped.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.namespace.is_empty() {
            write!(f, "{} {}", self.kind, self.name)
        } else {
            write!(f, "{} {}/{}", self.kind, self.namespace, self.name)
        }
    }
}

/// `Kind namespace/name` or `Kind name`, for messages.
pub fn describe(obj: &Value) -> String {
    ObjectRef::of(obj).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn identity_ignores_the_version() {
        let a = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "w", "namespace": "n"}});
        let b = json!({"apiVersion": "apps/v2", "kind": "Deployment", "metadata": {"name": "w", "namespace": "n"}});
        assert_eq!(ObjectRef::of(&a), ObjectRef::of(&b));
        assert_eq!(ObjectRef::of(&a).to_string(), "Deployment n/w");
        let pv = json!({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "p"}});
        assert_eq!(ObjectRef::of(&pv).group, "");
        assert_eq!(describe(&pv), "PersistentVolume p");
    }
}
