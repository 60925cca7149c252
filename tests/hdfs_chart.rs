//! The HDFS chart: golden renders, Kubernetes schema validation and
//! structural checks on the rendered objects (scripts: hdfs_scripts.rs;
//! values: hdfs_values.rs).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use common::hdfs::*;
use common::{find, of_kind, render_hdfs, root, stderr, stdout, windlass};
use serde_json::{json, Value};
use windlass::render::Manifest;
#[test]
fn examples_match_golden_renders() {
    for name in EXAMPLES {
        let out = windlass(
            &[
                "template",
                "hdfs",
                "charts/hdfs",
                "-n",
                "hdfs",
                "-f",
                &example(name),
            ],
            &root(),
        );
        assert!(out.status.success(), "{name}: {}", stderr(&out));
        common::assert_golden(&format!("hdfs-{name}.yaml"), &stdout(&out));
    }
}

#[test]
fn chart_lints_clean() {
    let out = windlass(&["lint", "charts/hdfs", "--strict"], &root());
    assert!(out.status.success(), "{}", stdout(&out));
    for name in EXAMPLES {
        let out = windlass(
            &["lint", "charts/hdfs", "--strict", "-f", &example(name)],
            &root(),
        );
        assert!(out.status.success(), "{name}: {}", stdout(&out));
    }
}

/// Every example (everything-on has every optional object), and a render
/// exposed outside the cluster, passes `kubernetes-validate --strict`
/// (installed by .ci/run). Custom resources are not Kubernetes' to check:
/// the ServiceMonitor is validated against a schema written from its CRD
/// (tests/fixtures/servicemonitor.schema.json).
#[test]
fn rendered_manifests_pass_kubernetes_validate() {
    let available = Command::new("kubernetes-validate")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !available {
        assert!(
            std::env::var("WINDLASS_REQUIRE_KUBERNETES_VALIDATE").is_err(),
            "kubernetes-validate is required (pip install kubernetes-validate)"
        );
        eprintln!("skipping: kubernetes-validate is not installed");
    }
    let monitor_schema: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("tests/fixtures/servicemonitor.schema.json")).unwrap(),
    )
    .unwrap();
    let monitor_schema = jsonschema::validator_for(&monitor_schema).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut cases: Vec<(String, Vec<String>)> = EXAMPLES
        .iter()
        .map(|n| (n.to_string(), vec!["-f".to_string(), example(n)]))
        .collect();
    cases.push((
        "exposed".into(),
        [
            "-f", &example("poc-single-node"),
            "--set", "networkPolicy.enabled=true,ingress.enabled=true,ingress.host=hdfs.example.com,tests.enabled=true,security.allowUnauthenticatedExternalAccess=true",
            "--set", "namenode.service.type=LoadBalancer,balancer.enabled=true,rackAwareness.enabled=true",
            "--set", "persistence.poc.nodeName=node-1,namenode.podLabels.team=data,datanode.extraEnv[0].name=X,datanode.extraEnv[0].value=y",
            "--set", "image.pullSecrets={regcred},namenode.priorityClassName=high,datanode.antiAffinity=soft",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
    ));
    let mut monitors = 0;
    for (name, args) in cases {
        let mut full = vec![
            "template".to_string(),
            "hdfs".into(),
            "charts/hdfs".into(),
            "-n".into(),
            "hdfs".into(),
        ];
        full.extend(args);
        let refs: Vec<&str> = full.iter().map(String::as_str).collect();
        let out = windlass(&refs, &root());
        assert!(out.status.success(), "{name}: {}", stderr(&out));
        let mut builtin = String::new();
        for doc in stdout(&out).split("\n---\n") {
            let object: Value = serde_yaml::from_str(doc).unwrap_or(Value::Null);
            if object["apiVersion"] == "monitoring.coreos.com/v1" {
                monitors += 1;
                let problems: Vec<String> = monitor_schema
                    .iter_errors(&object)
                    .map(|e| format!("{} at {}", e, e.instance_path()))
                    .collect();
                assert!(problems.is_empty(), "{name}: ServiceMonitor: {problems:#?}");
            } else {
                builtin.push_str(doc);
                builtin.push_str("\n---\n");
            }
        }
        if !available {
            continue;
        }
        let file = dir.path().join(format!("{name}.yaml"));
        std::fs::write(&file, builtin).unwrap();
        for version in ["1.32.0", "1.37.0"] {
            let v = Command::new("kubernetes-validate")
                .args(["--strict", "--quiet", "-k", version])
                .arg(&file)
                .output()
                .unwrap();
            assert!(
                v.status.success(),
                "{name} against Kubernetes {version}:\n{}{}",
                String::from_utf8_lossy(&v.stdout),
                String::from_utf8_lossy(&v.stderr)
            );
        }
    }
    assert_eq!(
        monitors, 1,
        "the everything-on example has the ServiceMonitor"
    );
    // The schema can fail: a duration Prometheus would not read.
    let bad = serde_json::json!({"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
        "metadata": {"name": "x", "namespace": "y"},
        "spec": {"selector": {}, "endpoints": [{"port": "http", "interval": "30 seconds"}]}});
    assert!(!monitor_schema.is_valid(&bad));
}

#[test]
fn hdfs_talks_by_hostname() {
    let m = render_hdfs("hdfs", "data", &[&example("poc-single-node")], &[]);
    let site = config(&m, "hdfs-site.xml");
    for (k, v) in [
        (
            "dfs.namenode.datanode.registration.ip-hostname-check",
            "false",
        ),
        ("dfs.client.use.datanode.hostname", "true"),
        ("dfs.datanode.use.datanode.hostname", "true"),
        ("dfs.datanode.hostname", "${env.POD_FQDN}"),
        ("dfs.namenode.rpc-bind-host", "0.0.0.0"),
        ("dfs.namenode.servicerpc-bind-host", "0.0.0.0"),
        ("dfs.namenode.lifeline.rpc-bind-host", "0.0.0.0"),
        ("dfs.namenode.http-bind-host", "0.0.0.0"),
        ("dfs.namenode.https-bind-host", "0.0.0.0"),
    ] {
        assert_eq!(site.get(k).map(String::as_str), Some(v), "{k}");
    }
    // POD_FQDN is the datanode's name under its headless governing Service.
    let dn = sts(&m, "datanode");
    let svc_name = dn.object["spec"]["serviceName"].as_str().unwrap();
    let svc = find(&m, "Service", svc_name);
    assert_eq!(svc.object["spec"]["clusterIP"], "None");
    let env = dn.object["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .unwrap();
    let fqdn = env.iter().find(|e| e["name"] == "POD_FQDN").unwrap()["value"]
        .as_str()
        .unwrap();
    assert_eq!(
        fqdn,
        format!("$(POD_NAME).{svc_name}.data.svc.cluster.local")
    );
}

#[test]
fn default_fs_is_the_namenode_pod_under_its_headless_service() {
    let m = render_hdfs("hdfs", "data", &[&example("production")], &[]);
    let nn = sts(&m, "namenode");
    let svc_name = nn.object["spec"]["serviceName"].as_str().unwrap();
    let svc = find(&m, "Service", svc_name);
    assert_eq!(svc.object["spec"]["clusterIP"], "None");
    assert_eq!(svc.object["spec"]["publishNotReadyAddresses"], true);
    let selector = &svc.object["spec"]["selector"];
    let pod_labels = &nn.object["spec"]["template"]["metadata"]["labels"];
    for (k, v) in selector.as_object().unwrap() {
        assert_eq!(
            &pod_labels[k], v,
            "the headless Service selects the namenode pod ({k})"
        );
    }
    let expected = format!(
        "hdfs://{}-0.{svc_name}.data.svc.cluster.local:8020",
        nn.name
    );
    assert_eq!(config(&m, "core-site.xml")["fs.defaultFS"], expected);
    assert_eq!(
        config(&m, "hdfs-site.xml")["dfs.namenode.rpc-address"],
        expected.trim_start_matches("hdfs://")
    );
    // The same address in the datanodes' wait (timeout, then host:port).
    let wait =
        &sts(&m, "datanode").object["spec"]["template"]["spec"]["initContainers"][0]["command"];
    assert_eq!(
        wait.as_array().unwrap()[3..],
        [format!(
            "{}-0.{svc_name}.data.svc.cluster.local:8020",
            nn.name
        )]
    );
}

/// The names of the PVCs the StatefulSets will create:
/// `<claim>-<statefulset>-<ordinal>`, with the claim template's class.
fn expected_claims(m: &[Manifest]) -> BTreeMap<String, Option<String>> {
    let mut out = BTreeMap::new();
    for s in of_kind(m, "StatefulSet") {
        let replicas = s.object["spec"]["replicas"].as_u64().unwrap();
        for vct in s.object["spec"]["volumeClaimTemplates"].as_array().unwrap() {
            let claim = vct["metadata"]["name"].as_str().unwrap();
            let class = vct["spec"]["storageClassName"].as_str().map(str::to_string);
            for i in 0..replicas {
                out.insert(format!("{claim}-{}-{i}", s.name), class.clone());
            }
        }
    }
    out
}

#[test]
fn poc_mode_prebinds_one_hostpath_pv_per_claim() {
    for (replicas, per_pod) in [(3, 2), (1, 1), (4, 3)] {
        let m = render_hdfs(
            "hdfs",
            "data",
            &[&example("poc-single-node")],
            &[&format!(
                "datanode.replicas={replicas},datanode.volumesPerPod={per_pod}"
            )],
        );
        let pvs = of_kind(&m, "PersistentVolume");
        // The namenode's and the secondary's claims, then the datanodes'.
        assert_eq!(pvs.len(), replicas * per_pod + 2);
        let claims = expected_claims(&m);
        let mut bound = BTreeSet::new();
        for pv in &pvs {
            let spec = &pv.object["spec"];
            assert_eq!(spec["claimRef"]["namespace"], "data");
            let claim = spec["claimRef"]["name"].as_str().unwrap().to_string();
            let class = claims.get(&claim).unwrap_or_else(|| {
                panic!(
                    "PV {} is bound to {claim}, which no StatefulSet creates",
                    pv.name
                )
            });
            assert_eq!(
                spec["storageClassName"].as_str(),
                class.as_deref(),
                "PV and claim share a class"
            );
            assert_eq!(spec["persistentVolumeReclaimPolicy"], "Retain");
            assert_eq!(spec["hostPath"]["type"], "DirectoryOrCreate");
            assert!(bound.insert(claim), "two PVs bound to one claim");
        }
        assert_eq!(bound.len(), claims.len(), "every claim has its PV");
        // The data directories listed in hdfs-site.xml are the mounted volumes.
        let dirs = config(&m, "hdfs-site.xml")["dfs.datanode.data.dir"].clone();
        assert_eq!(dirs.split(',').count(), per_pod);
        let mounts: Vec<String> = sts(&m, "datanode").object["spec"]["template"]["spec"]
            ["containers"][0]["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["mountPath"].as_str().unwrap().to_string())
            .collect();
        for d in dirs.split(',') {
            let path = d.trim_start_matches("[DISK]file://");
            assert!(
                mounts.iter().any(|mp| path.starts_with(&format!("{mp}/"))),
                "{path} is on a mounted volume"
            );
        }
    }
}

#[test]
fn poc_pvs_pin_to_the_named_node() {
    let m = render_hdfs(
        "hdfs",
        "data",
        &[&example("poc-single-node")],
        &["persistence.poc.nodeName=worker-1"],
    );
    for pv in of_kind(&m, "PersistentVolume") {
        let terms = &pv.object["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"][0]
            ["matchExpressions"][0];
        assert_eq!(terms["key"], "kubernetes.io/hostname");
        assert_eq!(terms["values"][0], "worker-1");
    }
    // The example names its node; poc mode without one is refused.
    let m = render_hdfs("hdfs", "data", &[&example("poc-single-node")], &[]);
    assert!(of_kind(&m, "PersistentVolume").iter().all(|pv| {
        pv.object["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"][0]["matchExpressions"][0]
            ["values"][0]
            == "minikube"
    }));
}

#[test]
fn dynamic_mode_renders_no_pvs_and_uses_the_storage_class() {
    let m = render_hdfs(
        "hdfs",
        "data",
        &[&example("production")],
        &["persistence.storageClassName=fast-ssd"],
    );
    assert!(of_kind(&m, "PersistentVolume").is_empty());
    let claims = expected_claims(&m);
    assert_eq!(
        claims.len(),
        5 * 2 + 3,
        "datanodes', the namenode's two, the secondary's"
    );
    assert!(claims.values().all(|c| c.as_deref() == Some("fast-ssd")));
    let m = render_hdfs("hdfs", "data", &[&example("minimal")], &[]);
    assert!(
        expected_claims(&m).values().all(Option::is_none),
        "empty class: the cluster default"
    );
}

#[test]
fn two_releases_in_two_namespaces_never_share_pvs_or_paths() {
    let a = render_hdfs("hdfs", "team-a", &[&example("poc-single-node")], &[]);
    let b = render_hdfs("hdfs", "team-b", &[&example("poc-single-node")], &[]);
    let c = render_hdfs("other", "team-a", &[&example("poc-single-node")], &[]);
    // Namespace and release names that join alike with '-' (the old PV
    // names collided: a-b-c-hdfs-name-0).
    let d = render_hdfs("c", "a-b", &[&example("poc-single-node")], &[]);
    let e = render_hdfs("b-c", "a", &[&example("poc-single-node")], &[]);
    let names = |m: &[Manifest]| -> BTreeSet<String> {
        of_kind(m, "PersistentVolume")
            .iter()
            .map(|p| p.name.clone())
            .collect()
    };
    let paths = |m: &[Manifest]| -> BTreeSet<String> {
        of_kind(m, "PersistentVolume")
            .iter()
            .map(|p| {
                p.object["spec"]["hostPath"]["path"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect()
    };
    for (x, y) in [(&a, &b), (&a, &c), (&b, &c), (&d, &e)] {
        assert!(names(x).is_disjoint(&names(y)));
        assert!(paths(x).is_disjoint(&paths(y)));
        // No path is a parent of another release's path either.
        for p in paths(x) {
            assert!(paths(y).iter().all(|q| !q.starts_with(&format!("{p}/"))));
        }
    }
}

#[test]
fn replication_is_three_unless_set() {
    // Files keep the factor they were written with: it must not follow the
    // datanode count (lint warns when there are fewer datanodes).
    for n in 1..=5u64 {
        let m = render_hdfs("hdfs", "data", &[], &[&format!("datanode.replicas={n}")]);
        let r: u64 = config(&m, "hdfs-site.xml")["dfs.replication"]
            .parse()
            .unwrap();
        assert_eq!(r, 3, "replicas={n}");
    }
    let m = render_hdfs(
        "hdfs",
        "data",
        &[],
        &["datanode.replicas=5,hdfs.replication=2"],
    );
    assert_eq!(config(&m, "hdfs-site.xml")["dfs.replication"], "2");
    // A user override of the raw key wins over both.
    let m = render_hdfs("hdfs", "data", &[], &[r"hdfs.hdfsSite.dfs\.replication=1"]);
    assert_eq!(config(&m, "hdfs-site.xml")["dfs.replication"], "1");
}

#[test]
fn config_checksum_rolls_pods_on_any_config_change_only() {
    let base = render_hdfs("hdfs", "data", &[], &[]);
    let (nn, dn) = (checksum(&base, "namenode"), checksum(&base, "datanode"));
    assert_ne!(nn, dn, "each role sums only what it reads");
    for change in [
        r"hdfs.hdfsSite.dfs\.namenode\.handler\.count=40",
        r"hdfs.coreSite.io\.file\.buffer\.size=131072",
        r"hdfs.hdfsSite.dfs\.blocksize=268435456",
        "hdfs.replication=2",
        "hdfs.safemode.extensionMs=1000",
        "clusterDomain=example.internal",
        "namenode.ports.rpc=9000",
        "datanode.ports.http=19864",
        "datanode.volumesPerPod=2",
    ] {
        let m = render_hdfs("hdfs", "data", &[], &[change]);
        assert_ne!(
            checksum(&m, "namenode"),
            nn,
            "{change} must change the namenode checksum"
        );
        assert_ne!(
            checksum(&m, "datanode"),
            dn,
            "{change} must change the datanode checksum"
        );
    }
    for unrelated in [
        "datanode.replicas=1",
        "datanode.resources.requests.cpu=2",
        "namenode.podAnnotations.a=b",
        "tests.enabled=true",
    ] {
        let m = render_hdfs("hdfs", "data", &[], &[unrelated]);
        assert_eq!(
            checksum(&m, "namenode"),
            nn,
            "{unrelated} must not roll the pods"
        );
    }
}

#[test]
fn config_values_are_xml_escaped() {
    let m = render_hdfs("hdfs", "data", &[], &[r"hdfs.coreSite.x\.y=a<b&c"]);
    let cm = find(&m, "ConfigMap", "-config");
    assert!(cm.object["data"]["core-site.xml"]
        .as_str()
        .unwrap()
        .contains("<value>a&lt;b&amp;c</value>"));
    assert_eq!(config(&m, "core-site.xml")["x.y"], "a<b&c");
}

#[test]
fn production_safety_defaults() {
    let m = render_hdfs("hdfs", "data", &[&example("production")], &[]);
    for s in of_kind(&m, "StatefulSet") {
        let spec = &s.object["spec"];
        assert_eq!(
            spec["persistentVolumeClaimRetentionPolicy"]["whenDeleted"],
            "Retain"
        );
        assert_eq!(
            spec["persistentVolumeClaimRetentionPolicy"]["whenScaled"],
            "Retain"
        );
        let pod = &spec["template"]["spec"];
        assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
        assert_eq!(pod["securityContext"]["runAsUser"], 1000);
        assert_eq!(pod["securityContext"]["fsGroup"], 1000);
        for c in pod["containers"]
            .as_array()
            .unwrap()
            .iter()
            .chain(pod["initContainers"].as_array().unwrap())
        {
            assert_eq!(
                c["securityContext"]["allowPrivilegeEscalation"], false,
                "{}",
                c["name"]
            );
        }
        let main = &pod["containers"][0];
        assert!(main.get("readinessProbe").is_some() && main.get("livenessProbe").is_some());
    }
    let dn = sts(&m, "datanode");
    assert_eq!(dn.object["spec"]["podManagementPolicy"], "Parallel");
    assert!(
        dn.object["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
            ["requiredDuringSchedulingIgnoredDuringExecution"]
            .is_array()
    );
    let nn = sts(&m, "namenode");
    let probes = &nn.object["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(probes["startupProbe"]["tcpSocket"]["port"], "http");
    assert_eq!(probes["readinessProbe"]["tcpSocket"]["port"], "rpc");
    assert_eq!(
        probes["livenessProbe"]["exec"]["command"][1],
        "/opt/windlass/scripts/namenode-alive.sh"
    );
    for pdb in of_kind(&m, "PodDisruptionBudget") {
        assert_eq!(pdb.object["spec"]["maxUnavailable"], 1);
        assert!(
            pdb.object["spec"].get("minAvailable").is_none(),
            "never a minAvailable that blocks drains"
        );
    }
    assert_eq!(of_kind(&m, "PodDisruptionBudget").len(), 2);
    assert_eq!(of_kind(&m, "NetworkPolicy").len(), 2);
    // Clients reach a datanode's data, IPC and web ports: reading a file
    // still being written asks for the replica's visible length over IPC.
    let dn_policy = find(&m, "NetworkPolicy", "-datanode");
    let client_ports: Vec<&Value> = dn_policy.object["spec"]["ingress"][1]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| &p["port"])
        .collect();
    assert_eq!(client_ports, [&json!(9866), &json!(9867), &json!(9864)]);
    // Only poc mode runs the root ownership fix.
    assert!(
        !serde_json::to_string(&m.iter().map(|x| &x.object).collect::<Vec<_>>())
            .unwrap()
            .contains("volume-permissions")
    );
    // Every namespaced object is in the release namespace; labels are standard.
    for x in &m {
        if x.kind != "PersistentVolume" {
            assert_eq!(x.namespace.as_deref(), Some("data"), "{}", x.id());
        }
        let labels = &x.object["metadata"]["labels"];
        assert_eq!(
            labels["app.kubernetes.io/managed-by"],
            "windlass",
            "{}",
            x.id()
        );
        assert_eq!(labels["app.kubernetes.io/instance"], "hdfs", "{}", x.id());
    }
}

#[test]
fn anti_affinity_modes() {
    let rules = |mode: &str| {
        let m = render_hdfs(
            "hdfs",
            "data",
            &[],
            &[&format!("datanode.antiAffinity={mode}")],
        );
        sts(&m, "datanode").object["spec"]["template"]["spec"]["affinity"].clone()
    };
    assert!(rules("none").is_null());
    assert!(
        rules("soft")["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
            .is_array()
    );
    assert!(
        rules("hard")["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
            .is_array()
    );
    let m = render_hdfs(
        "hdfs",
        "data",
        &[],
        &["datanode.affinity.nodeAffinity.x=1,datanode.antiAffinity=hard"],
    );
    assert_eq!(
        sts(&m, "datanode").object["spec"]["template"]["spec"]["affinity"],
        serde_json::json!({"nodeAffinity": {"x": 1}})
    );
}

#[test]
fn optional_objects_are_off_by_default_and_the_test_hook_on() {
    let m = render_hdfs("hdfs", "data", &[], &["tests.enabled=false"]);
    for kind in ["NetworkPolicy", "Ingress", "Pod", "PersistentVolume"] {
        assert!(of_kind(&m, kind).is_empty(), "{kind} rendered by default");
    }
    let m = render_hdfs(
        "hdfs",
        "data",
        &[],
        &["ingress.enabled=true,security.allowUnauthenticatedExternalAccess=true"],
    );
    let pod = find(&m, "Pod", "-test");
    assert_eq!(
        pod.object["metadata"]["annotations"]["windlass.io/hook"],
        "test"
    );
    // WebHDFS is always served: there is no switch that pretends otherwise.
    assert!(!config(&m, "hdfs-site.xml").contains_key("dfs.webhdfs.enabled"));
    let ing = find(&m, "Ingress", "-namenode");
    assert_eq!(
        ing.object["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"],
        "hdfs-namenode-client"
    );
}

/// Scaling datanodes never restarts the namenode, and replication does not
/// follow the datanode count (files keep the factor they were written with).
#[test]
fn scaling_datanodes_leaves_the_namenode_and_replication_alone() {
    let checksum = |m: &[windlass::render::Manifest], role: &str| -> Value {
        find(m, "StatefulSet", &format!("-{role}")).object["spec"]["template"]["metadata"]
            ["annotations"]["checksum/config"]
            .clone()
    };
    let site = |m: &[windlass::render::Manifest]| -> String {
        find(m, "ConfigMap", "-config").object["data"]["hdfs-site.xml"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let renders: Vec<_> = ["1", "2", "3", "7"]
        .iter()
        .map(|n| {
            render_hdfs(
                "hdfs",
                "data",
                &[],
                &[&format!("datanode.replicas={n}"), "hdfs.replication=1"],
            )
        })
        .collect();
    for r in &renders[1..] {
        assert_eq!(checksum(r, "namenode"), checksum(&renders[0], "namenode"));
    }
    let default = render_hdfs("hdfs", "data", &[], &["datanode.replicas=7"]);
    assert!(site(&default).contains("<name>dfs.replication</name><value>3</value>"));
    let one = render_hdfs(
        "hdfs",
        "data",
        &[],
        &["datanode.replicas=1", "hdfs.replication=1"],
    );
    assert!(site(&one).contains("<name>dfs.replication</name><value>1</value>"));
    // The datanode scripts are the datanodes' alone.
    assert_ne!(
        checksum(&default, "namenode"),
        checksum(&default, "datanode")
    );
}

#[test]
fn operational_defaults_a_hadoop_operator_expects() {
    let m = render_hdfs("hdfs", "data", &[], &["datanode.volumesPerPod=2"]);
    assert_eq!(config(&m, "core-site.xml")["fs.trash.interval"], "1440");
    assert_eq!(
        config(&m, "hdfs-site.xml")["dfs.datanode.failed.volumes.tolerated"],
        "1"
    );
    let one = render_hdfs("hdfs", "data", &[], &[]);
    assert_eq!(
        config(&one, "hdfs-site.xml")["dfs.datanode.failed.volumes.tolerated"],
        "0"
    );
    let log4j = find(&m, "ConfigMap", "-config").object["data"]["log4j.properties"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(log4j.contains("log4j.logger.org.apache.hadoop.hdfs.server.namenode.FSNamesystem.audit=${hdfs.audit.logger}"));
    assert!(log4j.contains(
        "log4j.additivity.org.apache.hadoop.hdfs.server.namenode.FSNamesystem.audit=false"
    ));
    // Every init container has resources, so a ResourceQuota admits the pods.
    let poc = render_hdfs("hdfs", "data", &[&example("poc-single-node")], &[]);
    for sts in of_kind(&poc, "StatefulSet") {
        for c in sts.object["spec"]["template"]["spec"]["initContainers"]
            .as_array()
            .unwrap()
        {
            assert!(
                c["resources"]["requests"].is_object() && c["resources"]["limits"].is_object(),
                "{} {}",
                sts.id(),
                c["name"]
            );
        }
    }
    // A datanode gives up on the namenode only after its startup budget.
    let sts = find(&one, "StatefulSet", "-datanode");
    let text =
        serde_json::to_string(&sts.object["spec"]["template"]["spec"]["initContainers"]).unwrap();
    assert!(text.contains("900"), "{text}");
    let lint = windlass::lint::lint(
        &root().join("charts/hdfs"),
        &windlass::values::UserValues::load(&windlass::values::ValueSources {
            files: Vec::new(),
            sets: vec![windlass::values::SetFlag {
                kind: windlass::values::SetKind::Typed,
                expression: "datanode.waitForNamenode.timeoutSeconds=300".into(),
            }],
        })
        .unwrap(),
        &windlass::render::RenderOptions::offline("hdfs", "data"),
    );
    assert!(
        lint.findings.iter().any(|f| f.message.contains(
            "shorter than the namenode's startup budget (namenode.startupStallSeconds, 600 s)"
        )),
        "{:?}",
        lint.findings
    );
}

/// Checkpointing (issue 12 item 1): a SecondaryNameNode with its own claim
/// for dfs.namenode.checkpoint.dir, the checkpoint keys in hdfs-site, a poc
/// PV for its claim; and none of it when turned off.
#[test]
fn a_secondary_namenode_checkpoints_the_namespace() {
    let m = render_hdfs(
        "hdfs",
        "data",
        &["charts/hdfs/examples/poc-single-node.yaml"],
        &[],
    );
    let snn = find(&m, "StatefulSet", "-secondarynamenode");
    let spec = &snn.object["spec"];
    assert_eq!(spec["replicas"], 1);
    assert_eq!(
        spec["volumeClaimTemplates"][0]["metadata"]["name"],
        "checkpoint"
    );
    assert_eq!(
        spec["persistentVolumeClaimRetentionPolicy"]["whenDeleted"],
        "Retain"
    );
    let c = &spec["template"]["spec"]["containers"][0];
    assert_eq!(
        c["command"],
        serde_json::json!(["hdfs", "secondarynamenode"])
    );
    assert!(c["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .any(|v| v["name"] == "checkpoint" && v["mountPath"] == "/hadoop/dfs/namesecondary"));
    let site = find(&m, "ConfigMap", "-config").object["data"]["hdfs-site.xml"]
        .as_str()
        .unwrap()
        .to_string();
    for key in [
        "<name>dfs.namenode.checkpoint.dir</name><value>file:///hadoop/dfs/namesecondary/snn</value>",
        "<name>dfs.namenode.checkpoint.period</name><value>3600</value>",
        "<name>dfs.namenode.checkpoint.txns</name><value>1000000</value>",
    ] {
        assert!(site.contains(key), "{key} missing:\n{site}");
    }
    let pv = m
        .iter()
        .find(|x| x.kind == "PersistentVolume" && x.name.starts_with("checkpoint-"))
        .expect("a poc PV for the checkpoint claim");
    assert_eq!(
        pv.object["spec"]["claimRef"]["name"],
        "checkpoint-hdfs-secondarynamenode-0"
    );
    let err = common::try_render_hdfs("hdfs", "data", &[], &["secondaryNamenode.heapSize=2g"])
        .unwrap_err();
    assert!(err.contains("secondaryNamenode.heapSize (2g) must be smaller than secondaryNamenode.resources.limits.memory (1536Mi)"), "{err}");

    let m = render_hdfs(
        "hdfs",
        "data",
        &["charts/hdfs/examples/poc-single-node.yaml"],
        &["secondaryNamenode.enabled=false"],
    );
    assert!(!m
        .iter()
        .any(|x| x.name.contains("secondarynamenode") || x.name.starts_with("checkpoint-")));
    let site = find(&m, "ConfigMap", "-config").object["data"]["hdfs-site.xml"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(!site.contains("dfs.namenode.checkpoint.dir"), "{site}");
}
