//! Readiness of applied objects, judged from their status the way `--wait`
//! needs it, with a reason a user can act on when not ready.

use serde_json::Value;

/// Whether an object is ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    /// Ready (or a kind that has no readiness).
    Ready,
    /// Not ready, and why.
    NotReady(String),
}

fn int(v: &Value) -> i64 {
    v.as_i64().unwrap_or(0)
}

fn generation_seen(obj: &Value) -> Option<String> {
    let generation = int(&obj["metadata"]["generation"]);
    let observed = int(&obj["status"]["observedGeneration"]);
    (observed < generation).then(|| {
        format!("the controller has not seen the latest change yet (observed generation {observed} < {generation})")
    })
}

fn condition<'a>(obj: &'a Value, kind: &str) -> Option<&'a Value> {
    obj["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind)
}

/// Judges an object's readiness from its status.
pub fn readiness(obj: &Value) -> Readiness {
    use Readiness::*;
    let status = &obj["status"];
    match obj["kind"].as_str().unwrap_or_default() {
        "StatefulSet" => {
            if let Some(why) = generation_seen(obj) {
                return NotReady(why);
            }
            let want = obj["spec"]["replicas"].as_i64().unwrap_or(1);
            let ready = int(&status["readyReplicas"]);
            let updated = int(&status["updatedReplicas"]);
            if ready < want {
                return NotReady(format!("{ready}/{want} replicas ready"));
            }
            if updated < want {
                return NotReady(format!("{updated}/{want} replicas updated"));
            }
            let partition = int(&obj["spec"]["updateStrategy"]["rollingUpdate"]["partition"]);
            if partition == 0 && status["currentRevision"] != status["updateRevision"] {
                return NotReady(format!(
                    "rollout in progress (current revision {}, update revision {})",
                    status["currentRevision"].as_str().unwrap_or("?"),
                    status["updateRevision"].as_str().unwrap_or("?")
                ));
            }
            Ready
        }
        "Deployment" => {
            if let Some(why) = generation_seen(obj) {
                return NotReady(why);
            }
            let want = obj["spec"]["replicas"].as_i64().unwrap_or(1);
            let updated = int(&status["updatedReplicas"]);
            let available = int(&status["availableReplicas"]);
            if updated < want {
                return NotReady(format!("{updated}/{want} replicas updated"));
            }
            if available < want {
                return NotReady(format!("{available}/{want} replicas available"));
            }
            Ready
        }
        "DaemonSet" => {
            if let Some(why) = generation_seen(obj) {
                return NotReady(why);
            }
            let want = int(&status["desiredNumberScheduled"]);
            let ready = int(&status["numberReady"]);
            let updated = int(&status["updatedNumberScheduled"]);
            if updated < want || ready < want {
                return NotReady(format!(
                    "{ready}/{want} pods ready, {updated}/{want} updated"
                ));
            }
            Ready
        }
        "PersistentVolumeClaim" => match status["phase"].as_str() {
            Some("Bound") => Ready,
            other => NotReady(format!(
                "claim is {} (not Bound)",
                other.unwrap_or("Pending")
            )),
        },
        "Service" => {
            let ip = obj["spec"]["clusterIP"].as_str().unwrap_or_default();
            if ip.is_empty() {
                return NotReady("no ClusterIP assigned yet".into());
            }
            if obj["spec"]["type"] == "LoadBalancer"
                && status["loadBalancer"]["ingress"]
                    .as_array()
                    .is_none_or(Vec::is_empty)
            {
                return NotReady("the load balancer has no ingress address yet".into());
            }
            Ready
        }
        "CustomResourceDefinition" => match condition(obj, "Established") {
            Some(c) if c["status"] == "True" => Ready,
            Some(c) => NotReady(format!(
                "not established: {}",
                c["message"].as_str().unwrap_or("no message")
            )),
            None => NotReady("not established yet".into()),
        },
        "Job" => {
            if condition(obj, "Failed").is_some_and(|c| c["status"] == "True") {
                let c = condition(obj, "Failed").unwrap_or(&Value::Null);
                return NotReady(format!(
                    "job failed: {}",
                    c["reason"]
                        .as_str()
                        .or(c["message"].as_str())
                        .unwrap_or("unknown reason")
                ));
            }
            if condition(obj, "Complete").is_some_and(|c| c["status"] == "True") {
                Ready
            } else {
                NotReady(format!(
                    "job not complete ({} succeeded)",
                    int(&status["succeeded"])
                ))
            }
        }
        "Pod" => {
            if status["phase"] == "Succeeded"
                || condition(obj, "Ready").is_some_and(|c| c["status"] == "True")
            {
                Ready
            } else {
                NotReady(format!(
                    "pod is {}",
                    status["phase"].as_str().unwrap_or("Pending")
                ))
            }
        }
        _ => Ready,
    }
}

/// How far a run-to-completion object (a hook's Job or Pod) has got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Completion {
    /// Still running, and what it is doing.
    Running(String),
    /// Finished successfully.
    Succeeded,
    /// Finished and failed, and why.
    Failed(String),
}

/// Judges a hook object: a Job by its `Complete`/`Failed` conditions, a
/// Pod by its phase (a Pod that is Running and Ready is not done: hooks
/// run to completion); any other kind is done once it exists.
pub fn completion(obj: &Value) -> Completion {
    let status = &obj["status"];
    match obj["kind"].as_str().unwrap_or_default() {
        "Job" => {
            if let Some(c) = condition(obj, "Failed").filter(|c| c["status"] == "True") {
                let reason = c["reason"].as_str().unwrap_or("Failed");
                return Completion::Failed(match c["message"].as_str() {
                    Some(m) => format!("{reason}: {m}"),
                    None => reason.to_string(),
                });
            }
            if condition(obj, "Complete").is_some_and(|c| c["status"] == "True") {
                return Completion::Succeeded;
            }
            Completion::Running(format!(
                "{} active, {} succeeded, {} failed",
                int(&status["active"]),
                int(&status["succeeded"]),
                int(&status["failed"])
            ))
        }
        "Pod" => match status["phase"].as_str().unwrap_or("Pending") {
            "Succeeded" => Completion::Succeeded,
            "Failed" => Completion::Failed(pod_failure(status)),
            phase => Completion::Running(format!("pod is {phase}")),
        },
        _ => Completion::Succeeded,
    }
}

/// Why a failed Pod failed: its reason, else the first container that
/// terminated with a non-zero exit code.
fn pod_failure(status: &Value) -> String {
    if let Some(r) = status["reason"].as_str() {
        return match status["message"].as_str() {
            Some(m) => format!("{r}: {m}"),
            None => r.to_string(),
        };
    }
    let terminated = status["containerStatuses"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| int(&c["state"]["terminated"]["exitCode"]) != 0);
    match terminated {
        Some(c) => format!(
            "container {} exited with code {} ({})",
            c["name"].as_str().unwrap_or("?"),
            int(&c["state"]["terminated"]["exitCode"]),
            c["state"]["terminated"]["reason"]
                .as_str()
                .unwrap_or("Error")
        ),
        None => "pod failed".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sts(status: Value) -> Value {
        json!({"kind": "StatefulSet", "metadata": {"generation": 2}, "spec": {"replicas": 3, "updateStrategy": {"rollingUpdate": {"partition": 0}}}, "status": status})
    }

    #[test]
    fn statefulset_rules() {
        let ok = json!({"observedGeneration": 2, "readyReplicas": 3, "updatedReplicas": 3, "currentRevision": "a", "updateRevision": "a"});
        assert_eq!(readiness(&sts(ok)), Readiness::Ready);
        let r = readiness(&sts(
            json!({"observedGeneration": 1, "readyReplicas": 3, "updatedReplicas": 3}),
        ));
        assert!(
            matches!(r, Readiness::NotReady(ref m) if m.contains("observed generation 1 < 2")),
            "{r:?}"
        );
        let r = readiness(&sts(
            json!({"observedGeneration": 2, "readyReplicas": 1, "updatedReplicas": 3}),
        ));
        assert_eq!(r, Readiness::NotReady("1/3 replicas ready".into()));
        let r = readiness(&sts(
            json!({"observedGeneration": 2, "readyReplicas": 3, "updatedReplicas": 2}),
        ));
        assert_eq!(r, Readiness::NotReady("2/3 replicas updated".into()));
        let r = readiness(&sts(
            json!({"observedGeneration": 2, "readyReplicas": 3, "updatedReplicas": 3, "currentRevision": "a", "updateRevision": "b"}),
        ));
        assert!(matches!(r, Readiness::NotReady(ref m) if m.contains("rollout in progress")));
    }

    #[test]
    fn other_kinds() {
        assert_eq!(
            readiness(&json!({"kind": "PersistentVolumeClaim", "status": {"phase": "Bound"}})),
            Readiness::Ready
        );
        assert!(matches!(
            readiness(&json!({"kind": "PersistentVolumeClaim", "status": {"phase": "Pending"}})),
            Readiness::NotReady(_)
        ));
        assert_eq!(
            readiness(&json!({"kind": "Service", "spec": {"clusterIP": "None"}})),
            Readiness::Ready
        );
        assert!(matches!(
            readiness(
                &json!({"kind": "Service", "spec": {"type": "LoadBalancer", "clusterIP": "10.0.0.1"}, "status": {"loadBalancer": {}}})
            ),
            Readiness::NotReady(_)
        ));
        let dep = json!({"kind": "Deployment", "metadata": {"generation": 1}, "spec": {"replicas": 2}, "status": {"observedGeneration": 1, "updatedReplicas": 2, "availableReplicas": 1}});
        assert_eq!(
            readiness(&dep),
            Readiness::NotReady("1/2 replicas available".into())
        );
        let job = json!({"kind": "Job", "status": {"conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]}});
        assert_eq!(
            readiness(&job),
            Readiness::NotReady("job failed: BackoffLimitExceeded".into())
        );
        let job = json!({"kind": "Job", "status": {"conditions": [{"type": "Complete", "status": "True"}]}});
        assert_eq!(readiness(&job), Readiness::Ready);
        assert_eq!(readiness(&json!({"kind": "ConfigMap"})), Readiness::Ready);
        let pod = json!({"kind": "Pod", "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "False"}]}});
        assert_eq!(
            readiness(&pod),
            Readiness::NotReady("pod is Running".into())
        );
        let ds = json!({"kind": "DaemonSet", "metadata": {"generation": 1}, "status": {"observedGeneration": 1, "desiredNumberScheduled": 2, "numberReady": 2, "updatedNumberScheduled": 2}});
        assert_eq!(readiness(&ds), Readiness::Ready);
    }

    #[test]
    fn hooks_complete_by_job_conditions_and_pod_phase() {
        let job = json!({"kind": "Job", "status": {"failed": 1, "conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"}]}});
        assert_eq!(
            completion(&job),
            Completion::Failed(
                "BackoffLimitExceeded: Job has reached the specified backoff limit".into()
            )
        );
        let job = json!({"kind": "Job", "status": {"active": 1}});
        assert_eq!(
            completion(&job),
            Completion::Running("1 active, 0 succeeded, 0 failed".into())
        );
        let running = json!({"kind": "Pod", "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}});
        assert!(matches!(completion(&running), Completion::Running(_)));
        let failed = json!({"kind": "Pod", "status": {"phase": "Failed", "containerStatuses": [
            {"name": "ok", "state": {"terminated": {"exitCode": 0}}},
            {"name": "check", "state": {"terminated": {"exitCode": 3, "reason": "Error"}}}]}});
        assert_eq!(
            completion(&failed),
            Completion::Failed("container check exited with code 3 (Error)".into())
        );
        assert_eq!(
            completion(&json!({"kind": "ConfigMap"})),
            Completion::Succeeded
        );
    }
}
