//! Live objects for templates' `lookup`.

use serde_json::Value;

use super::{Cluster, ClusterError};

impl Cluster {
    /// Helm's `lookup`: the object, or with an empty name the list of the
    /// kind in `namespace` (every namespace when it is empty too), as
    /// `{"items": [...]}`. A missing object, or a kind the server does not
    /// serve, is an empty map; other errors are errors.
    pub async fn lookup(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
        name: &str,
    ) -> Result<Value, ClusterError> {
        let ns = (!namespace.is_empty()).then_some(namespace);
        let found = if name.is_empty() {
            let items = match ns {
                Some(ns) => self.list(api_version, kind, Some(ns), "").await,
                None => self.list_all(api_version, kind, "").await,
            };
            items.map(|items| {
                serde_json::json!({"apiVersion": "v1", "kind": format!("{kind}List"), "items": items})
            })
        } else {
            self.get(api_version, kind, ns, name)
                .await
                .map(|o| o.unwrap_or_else(|| serde_json::json!({})))
        };
        match found {
            Err(ClusterError::UnknownKind { .. }) => Ok(serde_json::json!({})),
            other => other,
        }
    }
}
