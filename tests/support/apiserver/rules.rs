//! Validation, immutability and defaulting rules of the real API server that
//! bite charts, with its exact messages.

use serde_json::{json, Value};

use super::resources::Res;

/// A `Status` failure response.
pub fn status(code: u16, reason: &str, message: &str, details: Value) -> (u16, Value) {
    let mut body = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code
    });
    if !details.is_null() {
        body["details"] = details;
    }
    (code, body)
}

pub fn not_found(res: &Res, name: &str) -> (u16, Value) {
    let mut details = json!({"name": name, "kind": res.plural});
    if !res.group.is_empty() {
        details["group"] = json!(res.group);
    }
    status(
        404,
        "NotFound",
        &format!("{} \"{name}\" not found", res.qualified()),
        details,
    )
}

pub fn namespace_not_found(ns: &str) -> (u16, Value) {
    status(
        404,
        "NotFound",
        &format!("namespaces \"{ns}\" not found"),
        json!({"name": ns, "kind": "namespaces"}),
    )
}

/// 422 Invalid with one cause per (field, reason, message).
pub fn invalid(res: &Res, name: &str, causes: &[(String, &str, String)]) -> (u16, Value) {
    let summary: Vec<String> = causes.iter().map(|(f, _, m)| format!("{f}: {m}")).collect();
    let message = if summary.len() == 1 {
        format!(
            "{} \"{name}\" is invalid: {}",
            res.kind_qualified(),
            summary[0]
        )
    } else {
        format!(
            "{} \"{name}\" is invalid: [{}]",
            res.kind_qualified(),
            summary.join(", ")
        )
    };
    let mut details = json!({
        "name": name, "kind": res.kind,
        "causes": causes.iter().map(|(f, r, m)| json!({"reason": r, "message": m, "field": f})).collect::<Vec<_>>()
    });
    if !res.group.is_empty() {
        details["group"] = json!(res.group);
    }
    status(422, "Invalid", &message, details)
}

fn dns1123_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

fn dns1123_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(dns1123_label)
}

/// Validates the object's name as the real server does for its kind.
pub fn validate_name(res: &Res, name: &str) -> Result<(), (u16, Value)> {
    // Roles and bindings: pkg/apis/rbac/validation's ValidateRBACName is
    // apimachinery's path.IsValidPathSegmentName (so `system:x` is valid).
    let rbac = res.group == "rbac.authorization.k8s.io";
    let (ok, msg) = match res.plural {
        _ if rbac => {
            let bad = [".", ".."].iter().find(|b| name == **b).map(|b| format!("may not be '{b}'"))
                .or_else(|| ["/", "%"].iter().find(|b| name.contains(**b)).map(|b| format!("may not contain '{b}'")));
            (bad.is_none(), format!("Invalid value: \"{name}\": {}", bad.unwrap_or_default()))
        }
        "services" => (
            dns1123_label(name) && name.as_bytes()[0].is_ascii_lowercase(),
            format!("Invalid value: \"{name}\": a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"),
        ),
        "namespaces" => (
            dns1123_label(name),
            format!("Invalid value: \"{name}\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"),
        ),
        _ => (
            dns1123_subdomain(name),
            format!("Invalid value: \"{name}\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"),
        ),
    };
    if ok {
        Ok(())
    } else {
        Err(invalid(
            res,
            name,
            &[("metadata.name".into(), "FieldValueInvalid", msg)],
        ))
    }
}

fn without(v: &Value, keys: &[&str]) -> Value {
    let mut v = v.clone();
    if let Some(m) = v.as_object_mut() {
        for k in keys {
            m.remove(*k);
        }
    }
    v
}

const PV_SOURCES: &[&str] = &[
    "hostPath",
    "local",
    "nfs",
    "csi",
    "iscsi",
    "fc",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "azureDisk",
    "azureFile",
    "cephfs",
    "rbd",
    "cinder",
    "flexVolume",
    "glusterfs",
    "portworxVolume",
    "quobyte",
    "scaleIO",
    "storageos",
    "vsphereVolume",
    "photonPersistentDisk",
    "flocker",
];

/// Rejects changes Kubernetes forbids on an existing object.
pub fn check_immutable(
    res: &Res,
    name: &str,
    old: &Value,
    new: &Value,
) -> Result<(), (u16, Value)> {
    let (os, ns) = (&old["spec"], &new["spec"]);
    let forbid = |field: &str, msg: String| {
        Err(invalid(
            res,
            name,
            &[(field.to_string(), "FieldValueForbidden", msg)],
        ))
    };
    let immutable = |field: &str, value: &Value| {
        Err(invalid(
            res,
            name,
            &[(
                field.to_string(),
                "FieldValueInvalid",
                format!("Invalid value: {value}: field is immutable"),
            )],
        ))
    };
    match res.plural {
        "statefulsets" => {
            let mutable = [
                "replicas",
                "ordinals",
                "template",
                "updateStrategy",
                "persistentVolumeClaimRetentionPolicy",
                "minReadySeconds",
            ];
            if without(os, &mutable) != without(ns, &mutable) {
                return forbid("spec", "Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden".into());
            }
        }
        "deployments" | "daemonsets" if os["selector"] != ns["selector"] => {
            return immutable("spec.selector", &ns["selector"]);
        }
        "jobs" if os["template"] != ns["template"] => {
            return immutable("spec.template", &json!("core.PodTemplateSpec{...}"));
        }
        "persistentvolumes" => {
            let src = |s: &Value| PV_SOURCES.iter().map(|k| s[*k].clone()).collect::<Vec<_>>();
            if src(os) != src(ns) {
                return forbid(
                    "spec.persistentvolumesource",
                    "Forbidden: spec.persistentvolumesource is immutable after creation".into(),
                );
            }
        }
        "persistentvolumeclaims" => {
            let strip = |s: &Value| {
                let mut s = without(s, &["volumeAttributesClassName"]);
                if let Some(r) = s.get_mut("resources").and_then(Value::as_object_mut) {
                    r.remove("requests");
                }
                s
            };
            if strip(os) != strip(ns) {
                return forbid("spec", "Forbidden: spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims".into());
            }
        }
        "services"
            if os["clusterIP"].is_string()
                && os["clusterIP"] != ns["clusterIP"]
                && !ns["clusterIP"].is_null() =>
        {
            return immutable("spec.clusterIP", &ns["clusterIP"]);
        }
        _ => {}
    }
    Ok(())
}

fn set_default(obj: &mut Value, key: &str, value: Value) {
    if let Some(m) = obj.as_object_mut() {
        m.entry(key.to_string()).or_insert(value);
    }
}

fn default_pod_spec(spec: &mut Value, restart: &str) {
    set_default(spec, "restartPolicy", json!(restart));
    set_default(spec, "terminationGracePeriodSeconds", json!(30));
    set_default(spec, "dnsPolicy", json!("ClusterFirst"));
    set_default(spec, "securityContext", json!({}));
    set_default(spec, "schedulerName", json!("default-scheduler"));
    for list in ["containers", "initContainers"] {
        if let Some(cs) = spec.get_mut(list).and_then(Value::as_array_mut) {
            for c in cs {
                let image = c["image"].as_str().unwrap_or_default().to_string();
                let policy = if image.ends_with(":latest")
                    || !image.rsplit('/').next().unwrap_or("").contains(':')
                {
                    "Always"
                } else {
                    "IfNotPresent"
                };
                set_default(c, "imagePullPolicy", json!(policy));
                set_default(c, "terminationMessagePath", json!("/dev/termination-log"));
                set_default(c, "terminationMessagePolicy", json!("File"));
                set_default(c, "resources", json!({}));
                if let Some(ports) = c.get_mut("ports").and_then(Value::as_array_mut) {
                    for p in ports {
                        set_default(p, "protocol", json!("TCP"));
                    }
                }
            }
        }
    }
}

/// What Go's JSON encoding writes for zero values of embedded structs:
/// an ObjectMeta's `creationTimestamp: null` in a pod template, and a
/// StatefulSet's claim templates as whole PersistentVolumeClaims
/// (recording 17).
fn go_zero_values(res: &Res, obj: &mut Value) {
    let template = match res.plural {
        "deployments" | "statefulsets" | "daemonsets" | "jobs" | "replicasets" => {
            Some(&mut obj["spec"]["template"])
        }
        "cronjobs" => Some(&mut obj["spec"]["jobTemplate"]["spec"]["template"]),
        _ => None,
    };
    if let Some(t) = template {
        set_default(&mut t["metadata"], "creationTimestamp", Value::Null);
    }
    if res.plural == "statefulsets" {
        if let Some(vcts) = obj["spec"]
            .get_mut("volumeClaimTemplates")
            .and_then(Value::as_array_mut)
        {
            for v in vcts {
                set_default(v, "apiVersion", json!("v1"));
                set_default(v, "kind", json!("PersistentVolumeClaim"));
                set_default(&mut v["metadata"], "creationTimestamp", Value::Null);
                set_default(v, "status", json!({"phase": "Pending"}));
            }
        }
    }
}

/// Fills in the defaults the real server adds. `ip` allocates a ClusterIP.
pub fn apply_defaults(res: &Res, obj: &mut Value, ip: &mut dyn FnMut() -> String) {
    go_zero_values(res, obj);
    match res.plural {
        "services" => {
            let spec = &mut obj["spec"];
            set_default(spec, "type", json!("ClusterIP"));
            set_default(spec, "sessionAffinity", json!("None"));
            if spec.get("clusterIP").is_none() {
                spec["clusterIP"] = json!(ip());
            }
            let cip = spec["clusterIP"].clone();
            set_default(spec, "clusterIPs", json!([cip]));
            set_default(spec, "ipFamilies", json!(["IPv4"]));
            set_default(spec, "ipFamilyPolicy", json!("SingleStack"));
            set_default(spec, "internalTrafficPolicy", json!("Cluster"));
            if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
                for p in ports {
                    set_default(p, "protocol", json!("TCP"));
                    let port = p["port"].clone();
                    set_default(p, "targetPort", port);
                }
            }
            set_default(obj, "status", json!({"loadBalancer": {}}));
        }
        "statefulsets" => {
            let spec = &mut obj["spec"];
            set_default(spec, "replicas", json!(1));
            set_default(spec, "podManagementPolicy", json!("OrderedReady"));
            set_default(
                spec,
                "updateStrategy",
                json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}),
            );
            set_default(spec, "revisionHistoryLimit", json!(10));
            set_default(
                spec,
                "persistentVolumeClaimRetentionPolicy",
                json!({"whenDeleted": "Retain", "whenScaled": "Retain"}),
            );
            default_pod_spec(&mut spec["template"]["spec"], "Always");
            if let Some(vcts) = spec
                .get_mut("volumeClaimTemplates")
                .and_then(Value::as_array_mut)
            {
                for v in vcts {
                    set_default(&mut v["spec"], "volumeMode", json!("Filesystem"));
                }
            }
            set_default(
                obj,
                "status",
                json!({"replicas": 0, "availableReplicas": 0}),
            );
        }
        "deployments" => {
            let spec = &mut obj["spec"];
            set_default(spec, "replicas", json!(1));
            set_default(
                spec,
                "strategy",
                json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}),
            );
            set_default(spec, "revisionHistoryLimit", json!(10));
            set_default(spec, "progressDeadlineSeconds", json!(600));
            default_pod_spec(&mut spec["template"]["spec"], "Always");
        }
        "daemonsets" => default_pod_spec(&mut obj["spec"]["template"]["spec"], "Always"),
        "jobs" => default_pod_spec(&mut obj["spec"]["template"]["spec"], "Never"),
        "pods" => {
            default_pod_spec(&mut obj["spec"], "Always");
            set_default(obj, "status", json!({"phase": "Pending"}));
        }
        "persistentvolumes" => {
            set_default(&mut obj["spec"], "volumeMode", json!("Filesystem"));
            // New volumes start Pending; the PV controller moves them on (recordings 22, 83).
            set_default(
                obj,
                "status",
                json!({"phase": "Pending", "lastPhaseTransitionTime": super::store::now()}),
            );
        }
        "persistentvolumeclaims" => {
            set_default(&mut obj["spec"], "volumeMode", json!("Filesystem"));
            set_default(obj, "status", json!({"phase": "Pending"}));
        }
        "secrets" => {
            set_default(obj, "type", json!("Opaque"));
            if let Some(Value::Object(sd)) =
                obj.as_object_mut().and_then(|m| m.remove("stringData"))
            {
                use base64::Engine as _;
                for (k, v) in sd {
                    let enc = base64::engine::general_purpose::STANDARD
                        .encode(v.as_str().unwrap_or_default());
                    obj["data"][k] = json!(enc);
                }
            }
        }
        "namespaces" => {
            let name = obj["metadata"]["name"].clone();
            obj["metadata"]["labels"]["kubernetes.io/metadata.name"] = name;
            set_default(obj, "spec", json!({"finalizers": ["kubernetes"]}));
            set_default(obj, "status", json!({"phase": "Active"}));
        }
        _ => {}
    }
}

/// A ready status for a workload, as its controller would write it. A Job,
/// and a Pod that runs to completion (restartPolicy Never or OnFailure),
/// end as `succeeds` says: a failed Job as the Job controller reports
/// running out of retries, a failed Pod with its container's exit code.
pub fn ready_status(res: &Res, obj: &Value, succeeds: bool) -> Option<Value> {
    let generation = obj["metadata"]["generation"].clone();
    let replicas = obj["spec"]["replicas"].as_i64().unwrap_or(1);
    match res.plural {
        "statefulsets" => Some(json!({
            "observedGeneration": generation, "replicas": replicas, "readyReplicas": replicas,
            "currentReplicas": replicas, "updatedReplicas": replicas, "availableReplicas": replicas,
            "currentRevision": "rev-1", "updateRevision": "rev-1", "collisionCount": 0
        })),
        "deployments" => Some(json!({
            "observedGeneration": generation, "replicas": replicas, "readyReplicas": replicas,
            "updatedReplicas": replicas, "availableReplicas": replicas,
            "conditions": [{"type": "Available", "status": "True"}, {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}]
        })),
        "daemonsets" => Some(json!({
            "observedGeneration": generation, "desiredNumberScheduled": 1, "currentNumberScheduled": 1,
            "numberReady": 1, "updatedNumberScheduled": 1, "numberAvailable": 1
        })),
        "persistentvolumeclaims" => Some(json!({"phase": "Bound"})),
        "jobs" if succeeds => {
            Some(json!({"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}))
        }
        "jobs" => Some(json!({"failed": 1, "conditions": [
            {"type": "FailureTarget", "status": "True", "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"},
            {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"}]})),
        "pods" => {
            let container = obj["spec"]["containers"][0]["name"].clone();
            match obj["spec"]["restartPolicy"].as_str() {
                Some("Never" | "OnFailure") if succeeds => Some(json!({"phase": "Succeeded",
                    "containerStatuses": [{"name": container, "ready": false, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]})),
                Some("Never" | "OnFailure") => Some(json!({"phase": "Failed",
                    "containerStatuses": [{"name": container, "ready": false, "state": {"terminated": {"exitCode": 1, "reason": "Error"}}}]})),
                _ => Some(
                    json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}),
                ),
            }
        }
        _ => None,
    }
}

/// A 500 as server-side apply's typed conversion sends it: `status:
/// Failure`, a message, and no reason or details (recordings 33-35).
pub fn status_without_reason(code: u16, message: &str) -> (u16, Value) {
    (
        code,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message, "code": code}),
    )
}

/// 409 Conflict naming the object (stale resourceVersion, failed precondition).
pub fn conflict(res: &Res, name: &str, why: &str) -> (u16, Value) {
    let mut details = json!({"name": name, "kind": res.plural});
    if !res.group.is_empty() {
        details["group"] = json!(res.group);
    }
    status(
        409,
        "Conflict",
        &format!(
            "Operation cannot be fulfilled on {} \"{name}\": {why}",
            res.qualified()
        ),
        details,
    )
}

/// 403 for new content in a terminating namespace (recordings 95-96).
pub fn namespace_terminating(res: &Res, name: &str, ns: &str) -> (u16, Value) {
    let mut details = json!({"name": name, "kind": res.plural, "causes": [{
        "reason": "NamespaceTerminating",
        "message": format!("namespace {ns} is being terminated"),
        "field": "metadata.namespace"
    }]});
    if !res.group.is_empty() {
        details["group"] = json!(res.group);
    }
    status(
        403,
        "Forbidden",
        &format!("{} \"{name}\" is forbidden: unable to create new content in namespace {ns} because it is being terminated", res.qualified()),
        details,
    )
}

/// Validation of a whole object that the schema's types do not express:
/// a Secret's decoded size (recording 102), a custom resource's schema
/// values (108).
pub fn validate(res: &Res, name: &str, obj: &Value) -> Result<(), (u16, Value)> {
    if res.plural == "secrets" {
        use base64::Engine as _;
        let size: usize = obj["data"]
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(_, v)| v.as_str())
            .map(|s| {
                base64::engine::general_purpose::STANDARD
                    .decode(s)
                    .map(|b| b.len())
                    .unwrap_or(s.len())
            })
            .sum();
        if size > 1_048_576 {
            return Err(invalid(
                res,
                name,
                &[(
                    "data".into(),
                    "FieldValueTooLong",
                    "Too long: may not be more than 1048576 bytes".into(),
                )],
            ));
        }
    }
    if res.crd_schema.is_some() {
        let causes = super::typecheck::crd_value_errors(obj, res.node());
        if !causes.is_empty() {
            return Err(invalid(res, name, &causes));
        }
    }
    Ok(())
}

/// Duplicate list keys in a POSTed workload: two containers of one name
/// are invalid (422); two env entries of one name are stored with a
/// Warning (recordings 41-42).
pub fn duplicates_on_create(
    res: &Res,
    name: &str,
    obj: &Value,
) -> Result<Vec<String>, (u16, Value)> {
    let (spec, prefix) = match res.plural {
        "pods" => (&obj["spec"], "spec"),
        "deployments" | "statefulsets" | "daemonsets" | "jobs" | "replicasets" => {
            (&obj["spec"]["template"]["spec"], "spec.template.spec")
        }
        _ => return Ok(Vec::new()),
    };
    let mut warnings = Vec::new();
    for list in ["initContainers", "containers"] {
        let containers = spec[list].as_array().cloned().unwrap_or_default();
        let mut seen = Vec::new();
        for (i, c) in containers.iter().enumerate() {
            let n = c["name"].clone();
            if seen.contains(&n) {
                return Err(invalid(
                    res,
                    name,
                    &[(
                        format!("{prefix}.{list}[{i}].name"),
                        "FieldValueDuplicate",
                        format!("Duplicate value: {n}"),
                    )],
                ));
            }
            seen.push(n);
            let mut env_seen = Vec::new();
            for (j, e) in c["env"].as_array().into_iter().flatten().enumerate() {
                let en = e["name"].clone();
                if env_seen.contains(&en) {
                    warnings.push(format!(
                        "{prefix}.{list}[{i}].env[{j}]: hides previous definition of {en}, which may be dropped when using apply"
                    ));
                }
                env_seen.push(en);
            }
        }
    }
    Ok(warnings)
}

/// Finalizers admission adds to new objects: volumes and claims are
/// protected while in use (recordings 83, 86).
pub fn protection_finalizers(res: &Res, obj: &mut Value) {
    let f = match res.plural {
        "persistentvolumes" => "kubernetes.io/pv-protection",
        "persistentvolumeclaims" => "kubernetes.io/pvc-protection",
        _ => return,
    };
    let list = obj["metadata"]["finalizers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if !list.iter().any(|x| x == f) {
        let mut list = list;
        list.push(json!(f));
        obj["metadata"]["finalizers"] = json!(list);
    }
}
