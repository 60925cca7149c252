//! Which objects are this release's: the ownership annotations windlass
//! writes, adoption checks before applying, and the decision, made on the
//! live object just before a delete, whether prune or uninstall may remove
//! it.

use serde_json::{json, Value};

use super::{
    ActionError, Context, HELM_RESOURCE_POLICY, RELEASE_NAMESPACE_ANNOTATION,
    RELEASE_NAME_ANNOTATION, RESOURCE_POLICY,
};
use crate::cluster::{describe, ClusterError, DeleteOptions, Planned, Propagation};
use crate::render;

/// Kinds that hold data: never deleted by prune or uninstall.
pub(super) fn is_data_kind(kind: &str) -> bool {
    kind == "PersistentVolumeClaim" || kind == "PersistentVolume"
}

/// Kinds whose deletion deletes everything in them: deleted only when the
/// user asks (`--delete-namespaces-and-crds`).
pub(super) fn is_container_kind(kind: &str) -> bool {
    kind == "Namespace" || kind == "CustomResourceDefinition"
}

/// Whether an object carries a keep resource policy (windlass's or Helm's).
pub(super) fn keep(obj: &Value) -> bool {
    let a = &obj["metadata"]["annotations"];
    a[RESOURCE_POLICY] == "keep" || a[HELM_RESOURCE_POLICY] == "keep"
}

/// The object with the labels and annotations that mark it as the release's.
pub(super) fn with_ownership(obj: &Value, release: &str, namespace: &str) -> Value {
    let mut o = obj.clone();
    let meta = &mut o["metadata"];
    meta["labels"]["app.kubernetes.io/managed-by"] = json!(crate::TOOL_NAME);
    meta["annotations"][RELEASE_NAME_ANNOTATION] = json!(release);
    meta["annotations"][RELEASE_NAMESPACE_ANNOTATION] = json!(namespace);
    o
}

/// Whether a live object's annotations name this release and namespace.
pub(super) fn owned_by(live: &Value, release: &str, namespace: &str) -> bool {
    let a = &live["metadata"]["annotations"];
    a[RELEASE_NAME_ANNOTATION] == release && a[RELEASE_NAMESPACE_ANNOTATION] == namespace
}

/// Which live objects an apply must not touch (nor dry-run): those that
/// are not this release's, unless it takes ownership.
pub(super) fn foreign<'a>(
    release: &'a str,
    namespace: &'a str,
    take: bool,
) -> impl Fn(&Value) -> bool + Sync + 'a {
    move |live| !take && !owned_by(live, release, namespace)
}

/// Who owns a live object, in words.
fn owner_of(live: &Value) -> String {
    let a = &live["metadata"]["annotations"];
    match a[RELEASE_NAME_ANNOTATION].as_str() {
        Some(r) => format!(
            "it belongs to release {r} in namespace {}",
            a[RELEASE_NAMESPACE_ANNOTATION].as_str().unwrap_or("?")
        ),
        None => match live["metadata"]["labels"]["app.kubernetes.io/managed-by"].as_str() {
            Some(m) => format!("managed by {m}"),
            None => "created outside windlass".into(),
        },
    }
}

/// Whether an object is a hook ([`crate::hook`]), such as a chart's test
/// Pod: recorded with the release but never applied or pruned with it.
pub(super) fn is_hook(obj: &Value) -> bool {
    crate::hook::is_hook(obj)
}

/// A recorded manifest's hooks and the objects the release manages.
pub(super) fn split_hooks(
    manifest: &str,
) -> Result<(Vec<Value>, Vec<Value>), render::ManifestError> {
    Ok(render::manifest::split("release manifest", manifest)?
        .into_iter()
        .map(|m| m.object)
        .partition(is_hook))
}

/// The objects of a recorded manifest that the release manages (hooks left out).
pub(super) fn objects_of(manifest: &str) -> Result<Vec<Value>, render::ManifestError> {
    Ok(render::manifest::split("release manifest", manifest)?
        .into_iter()
        .map(|m| m.object)
        .filter(|o| !is_hook(o))
        .collect())
}

/// Fails when an existing object of the plan belongs to someone else.
pub(super) fn check_ownership(
    plan: &[Planned],
    name: &str,
    ns: &str,
    take: bool,
) -> Result<(), ActionError> {
    if take {
        return Ok(());
    }
    for p in plan {
        let Some(live) = &p.before else { continue };
        if !owned_by(live, name, ns) {
            return Err(ActionError::NotOwned {
                object: describe(&p.object),
                release: name.to_string(),
                owner: owner_of(live),
            });
        }
    }
    Ok(())
}

/// What prune or uninstall does with an object the release may have left.
#[derive(Debug, Clone)]
pub(super) enum Verdict {
    /// Delete the live object (its uid is the delete's precondition).
    Delete(Value),
    /// Keep it: data, a keep policy, or a Namespace/CRD not asked for.
    Keep(Value),
    /// It is someone else's now (re-created, or adopted by another
    /// release): leave it alone.
    NotOurs(Value),
    /// It is not in the cluster.
    Gone,
}

/// Reads the live object and decides: only an object whose annotations
/// name this release, read just now, is ever deleted; a keep annotation
/// counts on the live object, not only in the old manifest.
pub(super) async fn judge(
    ctx: &Context,
    release: &str,
    obj: &Value,
    delete_containers: bool,
) -> Result<Verdict, ActionError> {
    // Data is kept whatever the live object says: no need to read it.
    if is_data_kind(obj["kind"].as_str().unwrap_or("")) {
        return Ok(Verdict::Keep(obj.clone()));
    }
    let live = match ctx.cluster.get_object(obj).await {
        Ok(Some(l)) => l,
        Ok(None) | Err(ClusterError::UnknownKind { .. }) => return Ok(Verdict::Gone),
        Err(e) => return Err(e.into()),
    };
    let kind = live["kind"].as_str().unwrap_or("");
    Ok(if !owned_by(&live, release, &ctx.namespace) {
        Verdict::NotOurs(live)
    } else if keep(&live)
        || keep(obj)
        || is_data_kind(kind)
        || (is_container_kind(kind) && !delete_containers)
    {
        Verdict::Keep(live)
    } else {
        Verdict::Delete(live)
    })
}

/// Deletes a live object judged deletable, only if it is still the very
/// object read (uid precondition: never resourceVersion, which
/// controllers bump all the time). Returns false when it was gone or
/// replaced meanwhile: kube-apiserver's etcd3 store refuses a delete whose
/// uid precondition does not match (`checkPreconditions`: "Precondition
/// failed: UID in precondition: A, UID in object meta: B", an invalid-object
/// storage error the registry answers as 409 Conflict, "Operation cannot be
/// fulfilled on ..."), which the test server reproduces.
pub(super) async fn delete_live(
    ctx: &Context,
    live: &Value,
    propagation: Propagation,
) -> Result<bool, ActionError> {
    let opts = DeleteOptions {
        propagation,
        uid: live["metadata"]["uid"].as_str().map(str::to_string),
        resource_version: None,
    };
    match ctx.cluster.delete_object(live, &opts).await {
        Ok(deleted) => Ok(deleted),
        Err(ClusterError::Conflict { .. }) => Ok(false),
        Err(e) => Err(e.into()),
    }
}
