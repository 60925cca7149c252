//! One reading of a release's records, used by every verb, its dry run and
//! its diff: which revision is deployed, which was the last good one, what
//! the next revision is, what a rollback goes back to, which values
//! `--reuse-values` starts from, and which objects may still be in the
//! cluster. Answering these in one place is what keeps `rollback` and
//! `diff rollback` (or `upgrade` and `upgrade --dry-run=server`) from
//! disagreeing.

use std::collections::HashSet;

use serde_json::Value;

use super::ownership::objects_of;
use super::ActionError;
use crate::cluster::ObjectRef;
use crate::release::{Release, Status};
use crate::render::ManifestError;

/// A release's records, oldest first.
#[derive(Debug, Clone, Default)]
pub struct History {
    name: String,
    namespace: String,
    records: Vec<Release>,
}

fn is_good(r: &Release) -> bool {
    // Superseded is only ever written over a deployed record, so a
    // superseded revision is one that was deployed.
    matches!(r.status, Status::Deployed | Status::Superseded)
}

impl History {
    /// The records of release `name` in `namespace`, in any order.
    pub fn new(name: &str, namespace: &str, mut records: Vec<Release>) -> History {
        records.sort_by_key(|r| r.revision);
        History {
            name: name.to_string(),
            namespace: namespace.to_string(),
            records,
        }
    }

    /// The error for a release with no records.
    pub fn not_found(&self) -> ActionError {
        ActionError::NotFound {
            release: self.name.clone(),
            namespace: self.namespace.clone(),
        }
    }

    /// Every record, oldest first.
    pub fn records(&self) -> &[Release] {
        &self.records
    }

    /// The cluster lookups the latest readable revision's templates made
    /// (fetched before the next render).
    pub fn lookups(&self) -> Vec<crate::render::lookup::LookupKey> {
        self.records
            .iter()
            .rev()
            .find(|r| r.damaged.is_none())
            .map(|r| r.lookups.clone())
            .unwrap_or_default()
    }

    /// The records since the release was last uninstalled with
    /// `--keep-history`: its current life.
    fn current(&self) -> &[Release] {
        let start = self
            .records
            .iter()
            .rposition(|r| r.status == Status::Uninstalled)
            .map(|i| i + 1)
            .unwrap_or(0);
        &self.records[start..]
    }

    /// Whether the release exists (has records since its last uninstall).
    pub fn exists(&self) -> bool {
        !self.current().is_empty()
    }

    /// The newest record, whatever its status.
    pub fn latest(&self) -> Option<&Release> {
        self.records.last()
    }

    /// The revision the cluster runs, if one is recorded as deployed.
    pub fn deployed(&self) -> Option<&Release> {
        self.current()
            .iter()
            .rev()
            .find(|r| r.status == Status::Deployed)
    }

    /// The last revision that was deployed: the deployed one, or after a
    /// failed operation (which supersedes the deployed record before it
    /// writes) the newest superseded one.
    pub fn last_good(&self) -> Option<&Release> {
        self.current().iter().rev().find(|r| is_good(r))
    }

    /// The number the next revision gets.
    pub fn next_revision(&self) -> u64 {
        self.records.last().map(|r| r.revision + 1).unwrap_or(1)
    }

    /// When the release was first installed (now, for a new release).
    pub fn first_deployed(&self) -> String {
        self.current()
            .first()
            .map(|r| r.first_deployed.clone())
            .unwrap_or_else(crate::release::now)
    }

    /// The values `--reuse-values` starts from: the last good revision's,
    /// never a failed revision's.
    pub fn reusable_values(&self) -> Option<&Value> {
        self.last_good()
            .filter(|r| r.damaged.is_none())
            .map(|r| &r.config)
    }

    /// One revision.
    pub fn revision(&self, revision: u64) -> Result<&Release, ActionError> {
        self.records
            .iter()
            .find(|r| r.revision == revision)
            .ok_or_else(|| ActionError::NoRevision {
                release: self.name.clone(),
                revision,
            })
    }

    /// What a rollback goes back to: the revision asked for, or else the
    /// good revision before the deployed one, or (when a failed operation
    /// left none deployed) the last good one. Failed revisions are never
    /// the default.
    pub fn rollback_target(&self, explicit: Option<u64>) -> Result<&Release, ActionError> {
        let target = self.default_target(explicit)?;
        match &target.damaged {
            Some(why) => Err(ActionError::Damaged {
                release: self.name.clone(),
                revision: target.revision,
                why: why.clone(),
            }),
            None => Ok(target),
        }
    }

    fn default_target(&self, explicit: Option<u64>) -> Result<&Release, ActionError> {
        if let Some(r) = explicit {
            return self.revision(r);
        }
        let target = match self.deployed() {
            Some(d) => self
                .current()
                .iter()
                .rev()
                .find(|r| r.revision < d.revision && is_good(r)),
            None => self.last_good(),
        };
        target.ok_or_else(|| ActionError::NoRollbackTarget {
            release: self.name.clone(),
        })
    }

    /// The objects of this release that may be in the cluster, newest
    /// first, each once: the last good revision's, and those that later
    /// failed or interrupted revisions recorded they were going to create.
    /// Prune and uninstall choose from these, and check each live object's
    /// ownership before deleting it.
    pub fn maybe_live(&self) -> Result<Vec<Value>, ManifestError> {
        let current = self.current();
        let good = current.iter().rposition(is_good);
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        let later = match good {
            Some(i) => &current[i + 1..],
            None => current,
        };
        for r in later.iter().rev() {
            let created: HashSet<&ObjectRef> = r.created.iter().collect();
            for o in objects_of(&r.manifest)?.into_iter().rev() {
                if created.iter().any(|c| same_object(c, &o, &self.namespace))
                    && seen.insert(key(&o, &self.namespace))
                {
                    out.push(o);
                }
            }
        }
        if let Some(i) = good {
            for o in objects_of(&current[i].manifest)?.into_iter().rev() {
                if seen.insert(key(&o, &self.namespace)) {
                    out.push(o);
                }
            }
        }
        Ok(out)
    }
}

/// The identity of a manifest object, its namespace defaulted to the
/// release's (cluster-scoped objects compare by the rest: a rendered
/// manifest rarely sets a namespace on them).
fn key(o: &Value, namespace: &str) -> ObjectRef {
    let mut r = ObjectRef::of(o);
    if r.namespace.is_empty() {
        r.namespace = namespace.to_string();
    }
    r
}

fn same_object(created: &ObjectRef, o: &Value, namespace: &str) -> bool {
    let k = key(o, namespace);
    created.group == k.group
        && created.kind == k.kind
        && created.name == k.name
        && (created.namespace.is_empty() || created.namespace == k.namespace)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::release::ChartRef;
    use serde_json::json;

    fn rec(revision: u64, status: Status, objects: &[&str]) -> Release {
        let manifest = objects
            .iter()
            .map(|n| format!("---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {n}\n"))
            .collect();
        Release {
            name: "r".into(),
            namespace: "ns".into(),
            revision,
            status,
            description: String::new(),
            first_deployed: format!("t{revision}"),
            last_deployed: String::new(),
            chart: ChartRef {
                name: "c".into(),
                version: "1.0.0".into(),
                app_version: String::new(),
                digest: String::new(),
            },
            config: json!({"rev": revision}),
            computed: json!({}),
            manifest,
            notes: String::new(),
            created: Vec::new(),
            owned: Default::default(),
            hooks: Vec::new(),
            lookups: Vec::new(),
            damaged: None,
        }
    }

    fn names(h: &History) -> Vec<String> {
        h.maybe_live()
            .unwrap()
            .iter()
            .map(|o| o["metadata"]["name"].as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn after_a_failed_upgrade_every_verb_agrees_on_the_last_good_revision() {
        // 1 deployed, 2 deployed, 3 failed (it superseded 2 before writing).
        let h = History::new(
            "r",
            "ns",
            vec![
                rec(1, Status::Superseded, &["a"]),
                rec(2, Status::Superseded, &["a", "b"]),
                rec(3, Status::Failed, &["a", "c"]),
            ],
        );
        assert!(h.deployed().is_none());
        assert_eq!(h.last_good().unwrap().revision, 2);
        assert_eq!(h.rollback_target(None).unwrap().revision, 2);
        assert_eq!(h.reusable_values().unwrap(), &json!({"rev": 2}));
        assert_eq!(h.next_revision(), 4);
        // Revision 3 recorded no creations: only the last good's objects.
        assert_eq!(names(&h), ["b", "a"]);
    }

    #[test]
    fn a_plain_rollback_after_an_atomic_failure_skips_the_failed_revision() {
        // 1 deployed, 2 failed (--atomic), 3 = rollback to 1, deployed.
        let h = History::new(
            "r",
            "ns",
            vec![
                rec(1, Status::Superseded, &["a"]),
                rec(2, Status::Failed, &["a", "x"]),
                rec(3, Status::Deployed, &["a"]),
            ],
        );
        assert_eq!(h.rollback_target(None).unwrap().revision, 1);
        assert_eq!(h.rollback_target(Some(2)).unwrap().revision, 2);
        assert!(matches!(
            h.rollback_target(Some(9)),
            Err(ActionError::NoRevision { revision: 9, .. })
        ));
    }

    #[test]
    fn only_what_failed_revisions_recorded_as_created_is_pruned_against() {
        let mut failed = rec(3, Status::Failed, &["a", "c", "d"]);
        failed.created = vec![ObjectRef {
            group: String::new(),
            kind: "ConfigMap".into(),
            namespace: "ns".into(),
            name: "c".into(),
        }];
        let h = History::new(
            "r",
            "ns",
            vec![rec(2, Status::Superseded, &["a", "b"]), failed],
        );
        assert_eq!(names(&h), ["c", "b", "a"]);
    }

    #[test]
    fn an_uninstall_with_kept_history_starts_a_new_life() {
        let h = History::new(
            "r",
            "ns",
            vec![
                rec(1, Status::Superseded, &["a"]),
                rec(2, Status::Uninstalled, &["a"]),
            ],
        );
        assert!(!h.exists());
        assert!(h.last_good().is_none());
        assert_eq!(h.next_revision(), 3);
        assert!(names(&h).is_empty());
        assert!(matches!(
            h.rollback_target(None),
            Err(ActionError::NoRollbackTarget { .. })
        ));
        let h = History::new("r", "ns", vec![rec(1, Status::Deployed, &["a"])]);
        assert!(matches!(
            h.rollback_target(None),
            Err(ActionError::NoRollbackTarget { .. })
        ));
    }
}
