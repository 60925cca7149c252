//! Planning and applying a set of objects: one list per (type, namespace)
//! for the live state, a server-side apply dry run per object so the server
//! validates everything before anything is written, then the writes in
//! order, objects of one kind in parallel (bounded).

use std::collections::HashMap;

use futures::{StreamExt, TryStreamExt};
use serde_json::Value;

use super::{
    describe, ApplyOptions, Cluster, ClusterError, ObjectRef, ResourceInfo, FIELD_MANAGER,
};

/// What [`Cluster::apply_all`] did to each object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApplyReport {
    /// Objects that did not exist.
    pub created: Vec<String>,
    /// Objects that changed.
    pub updated: Vec<String>,
    /// Objects the apply would not change, which were not written.
    pub unchanged: Vec<String>,
}

/// What applying an object would do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The object does not exist.
    Create,
    /// The server would store something different.
    Update,
    /// The server would store the object unchanged.
    Unchanged,
}

/// One object of a plan.
#[derive(Debug, Clone)]
pub struct Planned {
    /// The object to apply (namespace filled in).
    pub object: Value,
    /// Whether its kind is namespaced.
    pub namespaced: bool,
    /// What applying it does.
    pub change: Change,
    /// The live object, if any.
    pub before: Option<Value>,
    /// What the server would store (its dry-run answer).
    pub after: Value,
}

/// A digest of the fields windlass owns on a live object (its `Apply`
/// entry in managedFields: apiVersion and fieldsV1, not the time), or
/// `None` when it owns none.
pub fn owned_digest(live: &Value) -> Option<String> {
    let entry = live["metadata"]["managedFields"]
        .as_array()?
        .iter()
        .find(|m| {
            m["manager"] == FIELD_MANAGER
                && m["operation"] == "Apply"
                && m.get("subresource").is_none()
        })?;
    let canonical = serde_json::json!([entry["apiVersion"], entry["fieldsV1"]]);
    Some(crate::package::sha256_hex(canonical.to_string().as_bytes()))
}

/// What an apply by windlass can change, for telling a no-op from an
/// update: controllers write `status` (and bump resourceVersion, and own
/// their own managedFields entries) at any time, including between the
/// list and the dry run of one plan, and none of that is ours to change.
fn comparable(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove("status");
    }
    if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("resourceVersion");
        if let Some(mf) = meta.get_mut("managedFields").and_then(Value::as_array_mut) {
            mf.retain(|m| m["manager"] == FIELD_MANAGER && m.get("subresource").is_none());
            for m in mf.iter_mut() {
                if let Some(o) = m.as_object_mut() {
                    o.remove("time");
                }
            }
        }
    }
    v
}

impl Cluster {
    /// The live objects of every (type, namespace) the prepared objects
    /// use: one list request each.
    async fn live_state(
        &self,
        prepared: &[(ResourceInfo, Value)],
    ) -> Result<HashMap<ObjectRef, Value>, ClusterError> {
        let mut live = HashMap::new();
        let mut listed = std::collections::HashSet::new();
        for (info, obj) in prepared {
            let ns = obj["metadata"]["namespace"]
                .as_str()
                .unwrap_or("")
                .to_string();
            let (av, kind) = (
                info.api_resource.api_version.clone(),
                info.api_resource.kind.clone(),
            );
            if listed.insert((av.clone(), kind.clone(), ns.clone())) {
                let ns_opt = (!ns.is_empty()).then_some(ns.as_str());
                for item in self.list(&av, &kind, ns_opt, "").await? {
                    live.insert(ObjectRef::of(&item), item);
                }
            }
        }
        Ok(live)
    }

    /// Plans applying `objects`: each is sent as a server-side apply dry-run,
    /// so the server validates it (422s, immutable fields, conflicts) before
    /// anything is written, and the result is compared with the live object.
    pub async fn plan(&self, objects: &[Value], force: bool) -> Result<Vec<Planned>, ClusterError> {
        self.plan_with(objects, force, true, &HashMap::new(), &|_| false)
            .await
    }

    /// [`Cluster::plan`], except that an existing object for which
    /// `foreign` says true (someone else's: the caller refuses to touch it)
    /// is not dry-run: its server-side errors (an immutable field, say)
    /// would hide the real problem. Its `after` is the live object.
    pub async fn plan_for(
        &self,
        objects: &[Value],
        force: bool,
        foreign: &(dyn Fn(&Value) -> bool + Sync),
    ) -> Result<Vec<Planned>, ClusterError> {
        self.plan_with(objects, force, true, &HashMap::new(), foreign)
            .await
    }

    /// [`Cluster::plan`] at one request per object that changes:
    /// - an object that does not exist is not dry-run (it is a create; a
    ///   new object the server refuses fails when applied);
    /// - an object in `unchanged_if` is known to be exactly what windlass
    ///   last applied, and is skipped without a dry run when the live
    ///   object still carries the fields windlass owned then (the value is
    ///   their [`owned_digest`]): any write by someone else to a field
    ///   windlass owns moves that field to them, which changes the digest.
    /// - an existing object `foreign` says is someone else's is not
    ///   dry-run either (see [`Cluster::plan_for`]).
    pub async fn plan_changes(
        &self,
        objects: &[Value],
        force: bool,
        unchanged_if: &HashMap<ObjectRef, String>,
        foreign: &(dyn Fn(&Value) -> bool + Sync),
    ) -> Result<Vec<Planned>, ClusterError> {
        self.plan_with(objects, force, false, unchanged_if, foreign)
            .await
    }

    /// [`Cluster::plan`]; with `check_new` false, objects that do not exist
    /// are not dry-run (their `after` is the object as given), which saves
    /// a request per object when only the writes matter.
    async fn plan_with(
        &self,
        objects: &[Value],
        force: bool,
        check_new: bool,
        unchanged_if: &HashMap<ObjectRef, String>,
        foreign: &(dyn Fn(&Value) -> bool + Sync),
    ) -> Result<Vec<Planned>, ClusterError> {
        let mut prepared = Vec::with_capacity(objects.len());
        for o in objects {
            prepared.push(self.prepare(o).await?);
        }
        let live = self.live_state(&prepared).await?;
        let dry = ApplyOptions {
            force,
            dry_run: true,
        };
        let results: Vec<Planned> =
            futures::stream::iter(prepared.into_iter().map(|(info, obj)| {
                let before = live.get(&ObjectRef::of(&obj)).cloned();
                let known = before.as_ref().is_some_and(|b| {
                    b["metadata"]["deletionTimestamp"].is_null()
                        && owned_digest(b)
                            .is_some_and(|d| unchanged_if.get(&ObjectRef::of(&obj)) == Some(&d))
                });
                async move {
                    if let (true, Some(b)) = (known, &before) {
                        return Ok(Planned {
                            after: b.clone(),
                            object: obj,
                            namespaced: info.namespaced,
                            change: Change::Unchanged,
                            before,
                        });
                    }
                    if let Some(b) = before.as_ref().filter(|b| foreign(b)) {
                        return Ok(Planned {
                            after: b.clone(),
                            object: obj,
                            namespaced: info.namespaced,
                            change: Change::Update,
                            before,
                        });
                    }
                    if before.is_none() && !check_new {
                        return Ok(Planned {
                            after: obj.clone(),
                            object: obj,
                            namespaced: info.namespaced,
                            change: Change::Create,
                            before,
                        });
                    }
                    let after = self.apply(&obj, dry).await?;
                    let change = match &before {
                        None => Change::Create,
                        Some(b) if comparable(b) == comparable(&after) => Change::Unchanged,
                        Some(_) => Change::Update,
                    };
                    Ok::<_, ClusterError>(Planned {
                        object: obj,
                        namespaced: info.namespaced,
                        change,
                        before,
                        after,
                    })
                }
            }))
            .buffered(self.concurrency)
            .try_collect()
            .await?;
        Ok(results)
    }

    /// Applies the created and updated objects of a plan, in order, objects
    /// of the same kind in parallel (bounded). Returns how many were written.
    pub async fn execute(&self, plan: &[Planned], force: bool) -> Result<usize, ClusterError> {
        Ok(self.execute_checked(plan, force, &|| true).await?.len())
    }

    /// [`Cluster::execute`], asking `proceed` before each write: once it
    /// says no, no further request is sent, the requests in flight finish,
    /// and the result is [`ClusterError::Stopped`]. Returns the objects as
    /// the server stored them.
    pub async fn execute_checked(
        &self,
        plan: &[Planned],
        force: bool,
        proceed: &(dyn Fn() -> bool + Sync),
    ) -> Result<Vec<Value>, ClusterError> {
        let opts = ApplyOptions {
            force,
            dry_run: false,
        };
        let todo: Vec<&Planned> = plan
            .iter()
            .filter(|p| p.change != Change::Unchanged)
            .collect();
        let mut stored = Vec::with_capacity(todo.len());
        let mut i = 0;
        while i < todo.len() {
            let kind = &todo[i].object["kind"];
            let mut j = i;
            while j < todo.len() && &todo[j].object["kind"] == kind {
                j += 1;
            }
            // Owned objects: borrowing them into the futures trips the
            // compiler's higher-ranked lifetime checks when callers spawn.
            let batch: Vec<Value> = todo[i..j].iter().map(|p| p.object.clone()).collect();
            // After a failure or a stop no new request starts, and those
            // in flight finish: dropping them would leave it unknown
            // whether they were applied.
            let stop = std::sync::atomic::AtomicBool::new(false);
            let results: Vec<Result<Value, ClusterError>> = futures::stream::iter(batch)
                .map(|o| {
                    let stop = &stop;
                    async move {
                        if stop.load(std::sync::atomic::Ordering::SeqCst) || !proceed() {
                            return Err(ClusterError::Stopped);
                        }
                        let r = self.apply(&o, opts).await;
                        if r.is_err() {
                            stop.store(true, std::sync::atomic::Ordering::SeqCst);
                        }
                        r
                    }
                })
                .buffer_unordered(self.concurrency)
                .collect()
                .await;
            let mut errors = Vec::new();
            for r in results {
                match r {
                    Ok(v) => stored.push(v),
                    Err(e) => errors.push(e),
                }
            }
            if !errors.is_empty() {
                return Err(errors
                    .into_iter()
                    .find(|e| !matches!(e, ClusterError::Stopped))
                    .unwrap_or(ClusterError::Stopped));
            }

            i = j;
        }
        Ok(stored)
    }

    /// Applies objects in the order given, running objects of the same kind
    /// in parallel (bounded), and writes only what would change: absent
    /// objects are applied at once; present ones are first applied as a
    /// server dry-run and skipped when the server would store them unchanged.
    pub async fn apply_all(
        &self,
        objects: &[Value],
        opts: ApplyOptions,
    ) -> Result<ApplyReport, ClusterError> {
        let plan = self
            .plan_with(objects, opts.force, false, &HashMap::new(), &|_| false)
            .await?;
        if !opts.dry_run {
            self.execute(&plan, opts.force).await?;
        }
        let mut report = ApplyReport::default();
        for p in &plan {
            let id = describe(&p.object);
            match p.change {
                Change::Create => report.created.push(id),
                Change::Update => report.updated.push(id),
                Change::Unchanged => report.unchanged.push(id),
            }
        }
        Ok(report)
    }
}
