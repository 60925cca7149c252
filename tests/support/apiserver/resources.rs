//! The resource types the test API server serves, and its discovery
//! documents (shaped like the recorded responses of a real v1.32 server).

use serde_json::{json, Value};

use super::schema::Node;

/// One resource type.
#[derive(Debug, Clone, Copy)]
pub struct Res {
    pub group: &'static str,
    pub version: &'static str,
    pub plural: &'static str,
    pub singular: &'static str,
    pub kind: &'static str,
    pub namespaced: bool,
    pub subresources: &'static [&'static str],
    /// A custom resource's schema (from its CRD); built-in kinds take
    /// theirs from the OpenAPI documents.
    pub crd_schema: Option<&'static Value>,
}

impl Res {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `statefulsets.apps`, as messages name it.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_string()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// `StatefulSet.apps`, as validation messages name it.
    pub fn kind_qualified(&self) -> String {
        if self.group.is_empty() {
            self.kind.to_string()
        } else {
            format!("{}.{}", self.kind, self.group)
        }
    }

    /// Whether objects of this type carry `metadata.generation`.
    pub fn has_generation(&self) -> bool {
        self.crd_schema.is_some()
            || matches!(
                self.group,
                "apps" | "batch" | "policy" | "networking.k8s.io" | "apiextensions.k8s.io"
            )
    }

    /// The schema objects of this type are checked and merged by.
    pub fn node(&self) -> Node {
        match self.crd_schema {
            Some(s) => Node::for_crd(s),
            None => Node::for_kind(&self.api_version(), self.kind),
        }
    }

    /// `apps/v1, Kind=StatefulSet` (`/v1, Kind=Service` for the core
    /// group), as server-side apply's messages name the type.
    pub fn gvk_string(&self) -> String {
        format!("{}/{}, Kind={}", self.group, self.version, self.kind)
    }
}

const fn r(
    group: &'static str,
    plural: &'static str,
    singular: &'static str,
    kind: &'static str,
    namespaced: bool,
    subresources: &'static [&'static str],
) -> Res {
    Res {
        group,
        version: "v1",
        plural,
        singular,
        kind,
        namespaced,
        subresources,
        crd_schema: None,
    }
}

pub const RESOURCES: &[Res] = &[
    r(
        "",
        "namespaces",
        "namespace",
        "Namespace",
        false,
        &["status"],
    ),
    r("", "configmaps", "configmap", "ConfigMap", true, &[]),
    r("", "secrets", "secret", "Secret", true, &[]),
    r("", "services", "service", "Service", true, &["status"]),
    r(
        "",
        "serviceaccounts",
        "serviceaccount",
        "ServiceAccount",
        true,
        &[],
    ),
    r(
        "",
        "persistentvolumes",
        "persistentvolume",
        "PersistentVolume",
        false,
        &["status"],
    ),
    r(
        "",
        "persistentvolumeclaims",
        "persistentvolumeclaim",
        "PersistentVolumeClaim",
        true,
        &["status"],
    ),
    r("", "pods", "pod", "Pod", true, &["status"]),
    r("", "nodes", "node", "Node", false, &["status"]),
    r("", "events", "event", "Event", true, &[]),
    r(
        "apps",
        "statefulsets",
        "statefulset",
        "StatefulSet",
        true,
        &["status", "scale"],
    ),
    r(
        "apps",
        "deployments",
        "deployment",
        "Deployment",
        true,
        &["status", "scale"],
    ),
    r(
        "apps",
        "daemonsets",
        "daemonset",
        "DaemonSet",
        true,
        &["status"],
    ),
    r(
        "policy",
        "poddisruptionbudgets",
        "poddisruptionbudget",
        "PodDisruptionBudget",
        true,
        &["status"],
    ),
    r(
        "networking.k8s.io",
        "networkpolicies",
        "networkpolicy",
        "NetworkPolicy",
        true,
        &[],
    ),
    r(
        "networking.k8s.io",
        "ingresses",
        "ingress",
        "Ingress",
        true,
        &["status"],
    ),
    r(
        "networking.k8s.io",
        "ingressclasses",
        "ingressclass",
        "IngressClass",
        false,
        &[],
    ),
    r("batch", "jobs", "job", "Job", true, &["status"]),
    r("batch", "cronjobs", "cronjob", "CronJob", true, &["status"]),
    r(
        "storage.k8s.io",
        "storageclasses",
        "storageclass",
        "StorageClass",
        false,
        &[],
    ),
    r("coordination.k8s.io", "leases", "lease", "Lease", true, &[]),
    r(
        "apiextensions.k8s.io",
        "customresourcedefinitions",
        "customresourcedefinition",
        "CustomResourceDefinition",
        false,
        &["status"],
    ),
    r(
        "rbac.authorization.k8s.io",
        "roles",
        "role",
        "Role",
        true,
        &[],
    ),
    r(
        "rbac.authorization.k8s.io",
        "rolebindings",
        "rolebinding",
        "RoleBinding",
        true,
        &[],
    ),
    r(
        "rbac.authorization.k8s.io",
        "clusterroles",
        "clusterrole",
        "ClusterRole",
        false,
        &[],
    ),
    r(
        "rbac.authorization.k8s.io",
        "clusterrolebindings",
        "clusterrolebinding",
        "ClusterRoleBinding",
        false,
        &[],
    ),
];

/// A resource type by group, version and plural: built in, or defined by
/// one of `crds`.
pub fn find(
    crds: &[&'static Res],
    group: &str,
    version: &str,
    plural: &str,
) -> Option<&'static Res> {
    RESOURCES
        .iter()
        .chain(crds.iter().copied())
        .find(|r| r.group == group && r.version == version && r.plural == plural)
}

/// The resource type a CRD defines (leaked: it lives as long as the test).
pub fn from_crd(crd: &Value) -> Option<&'static Res> {
    let leak = |s: &str| -> &'static str { Box::leak(s.to_string().into_boxed_str()) };
    let spec = &crd["spec"];
    let version = spec["versions"]
        .as_array()?
        .iter()
        .find(|v| v["served"] == true)?;
    let schema: &'static Value = Box::leak(Box::new(version["schema"]["openAPIV3Schema"].clone()));
    Some(Box::leak(Box::new(Res {
        group: leak(spec["group"].as_str()?),
        version: leak(version["name"].as_str()?),
        plural: leak(spec["names"]["plural"].as_str()?),
        singular: leak(spec["names"]["singular"].as_str().unwrap_or("")),
        kind: leak(spec["names"]["kind"].as_str()?),
        namespaced: spec["scope"] == "Namespaced",
        subresources: &[],
        crd_schema: Some(schema),
    })))
}

pub fn version() -> Value {
    json!({
        "major": "1", "minor": "32", "gitVersion": "v1.32.13",
        "gitCommit": "63adf010aa20e104c0b7043b47f42f50c9f72b17", "gitTreeState": "clean",
        "buildDate": "2026-11-25T20:41:37Z", "goVersion": "go1.27.3", "compiler": "gc",
        "platform": "linux/amd64"
    })
}

pub fn api_versions() -> Value {
    json!({"kind": "APIVersions", "versions": ["v1"],
           "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:6443"}]})
}

pub fn groups(crds: &[&'static Res]) -> Value {
    let mut names: Vec<&str> = RESOURCES
        .iter()
        .chain(crds.iter().copied())
        .map(|r| r.group)
        .filter(|g| !g.is_empty())
        .collect();
    names.sort();
    names.dedup();
    let groups: Vec<Value> = names
        .iter()
        .map(|g| {
            let gv = json!({"groupVersion": format!("{g}/v1"), "version": "v1"});
            json!({"name": g, "versions": [gv.clone()], "preferredVersion": gv})
        })
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

pub fn resource_list(crds: &[&'static Res], group: &str, version: &str) -> Option<Value> {
    let mut resources = Vec::new();
    for r in RESOURCES
        .iter()
        .chain(crds.iter().copied())
        .filter(|r| r.group == group && r.version == version)
    {
        resources.push(json!({
            "name": r.plural, "singularName": r.singular, "namespaced": r.namespaced, "kind": r.kind,
            "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
        }));
        for sub in r.subresources {
            let kind = if *sub == "scale" { "Scale" } else { r.kind };
            let group = if *sub == "scale" {
                "autoscaling"
            } else {
                r.group
            };
            resources.push(json!({
                "name": format!("{}/{sub}", r.plural), "singularName": "", "namespaced": r.namespaced,
                "group": group, "version": "v1", "kind": kind, "verbs": ["get", "patch", "update"]
            }));
        }
    }
    if resources.is_empty() {
        return None;
    }
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Some(
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}),
    )
}

/// What a real server answers aggregated discovery with (GA in 1.30).
pub const AGGREGATED_CONTENT_TYPE: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// Aggregated discovery (`apidiscovery.k8s.io/v2`): every group, version
/// and resource in one document; `/api` (core) or `/apis` (the rest), in
/// the shape kube-apiserver sends.
pub fn aggregated(crds: &[&'static Res], core: bool) -> Value {
    let mut groups: Vec<&str> = RESOURCES
        .iter()
        .chain(crds.iter().copied())
        .map(|r| r.group)
        .filter(|g| g.is_empty() == core)
        .collect();
    groups.sort();
    groups.dedup();
    let items: Vec<Value> = groups
        .iter()
        .map(|g| {
            let mut versions: Vec<&str> = RESOURCES
                .iter()
                .chain(crds.iter().copied())
                .filter(|r| r.group == *g)
                .map(|r| r.version)
                .collect();
            versions.dedup();
            let versions: Vec<Value> = versions
                .iter()
                .map(|v| {
                    let resources: Vec<Value> = RESOURCES
                        .iter()
                        .chain(crds.iter().copied())
                        .filter(|r| r.group == *g && r.version == *v)
                        .map(|r| {
                            let subresources: Vec<Value> = r
                                .subresources
                                .iter()
                                .map(|s| {
                                    let kind = if *s == "scale" {
                                        json!({"group": "autoscaling", "version": "v1", "kind": "Scale"})
                                    } else {
                                        json!({"group": r.group, "version": r.version, "kind": r.kind})
                                    };
                                    json!({"subresource": s, "responseKind": kind, "verbs": ["get", "patch", "update"]})
                                })
                                .collect();
                            json!({
                                "resource": r.plural,
                                "responseKind": {"group": r.group, "version": r.version, "kind": r.kind},
                                "scope": if r.namespaced { "Namespaced" } else { "Cluster" },
                                "singularResource": r.singular,
                                "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
                                "subresources": subresources
                            })
                        })
                        .collect();
                    json!({"version": v, "resources": resources, "freshness": "Current"})
                })
                .collect();
            json!({"metadata": {"name": g, "creationTimestamp": null}, "versions": versions})
        })
        .collect();
    json!({"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {}, "items": items})
}
