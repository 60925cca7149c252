//! Uninstall: delete what the release made, keep data, list the claims.

use std::collections::HashSet;

use futures::StreamExt;
use std::time::Duration;

use super::hooks::Runner;
use super::ownership::{delete_live, judge, split_hooks, Verdict};
use super::session::locked;
use super::{ActionError, Context, History};
use crate::cluster::{describe, ClusterError, ObjectRef, Propagation};
use crate::hook::Event;
use crate::release::{self, Status};

/// What uninstall did.
#[derive(Debug, Clone, Default)]
pub struct Uninstalled {
    /// Objects deleted.
    pub deleted: Vec<String>,
    /// Objects kept (resource-policy keep, volumes and claims in the manifest).
    pub kept: Vec<String>,
    /// Objects left alone because they are no longer this release's
    /// (re-created or adopted by someone else since).
    pub skipped: Vec<String>,
    /// Claims created by the release's StatefulSets, which hold its data.
    pub claims: Vec<String>,
    /// Whether history was kept.
    pub kept_history: bool,
    /// The hooks that ran (`pre-delete: Job ns/name succeeded`).
    pub hooks: Vec<String>,
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
    /// Also delete the release's Namespaces and CustomResourceDefinitions
    /// (which deletes everything in them).
    pub delete_namespaces_and_crds: bool,
    /// Run no pre-delete or post-delete hooks (`--no-hooks`).
    pub no_hooks: bool,
}

impl Default for UninstallOptions {
    fn default() -> Self {
        UninstallOptions {
            keep_history: false,
            wait: false,
            timeout: Duration::from_secs(300),
            cascade: Propagation::Background,
            delete_namespaces_and_crds: false,
            no_hooks: false,
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
    let before = ctx.history(name).await?;
    if !before.exists() {
        return Err(before.not_found());
    }
    locked(ctx, name, async |history: History, guard| {
        let Some(latest) = history
            .records()
            .iter()
            .rev()
            .find(|r| r.status != Status::Uninstalled)
            .cloned()
        else {
            return Err(history.not_found());
        };
        // What may be live, read before the records change: the last good
        // revision's objects and what later failed revisions created.
        let objects = history.maybe_live()?;
        let store = ctx.store();
        if let (true, Some(why)) = (keep_history, &latest.damaged) {
            return Err(ActionError::Damaged {
                release: name.to_string(),
                revision: latest.revision,
                why: format!(
                    "{why}; --keep-history cannot mark it uninstalled, uninstall without it"
                ),
            });
        }
        // The latest revision's hooks (a damaged record has none to read).
        let hooks = if opts.no_hooks || latest.damaged.is_some() {
            Vec::new()
        } else {
            split_hooks(&latest.manifest)?.0
        };
        let runner = Runner::new(ctx, guard, name, opts.timeout);
        // A failed pre-delete hook stops the uninstall before anything of
        // the release is deleted; the records stay as they were.
        runner.run(&hooks, Event::PreDelete).await?;
        guard.check()?;
        if latest.damaged.is_none() {
            let mut marking = latest.clone();
            marking.status = Status::Uninstalling;
            marking.description = "Uninstall in progress".into();
            store.save(&marking).await?;
        }
        let mut out = Uninstalled {
            kept_history: keep_history,
            ..Default::default()
        };
        let mut seen = HashSet::new();
        let mut unique = Vec::new();
        for obj in objects.iter() {
            let prepared = match ctx.cluster.prepare(obj).await {
                Ok((_, p)) => p,
                Err(ClusterError::UnknownKind { .. }) => continue,
                Err(e) => return Err(e.into()),
            };
            if seen.insert(ObjectRef::of(&prepared)) {
                unique.push(prepared);
            }
        }
        // Judged and deleted in parallel (bounded), results in order.
        let verdicts: Vec<Result<(Verdict, bool), ActionError>> =
            futures::stream::iter(unique.iter().map(|prepared| async move {
                let v = judge(ctx, name, prepared, opts.delete_namespaces_and_crds).await?;
                let gone = match &v {
                    Verdict::Delete(live) => {
                        guard.check()?;
                        delete_live(ctx, live, opts.cascade).await?
                    }
                    _ => false,
                };
                Ok((v, gone))
            }))
            .buffered(ctx.cluster.concurrency())
            .collect()
            .await;
        let mut deleted = Vec::new();
        let mut first_error = None;
        for r in verdicts {
            match r {
                Ok((Verdict::Keep(live), _)) => out.kept.push(describe(&live)),
                Ok((Verdict::NotOurs(live), _)) => out.skipped.push(describe(&live)),
                Ok((Verdict::Delete(live), true)) => {
                    let id = describe(&live);
                    (ctx.progress)(&format!("deleted {id}"));
                    out.deleted.push(id);
                    deleted.push(live);
                }
                Ok(_) => {}
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        if let Some(e) = first_error {
            return Err(e);
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
        if let Err(e) = runner.run(&hooks, Event::PostDelete).await {
            if latest.damaged.is_none() {
                let mut failed = latest.clone();
                failed.status = Status::Failed;
                failed.description = format!(
                    "uninstall failed after deleting the release's objects: {e}; run uninstall again (--no-hooks skips the hooks)"
                );
                failed.hooks = runner.runs();
                guard.lock_only().check()?;
                store.save(&failed).await?;
            }
            return Err(e);
        }
        out.hooks = runner
            .runs()
            .iter()
            .map(|r| format!("{}: {} {}", r.event, r.object, r.phase.to_lowercase()))
            .collect();
        // Hook objects left by earlier operations (a Job kept until its
        // next run, by default) go with the release, unlike Helm, which
        // leaves them behind for good.
        for h in &hooks {
            guard.check()?;
            if let Verdict::Delete(live) = judge(ctx, name, h, false).await? {
                if delete_live(ctx, &live, Propagation::Background).await? {
                    let id = describe(&live);
                    (ctx.progress)(&format!("deleted hook {id}"));
                    out.deleted.push(id);
                }
            }
        }
        guard.check()?;
        if keep_history {
            // No record may still say deployed: a later install must see
            // the release as gone.
            for r in history.records().iter().filter(|r| {
                r.status == Status::Deployed && r.revision != latest.revision && r.damaged.is_none()
            }) {
                let mut r = r.clone();
                r.status = Status::Superseded;
                store.save(&r).await?;
            }
            let mut done = latest.clone();
            done.status = Status::Uninstalled;
            done.description = "Uninstall complete".into();
            store.save(&done).await?;
        } else {
            for r in history.records() {
                store.delete(name, r.revision).await?;
            }
        }
        Ok(out)
    })
    .await
}
