//! Uninstall: delete what the release made, keep data, list the claims.

use std::collections::HashSet;

use super::*;

/// What uninstall did.
#[derive(Debug, Clone, Default)]
pub struct Uninstalled {
    /// Objects deleted.
    pub deleted: Vec<String>,
    /// Objects kept (resource-policy keep, volumes and claims in the manifest).
    pub kept: Vec<String>,
    /// Claims created by the release's StatefulSets, which hold its data.
    pub claims: Vec<String>,
    /// Whether history was kept.
    pub kept_history: bool,
}

/// How to uninstall.
#[derive(Debug, Clone)]
pub struct UninstallOptions {
    /// Keep the records (status uninstalled) instead of deleting them.
    pub keep_history: bool,
    /// Wait until every deleted object is gone from the cluster.
    pub wait: bool,
    /// How long `wait` waits.
    pub timeout: Duration,
    /// What happens to the deleted objects' dependents (pods of a
    /// StatefulSet, say).
    pub cascade: Propagation,
}

impl Default for UninstallOptions {
    fn default() -> Self {
        UninstallOptions {
            keep_history: false,
            wait: false,
            timeout: Duration::from_secs(300),
            cascade: Propagation::Background,
        }
    }
}

/// Uninstalls a release: deletes its objects in reverse install order,
/// keeps volumes, claims and keep-annotated objects, and lists the claims
/// that still hold the release's data. Deletion is asynchronous on a real
/// cluster; with `wait` it returns only when every object is gone.
pub async fn uninstall(
    ctx: &Context,
    name: &str,
    opts: &UninstallOptions,
) -> Result<Uninstalled, ActionError> {
    let keep_history = opts.keep_history;
    release::validate_name(name)?;
    locked(ctx, name, async |history: Vec<Release>| {
        let Some(latest) = history
            .iter()
            .rev()
            .find(|r| r.status != Status::Uninstalled)
            .cloned()
        else {
            return Err(ActionError::State(format!(
                "release {name} not found in namespace {}",
                ctx.namespace
            )));
        };
        let store = ctx.store();
        let mut marking = latest.clone();
        marking.status = Status::Uninstalling;
        marking.description = "Uninstall in progress".into();
        store.save(&marking).await?;
        let mut out = Uninstalled {
            kept_history: keep_history,
            ..Default::default()
        };
        // Objects of every revision that may have applied some (the last
        // deployed and any later failed one), newest first, each once.
        let mut objects = Vec::new();
        for r in live_records(&history).iter().rev() {
            objects.extend(objects_of(&r.manifest)?.into_iter().rev());
        }
        let mut seen = HashSet::new();
        let mut deleted = Vec::new();
        for obj in objects.iter() {
            let (_, prepared) = match ctx.cluster.prepare(obj).await {
                Ok(x) => x,
                Err(ClusterError::UnknownKind { .. }) => continue,
                Err(e) => return Err(e.into()),
            };
            if !seen.insert(identity(&prepared, true, &ctx.namespace)) {
                continue;
            }
            let id = crate::cluster::describe(&prepared);
            if keep(&prepared) || is_data_kind(prepared["kind"].as_str().unwrap_or("")) {
                out.kept.push(id);
                continue;
            }
            let delete = DeleteOptions {
                propagation: opts.cascade,
                ..Default::default()
            };
            if ctx.cluster.delete_object(&prepared, &delete).await? {
                (ctx.progress)(&format!("deleted {id}"));
                out.deleted.push(id);
                deleted.push(prepared);
            }
        }
        if opts.wait {
            ctx.cluster
                .wait_deleted(&deleted, opts.timeout, ctx.poll, &|left| {
                    if let Some(first) = left.first() {
                        (ctx.progress)(&format!(
                            "waiting for {} deleted object(s) to go: {first}",
                            left.len()
                        ));
                    }
                })
                .await?;
        }
        // Claims the StatefulSets' volumeClaimTemplates made: <claim>-<sts>-<n>.
        let mut prefixes = Vec::new();
        for obj in objects.iter().filter(|o| o["kind"] == "StatefulSet") {
            let sts = obj["metadata"]["name"].as_str().unwrap_or("");
            for vct in obj["spec"]["volumeClaimTemplates"]
                .as_array()
                .into_iter()
                .flatten()
            {
                prefixes.push(format!(
                    "{}-{sts}-",
                    vct["metadata"]["name"].as_str().unwrap_or("")
                ));
            }
        }
        if !prefixes.is_empty() {
            for pvc in ctx
                .cluster
                .list("v1", "PersistentVolumeClaim", Some(&ctx.namespace), "")
                .await?
            {
                let n = pvc["metadata"]["name"].as_str().unwrap_or("");
                if prefixes.iter().any(|p| {
                    n.strip_prefix(p.as_str()).is_some_and(|rest| {
                        !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit())
                    })
                }) {
                    out.claims.push(n.to_string());
                }
            }
        }
        if keep_history {
            // No record may still say deployed: a later install must see
            // the release as gone.
            for r in history
                .iter()
                .filter(|r| r.status == Status::Deployed && r.revision != latest.revision)
            {
                let mut r = r.clone();
                r.status = Status::Superseded;
                store.save(&r).await?;
            }
            let mut done = latest.clone();
            done.status = Status::Uninstalled;
            done.description = "Uninstall complete".into();
            store.save(&done).await?;
        } else {
            for r in &history {
                store.delete(name, r.revision).await?;
            }
        }
        Ok(out)
    })
    .await
}
