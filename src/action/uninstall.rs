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

/// Uninstalls a release: deletes its objects in reverse install order,
/// keeps volumes, claims and keep-annotated objects, and lists the claims
/// that still hold the release's data.
pub async fn uninstall(
    ctx: &Context,
    name: &str,
    keep_history: bool,
    wait: bool,
    timeout: Duration,
) -> Result<Uninstalled, ActionError> {
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
            if ctx.cluster.delete_object(&prepared).await? {
                (ctx.progress)(&format!("deleted {id}"));
                out.deleted.push(id);
                deleted.push(prepared);
            }
        }
        if wait {
            let deadline = tokio::time::Instant::now() + timeout;
            for obj in &deleted {
                let (info, o) = ctx.cluster.prepare(obj).await?;
                while ctx
                    .cluster
                    .get(
                        &info.api_resource.api_version,
                        &info.api_resource.kind,
                        o["metadata"]["namespace"].as_str(),
                        o["metadata"]["name"].as_str().unwrap_or(""),
                    )
                    .await?
                    .is_some()
                {
                    if tokio::time::Instant::now() > deadline {
                        return Err(ActionError::Failed {
                            message: format!(
                                "timed out waiting for {} to be deleted",
                                crate::cluster::describe(&o)
                            ),
                        });
                    }
                    tokio::time::sleep(ctx.poll).await;
                }
            }
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
