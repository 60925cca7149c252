//! Hooks: chart objects that run at a point of a release's life (before an
//! upgrade, after an install, as a test) instead of being applied with the
//! release. Helm's annotations and meanings, so charts port over unchanged:
//!
//! - `helm.sh/hook` (or `windlass.io/hook`): comma-separated events;
//! - `helm.sh/hook-weight` (or `windlass.io/hook-weight`): an integer in a
//!   string, lower runs first (ties by kind, then name);
//! - `helm.sh/hook-delete-policy` (or `windlass.io/hook-delete-policy`):
//!   `before-hook-creation` (the default when none is given),
//!   `hook-succeeded`, `hook-failed`.

use std::fmt;
use std::str::FromStr;

use serde_json::Value;

/// When a hook runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Event {
    /// Before an install writes any chart object.
    PreInstall,
    /// After an install's objects are applied (and ready, with `--wait`).
    PostInstall,
    /// Before an upgrade writes any chart object.
    PreUpgrade,
    /// After an upgrade's objects are applied (and ready, with `--wait`).
    PostUpgrade,
    /// Before a rollback writes any chart object.
    PreRollback,
    /// After a rollback's objects are applied.
    PostRollback,
    /// Before an uninstall deletes anything.
    PreDelete,
    /// After an uninstall deleted the release's objects.
    PostDelete,
    /// Run by `windlass test`.
    Test,
}

impl Event {
    /// Every event, in life-cycle order.
    pub const ALL: [Event; 9] = [
        Event::PreInstall,
        Event::PostInstall,
        Event::PreUpgrade,
        Event::PostUpgrade,
        Event::PreRollback,
        Event::PostRollback,
        Event::PreDelete,
        Event::PostDelete,
        Event::Test,
    ];

    /// The annotation value (`pre-install`).
    pub fn as_str(self) -> &'static str {
        match self {
            Event::PreInstall => "pre-install",
            Event::PostInstall => "post-install",
            Event::PreUpgrade => "pre-upgrade",
            Event::PostUpgrade => "post-upgrade",
            Event::PreRollback => "pre-rollback",
            Event::PostRollback => "post-rollback",
            Event::PreDelete => "pre-delete",
            Event::PostDelete => "post-delete",
            Event::Test => "test",
        }
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Event {
    type Err = String;
    fn from_str(s: &str) -> Result<Event, String> {
        // `test-success` is Helm 2's name for `test`, still accepted by Helm 3.
        if s == "test-success" {
            return Ok(Event::Test);
        }
        Event::ALL
            .into_iter()
            .find(|e| e.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Event::ALL.iter().map(|e| e.as_str()).collect();
                format!("unknown hook `{s}` (known: {})", names.join(", "))
            })
    }
}

/// When a hook's object is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeletePolicy {
    /// Before the hook is created again (the default).
    BeforeHookCreation,
    /// Once the hooks of its event all succeeded.
    HookSucceeded,
    /// As soon as it failed.
    HookFailed,
}

impl DeletePolicy {
    /// The annotation value.
    pub fn as_str(self) -> &'static str {
        match self {
            DeletePolicy::BeforeHookCreation => "before-hook-creation",
            DeletePolicy::HookSucceeded => "hook-succeeded",
            DeletePolicy::HookFailed => "hook-failed",
        }
    }
}

impl FromStr for DeletePolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<DeletePolicy, String> {
        match s {
            "before-hook-creation" => Ok(DeletePolicy::BeforeHookCreation),
            "hook-succeeded" => Ok(DeletePolicy::HookSucceeded),
            "hook-failed" => Ok(DeletePolicy::HookFailed),
            other => Err(format!(
                "unknown hook delete policy `{other}` (known: before-hook-creation, hook-succeeded, hook-failed)"
            )),
        }
    }
}

/// A hook annotation that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{object}: annotation {annotation}: {message}")]
pub struct HookError {
    /// `Job hdfs/hdfs-test`.
    pub object: String,
    /// The annotation.
    pub annotation: String,
    /// What is wrong with it.
    pub message: String,
}

/// One hook object of a chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Hook {
    /// The object as rendered.
    pub object: Value,
    /// When it runs.
    pub events: Vec<Event>,
    /// Order within an event: lower first.
    pub weight: i64,
    /// When it is deleted.
    pub policies: Vec<DeletePolicy>,
}

const PREFIXES: [&str; 2] = ["windlass.io", "helm.sh"];

fn annotation<'a>(obj: &'a Value, suffix: &str) -> Option<(String, &'a str)> {
    // Most objects have no annotations: no keys are built for them.
    let annotations = obj["metadata"]["annotations"].as_object()?;
    PREFIXES.iter().find_map(|p| {
        let key = format!("{p}/{suffix}");
        let v = annotations.get(&key)?.as_str()?;
        Some((key, v))
    })
}

/// Whether an object is a hook (either hook annotation present).
pub fn is_hook(obj: &Value) -> bool {
    let a = &obj["metadata"]["annotations"];
    PREFIXES
        .iter()
        .any(|p| a.get(format!("{p}/hook")).is_some())
}

fn list<T: FromStr<Err = String>>(s: &str) -> Result<Vec<T>, String> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        out.push(part.to_ascii_lowercase().parse::<T>()?);
    }
    Ok(out)
}

impl Hook {
    /// Reads a hook object's annotations; `None` when it is no hook.
    pub fn parse(obj: &Value) -> Result<Option<Hook>, HookError> {
        let Some((key, events)) = annotation(obj, "hook") else {
            return Ok(None);
        };
        let object = crate::object::describe(obj);
        let err = |annotation: String, message: String| HookError {
            object: object.clone(),
            annotation,
            message,
        };
        let events: Vec<Event> = list(events).map_err(|m| err(key.clone(), m))?;
        if events.is_empty() {
            return Err(err(key, "names no hook event".into()));
        }
        let weight = match annotation(obj, "hook-weight") {
            None => 0,
            Some((key, w)) => w
                .trim()
                .parse::<i64>()
                .map_err(|_| err(key, format!("`{w}` is not an integer")))?,
        };
        let mut policies = match annotation(obj, "hook-delete-policy") {
            None => Vec::new(),
            Some((key, p)) => list(p).map_err(|m| err(key, m))?,
        };
        if policies.is_empty() {
            policies.push(DeletePolicy::BeforeHookCreation);
        }
        Ok(Some(Hook {
            object: obj.clone(),
            events,
            weight,
            policies,
        }))
    }

    /// Whether it runs at `event`.
    pub fn runs_at(&self, event: Event) -> bool {
        self.events.contains(&event)
    }

    /// Whether its object is deleted on `policy`.
    pub fn deleted_on(&self, policy: DeletePolicy) -> bool {
        self.policies.contains(&policy)
    }

    /// `Job hdfs/hdfs-test`.
    pub fn describe(&self) -> String {
        crate::object::describe(&self.object)
    }
}

/// The hooks among `objects` that run at `event`, in the order they run:
/// by weight, then kind in install order (a ServiceAccount before the Job
/// that uses it), then name: Helm's order.
pub fn for_event(objects: &[Value], event: Event) -> Result<Vec<Hook>, HookError> {
    let mut out = Vec::new();
    for o in objects {
        if let Some(h) = Hook::parse(o)? {
            if h.runs_at(event) {
                out.push(h);
            }
        }
    }
    out.sort_by(|a, b| {
        let key = |h: &Hook| {
            let kind = h.object["kind"].as_str().unwrap_or_default();
            (
                h.weight,
                crate::render::manifest::install_rank(kind),
                kind.to_string(),
                h.object["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        };
        key(a).cmp(&key(b))
    });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(kind: &str, name: &str, annotations: Value) -> Value {
        json!({"apiVersion": "v1", "kind": kind, "metadata": {"name": name, "namespace": "ns", "annotations": annotations}})
    }

    #[test]
    fn parses_helm_annotations_with_defaults() {
        let h = Hook::parse(&obj(
            "Pod",
            "t",
            json!({"helm.sh/hook": "pre-install, Post-Upgrade"}),
        ))
        .unwrap()
        .unwrap();
        assert_eq!(h.events, vec![Event::PreInstall, Event::PostUpgrade]);
        assert_eq!(h.weight, 0);
        assert_eq!(h.policies, vec![DeletePolicy::BeforeHookCreation]);
        assert!(Hook::parse(&obj("Pod", "t", json!({}))).unwrap().is_none());
    }

    #[test]
    fn bad_annotations_name_the_object_and_annotation() {
        let e = Hook::parse(&obj("Job", "j", json!({"helm.sh/hook": "pre-instal"}))).unwrap_err();
        assert_eq!(e.object, "Job ns/j");
        assert_eq!(e.annotation, "helm.sh/hook");
        assert!(e.message.contains("unknown hook `pre-instal`"), "{e}");
        let e = Hook::parse(&obj(
            "Job",
            "j",
            json!({"windlass.io/hook": "test", "windlass.io/hook-weight": "soon"}),
        ))
        .unwrap_err();
        assert!(e.to_string().contains("`soon` is not an integer"), "{e}");
        let e = Hook::parse(&obj(
            "Job",
            "j",
            json!({"helm.sh/hook": "test", "helm.sh/hook-delete-policy": "hook-succeded"}),
        ))
        .unwrap_err();
        assert!(e.message.contains("hook-succeded"), "{e}");
    }

    #[test]
    fn orders_by_weight_then_kind_then_name() {
        let objs = vec![
            obj(
                "Pod",
                "b",
                json!({"helm.sh/hook": "test", "helm.sh/hook-weight": "1"}),
            ),
            obj(
                "Pod",
                "a",
                json!({"helm.sh/hook": "test", "helm.sh/hook-weight": "1"}),
            ),
            obj(
                "Job",
                "z",
                json!({"helm.sh/hook": "test", "helm.sh/hook-weight": "1"}),
            ),
            obj(
                "Pod",
                "c",
                json!({"helm.sh/hook": "test", "helm.sh/hook-weight": "-5"}),
            ),
            obj("Pod", "d", json!({"helm.sh/hook": "pre-install"})),
            obj("ConfigMap", "plain", json!({})),
        ];
        let names: Vec<String> = for_event(&objs, Event::Test)
            .unwrap()
            .iter()
            .map(Hook::describe)
            .collect();
        // Same weight: Pods before Jobs (install order), then by name.
        assert_eq!(names, ["Pod ns/c", "Pod ns/a", "Pod ns/b", "Job ns/z"]);
        assert_eq!(for_event(&objs, Event::PreInstall).unwrap().len(), 1);
        assert_eq!(
            "test-success".parse::<Event>().unwrap(),
            Event::Test,
            "Helm 2's name"
        );
    }
}
