//! The HDFS chart's operational options (issue 12): Prometheus metrics and
//! the ServiceMonitor, rack awareness (its topology script runs against the
//! test API server as the namenode would run it), the balancer CronJob, the
//! reserved space per volume, and which pods get a service account token.

mod common;
mod support;

use std::process::Command;

use common::hdfs::*;
use common::{find, of_kind, render_hdfs, try_render_hdfs};
use serde_json::json;
use support::apiserver::{TestApiServer, TOKEN};
use support::release::ctx;

#[test]
fn metrics_are_served_at_prom_and_scraped_through_the_headless_services() {
    let m = render_hdfs("hdfs", "data", &[], &[]);
    assert_eq!(
        config(&m, "core-site.xml")["hadoop.prometheus.endpoint.enabled"],
        "true"
    );
    assert!(of_kind(&m, "ServiceMonitor").is_empty(), "off by default");
    let off = render_hdfs("hdfs", "data", &[], &["metrics.enabled=false"]);
    assert!(!config(&off, "core-site.xml").contains_key("hadoop.prometheus.endpoint.enabled"));

    let m = render_hdfs("hdfs", "data", &[&example("everything-on")], &[]);
    let sm = find(&m, "ServiceMonitor", "hdfs");
    assert_eq!(sm.object["metadata"]["labels"]["release"], "prometheus");
    assert_eq!(sm.object["spec"]["endpoints"][0]["port"], "http");
    assert_eq!(sm.object["spec"]["endpoints"][0]["path"], "/prom");
    assert_eq!(sm.object["spec"]["endpoints"][0]["interval"], "1m");
    assert_eq!(sm.object["spec"]["jobLabel"], "app.kubernetes.io/component");
    // Exactly the headless Services of the daemons match, each with an
    // `http` port: never the client Service (a second copy of a namenode).
    let selector = sm.object["spec"]["selector"]["matchLabels"]
        .as_object()
        .unwrap();
    let scraped: Vec<&str> = of_kind(&m, "Service")
        .into_iter()
        .filter(|s| {
            selector
                .iter()
                .all(|(k, v)| &s.object["metadata"]["labels"][k] == v)
        })
        .map(|s| {
            assert!(
                s.object["spec"]["ports"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|p| p["name"] == "http"),
                "{} has no http port",
                s.name
            );
            assert_eq!(s.object["spec"]["clusterIP"], "None", "{}", s.name);
            s.name.as_str()
        })
        .collect();
    assert_eq!(
        scraped,
        ["hdfs-datanode", "hdfs-journalnode", "hdfs-namenode"]
    );
    let plain = render_hdfs(
        "hdfs",
        "data",
        &[],
        &["metrics.serviceMonitor.enabled=true"],
    );
    let labelled: Vec<&str> = of_kind(&plain, "Service")
        .into_iter()
        .filter(|s| s.object["metadata"]["labels"]["hdfs.windlass.io/metrics"] == "true")
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(
        labelled,
        ["hdfs-datanode", "hdfs-namenode", "hdfs-secondarynamenode"]
    );

    // A ServiceMonitor without the endpoint would scrape nothing.
    let err = try_render_hdfs(
        "hdfs",
        "data",
        &[],
        &[
            "metrics.enabled=false",
            "metrics.serviceMonitor.enabled=true",
        ],
    )
    .unwrap_err();
    assert!(
        err.contains("/metrics/enabled: false is not allowed here: a ServiceMonitor scrapes /prom"),
        "{err}"
    );

    // Prometheus reaches the web ports through metricsFrom.
    let np = find(&m, "NetworkPolicy", "-journalnode");
    let rule = &np.object["spec"]["ingress"][1];
    assert_eq!(rule["ports"][0]["port"], 8480);
    assert_eq!(
        rule["from"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"],
        "monitoring"
    );
}

#[test]
fn only_the_namenode_gets_a_token_and_only_for_rack_awareness() {
    let token = |m: &[windlass::render::Manifest], component: &str| {
        let spec = &sts(m, component).object["spec"]["template"]["spec"];
        (
            spec["automountServiceAccountToken"].as_bool(),
            spec["serviceAccountName"].as_str().map(str::to_string),
        )
    };
    let m = render_hdfs("hdfs", "data", &[], &[]);
    for c in ["namenode", "datanode", "secondarynamenode"] {
        assert_eq!(token(&m, c), (Some(false), None), "{c}");
    }
    let m = render_hdfs("hdfs", "data", &[&example("everything-on")], &[]);
    assert_eq!(
        token(&m, "namenode"),
        (Some(true), Some("hdfs-namenode".to_string()))
    );
    assert_eq!(token(&m, "journalnode"), (Some(false), None));
    let cron = find(&m, "CronJob", "-balancer");
    assert_eq!(
        cron.object["spec"]["jobTemplate"]["spec"]["template"]["spec"]
            ["automountServiceAccountToken"],
        false
    );
}

#[test]
fn rack_awareness_maps_datanodes_to_zones_and_spreads_them() {
    let m = render_hdfs("hdfs", "data", &[&example("everything-on")], &[]);
    assert_eq!(
        config(&m, "core-site.xml")["net.topology.script.file.name"],
        "/opt/windlass/scripts/topology.py"
    );
    let dn = &sts(&m, "datanode").object["spec"]["template"]["spec"];
    let spread = &dn["topologySpreadConstraints"][0];
    assert_eq!(spread["topologyKey"], "topology.kubernetes.io/zone");
    assert_eq!(spread["whenUnsatisfiable"], "ScheduleAnyway");
    assert_eq!(
        spread["labelSelector"]["matchLabels"]["app.kubernetes.io/component"],
        "datanode"
    );
    let role = find(&m, "Role", "-topology");
    assert_eq!(role.object["rules"][0]["resources"], json!(["pods"]));
    assert_eq!(role.object["rules"][0]["verbs"], json!(["list"]));
    let cluster_role = find(&m, "ClusterRole", "hdfs-topology:data:hdfs");
    assert_eq!(
        cluster_role.object["rules"][0]["resources"],
        json!(["nodes"])
    );
    assert_eq!(cluster_role.object["rules"][0]["verbs"], json!(["get"]));
    // Namespace and base name split by ':': `a-b` + `c` and `a` + `b-c`
    // never share a ClusterRole.
    let a = render_hdfs("c", "a-b", &[], &["rackAwareness.enabled=true"]);
    let b = render_hdfs("b-c", "a", &[], &["rackAwareness.enabled=true"]);
    let name = |m: &[windlass::render::Manifest]| find(m, "ClusterRole", "").name.clone();
    assert_ne!(name(&a), name(&b));
    let plain = render_hdfs("hdfs", "data", &[], &[]);
    assert!(of_kind(&plain, "ClusterRole").is_empty());
    assert!(!config(&plain, "core-site.xml").contains_key("net.topology.script.file.name"));
}

/// The topology script, as rendered, run the way the namenode runs it
/// (ScriptBasedMapping passes IP addresses and reads one rack per address)
/// against the test API server with a service-account token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_topology_script_answers_one_rack_per_address_from_the_node_labels() {
    let m = render_hdfs("hdfs", "data", &[&example("everything-on")], &[]);
    let script = find(&m, "ConfigMap", "-scripts").object["data"]["topology.py"]
        .as_str()
        .unwrap()
        .to_string();
    let nn = sts(&m, "namenode");
    let env: Vec<(String, String)> = nn.object["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["name"] == "TOPOLOGY_KEY" || e["name"] == "DATANODE_SELECTOR")
        .map(|e| {
            (
                e["name"].as_str().unwrap().into(),
                e["value"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(env.len(), 2);

    let server = TestApiServer::start().await;
    let c = ctx(&server, "data", 0).await;
    c.cluster
        .create(&json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "data"}}))
        .await
        .unwrap();
    for (node, zone) in [
        ("node-a", Some("zone-a")),
        ("node-b", Some("zone-b")),
        ("node-c", None),
    ] {
        let mut labels = json!({"kubernetes.io/hostname": node});
        if let Some(z) = zone {
            labels["topology.kubernetes.io/zone"] = json!(z);
        }
        c.cluster
            .create(&json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": node, "labels": labels}}))
            .await
            .unwrap();
    }
    let labels = |component: &str| json!({"app.kubernetes.io/name": "hdfs", "app.kubernetes.io/instance": "hdfs", "app.kubernetes.io/component": component});
    for (pod, component, node, ip) in [
        ("hdfs-datanode-0", "datanode", "node-a", "10.0.0.10"),
        ("hdfs-datanode-1", "datanode", "node-b", "10.0.0.11"),
        ("hdfs-datanode-2", "datanode", "node-c", "10.0.0.12"),
        ("hdfs-namenode-0", "namenode", "node-a", "10.0.0.20"),
    ] {
        c.cluster
            .create(&json!({"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": pod, "namespace": "data", "labels": labels(component)},
                "spec": {"nodeName": node, "containers": [{"name": "c", "image": "apache/hadoop:3.4.1"}]}}))
            .await
            .unwrap();
        assert!(server.set_status(
            "",
            "pods",
            "data",
            pod,
            json!({"podIP": ip, "phase": "Running"})
        ));
    }

    let dir = tempfile::tempdir().unwrap();
    let sa = dir.path().join("sa");
    std::fs::create_dir(&sa).unwrap();
    std::fs::write(sa.join("token"), TOKEN).unwrap();
    std::fs::write(sa.join("namespace"), "data").unwrap();
    std::fs::write(sa.join("ca.crt"), &server.ca_pem).unwrap();
    let path = dir.path().join("topology.py");
    std::fs::write(&path, &script).unwrap();
    let run = move |api: String, args: &[&str]| {
        let mut cmd = Command::new("python3");
        cmd.arg(&path).args(args).envs(env.clone());
        cmd.env("KUBE_API", api).env("SA_DIR", &sa);
        cmd
    };
    let mut cmd = run(
        server.url.clone(),
        &[
            "10.0.0.11",
            "10.0.0.10",
            "10.0.0.12",
            "10.0.0.20",
            "192.168.1.5",
            "10.0.0.10",
        ],
    );
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // In order; a node without the label, a pod that is no datanode and a
    // client outside the cluster are all /default-rack.
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "/zone-b /zone-a /default-rack /default-rack /default-rack /zone-a\n"
    );
    // One list of pods and one GET per node that holds an asked datanode.
    let reads: Vec<String> = server
        .requests()
        .iter()
        .filter(|r| r.method == "GET")
        .filter(|r| {
            r.path.starts_with("/api/v1/nodes/")
                || r.path.starts_with("/api/v1/namespaces/data/pods")
        })
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(
        reads,
        [
            "GET /api/v1/namespaces/data/pods",
            "GET /api/v1/nodes/node-a",
            "GET /api/v1/nodes/node-b",
            "GET /api/v1/nodes/node-c"
        ]
    );

    // The API unreachable: exit 1, so Hadoop falls back for this call
    // without caching a wrong rack.
    let mut cmd = run("https://127.0.0.1:1".into(), &["10.0.0.10"]);
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("topology script: cannot read the Kubernetes API"));
    assert!(out.stdout.is_empty());
}

#[test]
fn the_balancer_runs_on_a_schedule_one_at_a_time() {
    let m = render_hdfs("hdfs", "data", &[&example("everything-on")], &[]);
    let cron = find(&m, "CronJob", "-balancer");
    assert_eq!(cron.object["spec"]["schedule"], "30 3 * * 0");
    assert_eq!(cron.object["spec"]["concurrencyPolicy"], "Forbid");
    let job = &cron.object["spec"]["jobTemplate"]["spec"];
    assert_eq!(job["activeDeadlineSeconds"], 21600);
    assert_eq!(job["backoffLimit"], 0);
    assert_eq!(
        job["template"]["spec"]["containers"][0]["command"],
        json!(["hdfs", "balancer", "-threshold", "5"])
    );
    assert!(of_kind(&render_hdfs("hdfs", "data", &[], &[]), "CronJob").is_empty());
}

#[test]
fn every_data_volume_keeps_reserved_space() {
    let site = config(&render_hdfs("hdfs", "data", &[], &[]), "hdfs-site.xml");
    assert_eq!(
        site["dfs.datanode.du.reserved.calculator"],
        "org.apache.hadoop.hdfs.server.datanode.fsdataset.impl.ReservedSpaceCalculator$ReservedSpaceCalculatorPercentage"
    );
    assert_eq!(site["dfs.datanode.du.reserved.pct"], "5");
    let site = config(
        &render_hdfs("hdfs", "data", &[], &["datanode.reservedPercent=0"]),
        "hdfs-site.xml",
    );
    assert_eq!(site["dfs.datanode.du.reserved.pct"], "0");
    let err = try_render_hdfs("hdfs", "data", &[], &["datanode.reservedPercent=80"]).unwrap_err();
    assert!(err.contains("/datanode/reservedPercent"), "{err}");
}

/// A second metadata directory (issue 12 item 1): its own claim, listed in
/// dfs.namenode.name.dir, mounted wherever the format script looks, with a
/// poc PV pinned like the others; and the format script treats the
/// directories as one namespace.
#[test]
fn a_second_name_dir_keeps_another_copy_of_the_metadata() {
    let m = render_hdfs(
        "hdfs",
        "data",
        &[&example("poc-single-node")],
        &["namenode.persistence.extraNameDir.enabled=true"],
    );
    assert_eq!(
        config(&m, "hdfs-site.xml")["dfs.namenode.name.dir"],
        "file:///hadoop/dfs/name/nn,file:///hadoop/dfs/name2/nn"
    );
    let nn = sts(&m, "namenode");
    let claims: Vec<&str> = nn.object["spec"]["volumeClaimTemplates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(claims, ["name", "name2"]);
    let spec = &nn.object["spec"]["template"]["spec"];
    for c in spec["initContainers"]
        .as_array()
        .unwrap()
        .iter()
        .chain(spec["containers"].as_array().unwrap())
    {
        if c["name"] == "zkfc" {
            continue;
        }
        assert!(
            c["volumeMounts"]
                .as_array()
                .unwrap()
                .iter()
                .any(|v| v["name"] == "name2" && v["mountPath"] == "/hadoop/dfs/name2"),
            "{} mounts name2",
            c["name"]
        );
    }
    let pv = m
        .iter()
        .find(|x| x.kind == "PersistentVolume" && x.name.starts_with("name2-"))
        .expect("a poc PV for the second name claim");
    assert_eq!(
        pv.object["spec"]["claimRef"]["name"],
        "name2-hdfs-namenode-0"
    );
    assert_eq!(
        pv.object["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"][0]["matchExpressions"]
            [0]["values"][0],
        "minikube"
    );
    let dynamic = render_hdfs(
        "hdfs",
        "data",
        &[],
        &[
            "namenode.persistence.extraNameDir.enabled=true",
            "namenode.persistence.extraNameDir.storageClassName=other-disks",
        ],
    );
    assert_eq!(
        sts(&dynamic, "namenode").object["spec"]["volumeClaimTemplates"][1]["spec"]
            ["storageClassName"],
        "other-disks"
    );

    // The format script: any formatted directory means the namespace
    // exists (Hadoop refills an empty one), a stray one is refused.
    let script = find(&m, "ConfigMap", "-scripts").object["data"]["format-namenode.sh"]
        .as_str()
        .unwrap()
        .to_string();
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    common::write_exec(
        &bin.join("hdfs"),
        "#!/bin/bash\necho \"$*\" >> \"$STUB_LOG\"\n",
    );
    let log = dir.path().join("calls");
    let run = |first: &str, second: &str| {
        Command::new("bash")
            .arg("-c")
            .arg(&script)
            .env(
                "PATH",
                format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()),
            )
            .env("NAME_DIR", dir.path().join(first))
            .env("EXTRA_NAME_DIRS", dir.path().join(second))
            .env("STUB_LOG", &log)
            .output()
            .unwrap()
    };
    let calls = || std::fs::read_to_string(&log).unwrap_or_default();
    // The second copy survived, the first volume is new: no format.
    std::fs::create_dir_all(dir.path().join("b/current")).unwrap();
    std::fs::write(dir.path().join("b/current/VERSION"), "clusterID=CID-1\n").unwrap();
    std::fs::write(dir.path().join("b/current/fsimage_0000000000000000042"), "").unwrap();
    let out = run("a", "b");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("already formatted"));
    assert_eq!(calls(), "");
    // A stray second directory is refused before anything is formatted.
    std::fs::create_dir_all(dir.path().join("stray")).unwrap();
    std::fs::write(dir.path().join("stray/leftover"), "x").unwrap();
    let out = run("c", "stray");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(calls(), "");
    // Both empty: one format (Hadoop formats every listed directory).
    let out = run("d", "e");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(calls(), "namenode -format -nonInteractive\n");
    assert!(dir.path().join("d").is_dir() && dir.path().join("e").is_dir());
}

/// Datanode heartbeats do not queue behind client RPCs (issue 12 item 10):
/// a service RPC and a lifeline address on the namenode's stable hostname,
/// with their ports on the pod and the headless Service.
#[test]
fn datanode_heartbeats_have_their_own_rpc_queue() {
    let m = render_hdfs("hdfs", "data", &[], &[]);
    let site = find(&m, "ConfigMap", "-config").object["data"]["hdfs-site.xml"]
        .as_str()
        .unwrap()
        .to_string();
    let fqdn = "hdfs-namenode-0.hdfs-namenode.data.svc.cluster.local";
    for key in [
        format!("<name>dfs.namenode.servicerpc-address</name><value>{fqdn}:8022</value>"),
        format!("<name>dfs.namenode.lifeline.rpc-address</name><value>{fqdn}:8050</value>"),
    ] {
        assert!(site.contains(&key), "{key} missing:\n{site}");
    }
    let nn = find(&m, "StatefulSet", "-namenode");
    let ports: Vec<&str> = nn.object["spec"]["template"]["spec"]["containers"][0]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert_eq!(ports, ["rpc", "http", "servicerpc", "lifeline"]);
}
