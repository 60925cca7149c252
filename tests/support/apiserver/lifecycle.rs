//! Deletion as a real cluster does it, and the controllers that finish it.
//!
//! A DELETE of an object with finalizers (a foreground delete adds
//! `foregroundDeletion`, `orphan` adds `orphan`; volumes and claims carry
//! their protection finalizers) only sets `deletionTimestamp` and answers
//! with the object (recordings 74, 79, 94, 113, 121-122); one without is
//! removed at once and answered with a `Status` (77, 89). The controllers
//! here (garbage collector, namespace, PV binder and protection, CRD
//! establishment and cleanup) then remove finalizers; a test can pause
//! them, as the recordings were taken with kube-controller-manager stopped
//! (71-82), and let them settle.

use serde_json::{json, Value};

use super::fields::{FieldSet, Seg};
use super::resources::{self, Res};
use super::rules;
use super::store::{key, now, sort_managers, Key, Manager, Reply, Req, Store, Target};

fn finalizers(obj: &Value) -> Vec<String> {
    obj["metadata"]["finalizers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f.as_str().map(str::to_string))
        .collect()
}

fn set_finalizers(obj: &mut Value, list: &[String]) {
    if list.is_empty() {
        if let Some(m) = obj["metadata"].as_object_mut() {
            m.remove("finalizers");
        }
    } else {
        obj["metadata"]["finalizers"] = json!(list);
    }
}

fn terminating(obj: &Value) -> bool {
    obj["metadata"]["deletionTimestamp"].is_string()
}

impl Store {
    /// The resource type of a stored key.
    fn res_of(&self, k: &Key) -> Option<&'static Res> {
        let (group, plural) = k.0.split_once('/')?;
        resources::RESOURCES
            .iter()
            .chain(self.crds.iter().copied())
            .find(|r| r.group == group && r.plural == plural)
    }

    /// Removes an object for good (and the resource type of a CRD).
    pub fn remove(&mut self, k: &Key) {
        if let Some(s) = self.objects.remove(k) {
            if k.0 == "apiextensions.k8s.io/customresourcedefinitions" {
                let group = s.obj["spec"]["group"].as_str().unwrap_or("").to_string();
                let plural = s.obj["spec"]["names"]["plural"]
                    .as_str()
                    .unwrap_or("")
                    .to_string();
                self.crds
                    .retain(|r| !(r.group == group && r.plural == plural));
                let gp = format!("{group}/{plural}");
                self.objects.retain(|(g, _, _), _| *g != gp);
            }
        }
    }

    /// Starts deleting an object as a DELETE with `policy` would: returns
    /// whether it is gone now (else it is terminating).
    fn begin_delete(&mut self, k: &Key, policy: &str) -> bool {
        let Some(res) = self.res_of(k) else {
            return true;
        };
        let Some(mut stored) = self.objects.get(k).cloned() else {
            return true;
        };
        let mut list = finalizers(&stored.obj);
        let add = |list: &mut Vec<String>, f: &str| {
            if !list.iter().any(|x| x == f) {
                list.push(f.to_string());
            }
        };
        match (res.plural, policy) {
            ("namespaces", _) => {
                stored.obj["status"]["phase"] = json!("Terminating");
            }
            ("customresourcedefinitions", _) => {
                add(&mut list, "customresourcecleanup.apiextensions.k8s.io");
                let conditions = stored.obj["status"]["conditions"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                let mut conditions: Vec<Value> = conditions
                    .into_iter()
                    .filter(|c| c["type"] != "Terminating")
                    .collect();
                conditions.push(json!({"type": "Terminating", "status": "True", "lastTransitionTime": now(),
                    "reason": "InstanceDeletionPending",
                    "message": "CustomResourceDefinition marked for deletion; CustomResource deletion will begin soon"}));
                stored.obj["status"]["conditions"] = json!(conditions);
            }
            (_, "Foreground") if !terminating(&stored.obj) => add(&mut list, "foregroundDeletion"),
            (_, "Orphan") if !terminating(&stored.obj) => add(&mut list, "orphan"),
            _ => {}
        }
        let is_namespace = res.plural == "namespaces";
        if list.is_empty() && !is_namespace {
            self.remove(k);
            return true;
        }
        set_finalizers(&mut stored.obj, &list);
        if !terminating(&stored.obj) {
            stored.obj["metadata"]["deletionTimestamp"] = json!(now());
            if !is_namespace && res.plural != "customresourcedefinitions" {
                stored.obj["metadata"]["deletionGracePeriodSeconds"] = json!(0);
            }
        }
        stored.obj["metadata"]["resourceVersion"] = json!(self.next_rv());
        self.put(k.clone(), stored);
        false
    }

    pub(super) fn delete(&mut self, t: &Target, name: &str, req: &Req, dry_run: bool) -> Reply {
        let ns = t.namespace.clone().unwrap_or_default();
        let k = key(t.res, &ns, name);
        let Some(stored) = self.objects.get(&k).cloned() else {
            return rules::not_found(t.res, name).into();
        };
        let opts: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
        let pre = &opts["preconditions"];
        if let Some(uid) = pre["uid"].as_str() {
            let have = stored.obj["metadata"]["uid"].as_str().unwrap_or("");
            if uid != have {
                return rules::conflict(t.res, name, &format!("Precondition failed: UID in precondition: {uid}, UID in object meta: {have}")).into();
            }
        }
        if let Some(rv) = pre["resourceVersion"].as_str() {
            let have = stored.obj["metadata"]["resourceVersion"]
                .as_str()
                .unwrap_or("");
            if rv != have {
                return rules::conflict(t.res, name, &format!("Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {have}")).into();
            }
        }
        let explicit = opts["propagationPolicy"]
            .as_str()
            .or_else(|| req.query.get("propagationPolicy").map(String::as_str));
        // batch/v1 Jobs orphan their Pods unless told otherwise, and say so
        // (Kubernetes pkg/registry/batch/job: strategy.go's
        // DefaultGarbageCollectionPolicy, storage.go's deleteOptionWarnings).
        let jobs = t.res.plural == "jobs";
        let policy = explicit
            .unwrap_or(if jobs { "Orphan" } else { "Background" })
            .to_string();
        let warnings = if jobs && explicit.is_none() {
            vec!["child pods are preserved by default when jobs are deleted; set propagationPolicy=Background to remove them or set propagationPolicy=Orphan to suppress this warning".to_string()]
        } else {
            Vec::new()
        };
        if dry_run {
            return (200, self.output(t.res, &stored)).into();
        }
        let mut reply = self.delete_now(&k, t, name, &stored, &policy);
        reply.warnings = warnings;
        reply
    }

    fn delete_now(
        &mut self,
        k: &Key,
        t: &Target,
        name: &str,
        stored: &super::store::Stored,
        policy: &str,
    ) -> Reply {
        let k = k.clone();
        if self.begin_delete(&k, policy) {
            let mut details =
                json!({"name": name, "kind": t.res.plural, "uid": stored.obj["metadata"]["uid"]});
            if !t.res.group.is_empty() {
                details["group"] = json!(t.res.group);
            }
            return (
                200,
                json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}),
            )
                .into();
        }
        let s = self
            .objects
            .get(&k)
            .cloned()
            .expect("terminating object stays");
        (200, self.output(t.res, &s)).into()
    }

    /// One pass of every controller; returns whether anything changed.
    pub fn reconcile(&mut self) -> bool {
        let mut changed = false;
        // Only objects some controller acts on; the rest (thousands, in
        // the big-release tests) are not even looked at.
        let objects = &self.objects;
        self.watched.retain(|k| objects.contains_key(k));
        let keys: Vec<Key> = self.watched.iter().cloned().collect();
        if keys.is_empty() {
            return false;
        }
        let owned = keys
            .iter()
            .any(|k| self.objects[k].obj["metadata"]["ownerReferences"].is_array());
        let uids: std::collections::HashSet<String> = if owned {
            self.objects
                .values()
                .filter_map(|s| s.obj["metadata"]["uid"].as_str().map(str::to_string))
                .collect()
        } else {
            Default::default()
        };
        for k in keys {
            let Some(stored) = self.objects.get(&k).cloned() else {
                continue;
            };
            let obj = &stored.obj;
            let uid = obj["metadata"]["uid"].clone();
            // Garbage collector: dependents of owners that are gone.
            let owners: Vec<Value> = obj["metadata"]["ownerReferences"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if !owners.is_empty()
                && !terminating(obj)
                && owners
                    .iter()
                    .all(|o| !o["uid"].as_str().is_some_and(|u| uids.contains(u)))
            {
                self.begin_delete(&k, "Background");
                changed = true;
                continue;
            }
            if !terminating(obj) {
                changed |= self.bind_volume(&k);
                changed |= self.establish_crd(&k);
                continue;
            }
            let dependents: Vec<Key> = self
                .objects
                .iter()
                .filter(|(_, s)| {
                    s.obj["metadata"]["ownerReferences"]
                        .as_array()
                        .is_some_and(|o| o.iter().any(|r| r["uid"] == uid))
                })
                .map(|(k, _)| k.clone())
                .collect();
            let mut list = finalizers(obj);
            let before = list.len();
            let res = self.res_of(&k);
            let plural = res.map(|r| r.plural).unwrap_or("");
            // Each controller keeps its finalizer while its condition holds.
            list.retain(|f| match f.as_str() {
                "foregroundDeletion" => !dependents.is_empty(),
                "kubernetes.io/pvc-protection" => self.claim_in_use(&k),
                "kubernetes.io/pv-protection" => obj["status"]["phase"] == "Bound",
                "customresourcecleanup.apiextensions.k8s.io" => self.has_instances(obj),
                _ => true,
            });
            if list.iter().any(|f| f == "orphan") {
                for d in &dependents {
                    if let Some(s) = self.objects.get_mut(d) {
                        if let Some(refs) = s.obj["metadata"]["ownerReferences"].as_array_mut() {
                            refs.retain(|r| r["uid"] != uid);
                        }
                    }
                }
                list.retain(|f| f != "orphan");
            }
            if finalizers(obj).iter().any(|f| f == "foregroundDeletion") {
                for d in &dependents {
                    if self.objects.get(d).is_some_and(|s| !terminating(&s.obj)) {
                        self.begin_delete(d, "Background");
                        changed = true;
                    }
                }
            }
            if plural == "customresourcedefinitions" {
                changed |= self.delete_instances(obj);
            }
            if plural == "namespaces" {
                let ns = obj["metadata"]["name"].as_str().unwrap_or("").to_string();
                let inside: Vec<Key> = self
                    .objects
                    .keys()
                    .filter(|(_, n, _)| *n == ns)
                    .cloned()
                    .collect();
                for d in &inside {
                    if self.objects.get(d).is_some_and(|s| !terminating(&s.obj)) {
                        self.begin_delete(d, "Background");
                        changed = true;
                    }
                }
                if self.objects.keys().all(|(_, n, _)| *n != ns) {
                    self.remove(&k);
                    changed = true;
                }
                continue;
            }
            if list.len() != before {
                changed = true;
                if list.is_empty() {
                    self.remove(&k);
                } else if let Some(s) = self.objects.get_mut(&k) {
                    set_finalizers(&mut s.obj, &list);
                    self.rv += 1;
                    let rv = self.rv.to_string();
                    if let Some(s) = self.objects.get_mut(&k) {
                        s.obj["metadata"]["resourceVersion"] = json!(rv);
                    }
                }
            }
        }
        changed
    }

    /// Runs the controllers until nothing changes.
    pub fn settle(&mut self) {
        for _ in 0..100 {
            if !self.reconcile() {
                return;
            }
        }
    }

    fn claim_in_use(&self, claim: &Key) -> bool {
        self.objects.iter().any(|((gp, ns, _), s)| {
            gp == "/pods"
                && *ns == claim.1
                && s.obj["spec"]["volumes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|v| {
                        v["persistentVolumeClaim"]["claimName"].as_str() == Some(claim.2.as_str())
                    })
        })
    }

    fn has_instances(&self, crd: &Value) -> bool {
        let gp = format!(
            "{}/{}",
            crd["spec"]["group"].as_str().unwrap_or(""),
            crd["spec"]["names"]["plural"].as_str().unwrap_or("")
        );
        self.objects.keys().any(|(g, _, _)| *g == gp)
    }

    fn delete_instances(&mut self, crd: &Value) -> bool {
        let gp = format!(
            "{}/{}",
            crd["spec"]["group"].as_str().unwrap_or(""),
            crd["spec"]["names"]["plural"].as_str().unwrap_or("")
        );
        let keys: Vec<Key> = self
            .objects
            .keys()
            .filter(|(g, _, _)| *g == gp)
            .cloned()
            .collect();
        let mut changed = false;
        for k in keys {
            if self.objects.get(&k).is_some_and(|s| !terminating(&s.obj)) {
                self.begin_delete(&k, "Background");
                changed = true;
            }
        }
        changed
    }

    /// The PV binder: a PersistentVolume pre-bound to a claim that exists
    /// gets the claim's uid and resourceVersion, under the controller's
    /// own field manager, and both become Bound (recordings 86, 88); a
    /// bound volume whose claim is gone becomes Released (122).
    fn bind_volume(&mut self, k: &Key) -> bool {
        if k.0 != "/persistentvolumes" {
            return false;
        }
        let Some(pv) = self.objects.get(k).cloned() else {
            return false;
        };
        let claim_ref = &pv.obj["spec"]["claimRef"];
        let claim = match (claim_ref["namespace"].as_str(), claim_ref["name"].as_str()) {
            (Some(ns), Some(name)) => {
                let ck: Key = ("/persistentvolumeclaims".into(), ns.into(), name.into());
                self.objects.get(&ck).cloned().map(|c| (ck, c))
            }
            _ => None,
        };
        let Some((ck, claim)) = claim else {
            let next = match pv.obj["status"]["phase"].as_str() {
                Some("Bound") => "Released",
                Some("Pending") => "Available",
                _ => return false,
            };
            let mut pv = pv;
            pv.obj["status"]["phase"] = json!(next);
            pv.obj["status"]["lastPhaseTransitionTime"] = json!(now());
            pv.obj["metadata"]["resourceVersion"] = json!(self.next_rv());
            self.put(k.clone(), pv);
            return true;
        };
        if claim_ref["uid"].is_string() {
            return false;
        }
        let mut pv = pv;
        for (f, v) in [
            ("kind", json!("PersistentVolumeClaim")),
            ("apiVersion", json!("v1")),
            ("uid", claim.obj["metadata"]["uid"].clone()),
            (
                "resourceVersion",
                claim.obj["metadata"]["resourceVersion"].clone(),
            ),
        ] {
            pv.obj["spec"]["claimRef"][f] = v;
        }
        pv.obj["status"]["phase"] = json!("Bound");
        pv.obj["status"]["lastPhaseTransitionTime"] = json!(now());
        let f =
            |path: &[&str]| -> Vec<Seg> { path.iter().map(|p| Seg::F(p.to_string())).collect() };
        let spec_fields: FieldSet = ["apiVersion", "kind", "resourceVersion", "uid"]
            .iter()
            .map(|x| f(&["spec", "claimRef", x]))
            .collect();
        let status_fields: FieldSet = [f(&["status", "phase"])].into_iter().collect();
        for (sub, fields) in [
            (None, spec_fields),
            (Some("status".to_string()), status_fields),
        ] {
            pv.managers.push(Manager {
                name: "kube-controller-manager".into(),
                operation: "Update",
                api_version: "v1".into(),
                subresource: sub,
                time: now(),
                fields,
            });
        }
        sort_managers(&mut pv.managers);
        pv.obj["metadata"]["resourceVersion"] = json!(self.next_rv());
        self.put(k.clone(), pv.clone());
        let mut claim = claim;
        claim.obj["spec"]["volumeName"] = json!(k.2);
        claim.obj["metadata"]["annotations"]["pv.kubernetes.io/bind-completed"] = json!("yes");
        claim.obj["metadata"]["annotations"]["pv.kubernetes.io/bound-by-controller"] = json!("yes");
        claim.obj["status"]["phase"] = json!("Bound");
        claim.obj["status"]["accessModes"] = pv.obj["spec"]["accessModes"].clone();
        claim.obj["status"]["capacity"] = pv.obj["spec"]["capacity"].clone();
        claim.obj["metadata"]["resourceVersion"] = json!(self.next_rv());
        self.put(ck, claim);
        true
    }

    /// A new CRD's names are accepted and it is Established (recording 106).
    fn establish_crd(&mut self, k: &Key) -> bool {
        if k.0 != "apiextensions.k8s.io/customresourcedefinitions" {
            return false;
        }
        let Some(mut crd) = self.objects.get(k).cloned() else {
            return false;
        };
        if crd.obj["status"]["conditions"].is_array() {
            return false;
        }
        let t = now();
        let mut names = crd.obj["spec"]["names"].clone();
        if names["singular"].is_null() {
            names["singular"] = json!(names["kind"].as_str().unwrap_or("").to_lowercase());
        }
        crd.obj["status"]["acceptedNames"] = names;
        crd.obj["status"]["conditions"] = json!([
            {"type": "NamesAccepted", "status": "True", "lastTransitionTime": t, "reason": "NoConflicts", "message": "no conflicts found"},
            {"type": "Established", "status": "True", "lastTransitionTime": t, "reason": "InitialNamesAccepted", "message": "the initial names have been accepted"}
        ]);
        crd.obj["metadata"]["resourceVersion"] = json!(self.next_rv());
        self.put(k.clone(), crd);
        true
    }
}
