//! The HDFS chart's high availability (issue 12): two namenodes with
//! JournalNodes and ZKFC failover, the bundled ZooKeeper subchart, the
//! refusals that keep HA honest, and the HA scripts run against stubs.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Output};

use common::hdfs::*;
use common::{find, hdfs_notes, of_kind, render_hdfs, try_render_hdfs};
use windlass::render::Manifest;

fn ha() -> Vec<Manifest> {
    render_hdfs("hdfs", "data", &[&example("ha")], &[])
}

fn container<'a>(pod_owner: &'a Manifest, name: &str) -> &'a serde_json::Value {
    pod_owner.object["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no container {name}"))
}

#[test]
fn ha_runs_two_namenodes_with_journalnodes_and_failover_controllers() {
    let m = ha();
    let nn = sts(&m, "namenode");
    assert_eq!(nn.object["spec"]["replicas"], 2);
    // OrderedReady would keep a lost namenode-0 from letting namenode-1 be recreated.
    assert_eq!(nn.object["spec"]["podManagementPolicy"], "Parallel");
    let anti = &nn.object["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
        ["requiredDuringSchedulingIgnoredDuringExecution"][0];
    assert_eq!(anti["topologyKey"], "kubernetes.io/hostname");
    assert_eq!(
        anti["labelSelector"]["matchLabels"]["app.kubernetes.io/component"],
        "namenode"
    );
    let zkfc = container(nn, "zkfc");
    assert_eq!(zkfc["command"][1], "/opt/windlass/scripts/zkfc.sh");
    let scripts = find(&m, "ConfigMap", "-scripts");
    assert!(scripts.object["data"]["zkfc.sh"].is_string());

    let jn = sts(&m, "journalnode");
    assert_eq!(jn.object["spec"]["replicas"], 3);
    assert_eq!(
        jn.object["spec"]["volumeClaimTemplates"][0]["metadata"]["name"],
        "journal"
    );
    assert_eq!(
        jn.object["spec"]["persistentVolumeClaimRetentionPolicy"]["whenDeleted"],
        "Retain"
    );
    let jn_svc = find(&m, "Service", "-journalnode");
    assert_eq!(jn_svc.object["spec"]["clusterIP"], "None");
    assert_eq!(jn_svc.object["spec"]["publishNotReadyAddresses"], true);

    let site = config(&m, "hdfs-site.xml");
    let core = config(&m, "core-site.xml");
    assert_eq!(site["dfs.nameservices"], "hdfs");
    assert_eq!(site["dfs.ha.namenodes.hdfs"], "nn0,nn1");
    for (id, ordinal) in [("nn0", 0), ("nn1", 1)] {
        let host = format!("hdfs-namenode-{ordinal}.hdfs-namenode.data.svc.cluster.local");
        assert_eq!(
            site[&format!("dfs.namenode.rpc-address.hdfs.{id}")],
            format!("{host}:8020")
        );
        assert_eq!(
            site[&format!("dfs.namenode.http-address.hdfs.{id}")],
            format!("{host}:9870")
        );
        assert_eq!(
            site[&format!("dfs.namenode.servicerpc-address.hdfs.{id}")],
            format!("{host}:8022")
        );
    }
    // The single-namenode keys would point clients past the failover.
    assert!(!site.contains_key("dfs.namenode.rpc-address"));
    assert!(!site.contains_key("dfs.namenode.http-address"));
    assert_eq!(
        site["dfs.namenode.shared.edits.dir"],
        "qjournal://hdfs-journalnode-0.hdfs-journalnode.data.svc.cluster.local:8485;hdfs-journalnode-1.hdfs-journalnode.data.svc.cluster.local:8485;hdfs-journalnode-2.hdfs-journalnode.data.svc.cluster.local:8485/hdfs"
    );
    assert_eq!(
        site["dfs.client.failover.proxy.provider.hdfs"],
        "org.apache.hadoop.hdfs.server.namenode.ha.ConfiguredFailoverProxyProvider"
    );
    assert_eq!(site["dfs.ha.automatic-failover.enabled"], "true");
    assert_eq!(site["dfs.ha.fencing.methods"], "shell(/bin/true)");
    assert_eq!(core["fs.defaultFS"], "hdfs://hdfs");

    // The standby checkpoints: no secondary namenode, no client Service
    // that would reach the standby half the time.
    assert!(m.iter().all(|o| !o.name.ends_with("-secondarynamenode")));
    assert!(m.iter().all(|o| !o.name.ends_with("-namenode-client")));
    assert!(!site.contains_key("dfs.namenode.secondary.http-address"));

    // Datanodes wait for either namenode.
    let dn = sts(&m, "datanode");
    let wait = &dn.object["spec"]["template"]["spec"]["initContainers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "wait-for-namenode")
        .unwrap()["command"];
    assert_eq!(
        wait.as_array().unwrap()[3..],
        [
            "hdfs-namenode-0.hdfs-namenode.data.svc.cluster.local:8020",
            "hdfs-namenode-1.hdfs-namenode.data.svc.cluster.local:8020"
        ]
    );

    let notes = hdfs_notes(&[&example("ha")], &[]);
    assert!(notes.contains("fs.defaultFS = hdfs://hdfs"), "{notes}");
    assert!(
        notes.contains("hdfs haadmin -getAllServiceState"),
        "{notes}"
    );
    assert!(!notes.contains("svc/hdfs-namenode-client"), "{notes}");
}

#[test]
fn the_bundled_zookeeper_is_the_quorum_the_failover_controllers_use() {
    let m = ha();
    let zk = find(&m, "StatefulSet", "-zookeeper");
    assert_eq!(zk.object["spec"]["replicas"], 3);
    let headless = find(&m, "Service", "-zookeeper-headless");
    assert_eq!(headless.object["spec"]["publishNotReadyAddresses"], true);
    assert_eq!(zk.object["spec"]["serviceName"], headless.name);
    let expected: Vec<String> = (0..3)
        .map(|i| {
            format!(
                "{}-{i}.{}.data.svc.cluster.local:2181",
                zk.name, headless.name
            )
        })
        .collect();
    assert_eq!(
        config(&m, "core-site.xml")["ha.zookeeper.quorum"],
        expected.join(",")
    );
    let cfg = find(&m, "ConfigMap", "-zookeeper").object["data"]["zoo.cfg"]
        .as_str()
        .unwrap()
        .to_string();
    for i in 0..3 {
        let line = format!(
            "server.{}={}-{i}.{}.data.svc:2888:3888;2181",
            i + 1,
            zk.name,
            headless.name
        );
        assert!(cfg.lines().any(|l| l == line), "{line} not in\n{cfg}");
    }
    assert!(cfg.contains("4lw.commands.whitelist=srvr\n"));
    let pdb = find(&m, "PodDisruptionBudget", "-zookeeper");
    assert_eq!(pdb.object["spec"]["maxUnavailable"], 1);
    assert_eq!(
        zk.object["spec"]["persistentVolumeClaimRetentionPolicy"]["whenDeleted"],
        "Retain"
    );

    // An existing ensemble instead: no ZooKeeper objects, its address used as given.
    let external = render_hdfs(
        "hdfs",
        "data",
        &[&example("ha")],
        &[
            "zookeeper.enabled=false",
            "ha.zookeeper.connect=zk-0.zk:2181\\,zk-1.zk:2181",
        ],
    );
    assert!(external.iter().all(|o| !o.name.contains("zookeeper")));
    assert_eq!(
        config(&external, "core-site.xml")["ha.zookeeper.quorum"],
        "zk-0.zk:2181,zk-1.zk:2181"
    );
    // And without HA nothing of it renders.
    let plain = render_hdfs("hdfs", "data", &[], &[]);
    assert!(
        of_kind(&plain, "StatefulSet").len() == 3,
        "namenode, secondary, datanode"
    );
    assert!(plain.iter().all(|o| !o.name.contains("journalnode")));
    assert!(!config(&plain, "core-site.xml").contains_key("ha.zookeeper.quorum"));
}

#[test]
fn ha_is_refused_where_it_would_protect_nothing_or_fail_over_nowhere() {
    let err = try_render_hdfs("hdfs", "data", &[], &["ha.enabled=true"]).unwrap_err();
    assert!(
        err.contains("/zookeeper/enabled: false is not allowed here: HA failover needs ZooKeeper: set ha.zookeeper.connect"),
        "{err}"
    );
    let err = try_render_hdfs(
        "hdfs",
        "data",
        &[&example("poc-single-node")],
        &["ha.enabled=true", "zookeeper.enabled=true"],
    )
    .unwrap_err();
    assert!(
        err.contains("/persistence/mode: \"poc\" is not allowed here: HA needs namenodes and JournalNodes on several nodes"),
        "{err}"
    );
    let err = try_render_hdfs(
        "hdfs",
        "data",
        &[&example("ha")],
        &[
            "ingress.enabled=true",
            "security.allowUnauthenticatedExternalAccess=true",
        ],
    )
    .unwrap_err();
    assert!(
        err.contains("/ingress/enabled: true is not allowed here: With HA an Ingress would reach the standby namenode"),
        "{err}"
    );
    let err = try_render_hdfs(
        "hdfs",
        "data",
        &[&example("ha")],
        &["ha.journalnode.replicas=2"],
    )
    .unwrap_err();
    assert!(err.contains("/ha/journalnode/replicas"), "{err}");
    let err = try_render_hdfs(
        "hdfs",
        "data",
        &[&example("ha")],
        &["ha.zkfc.heapSize=512m"],
    )
    .unwrap_err();
    assert!(
        err.contains(
            "ha.zkfc.heapSize (512m) must be smaller than ha.zkfc.resources.limits.memory"
        ),
        "{err}"
    );
    let err = try_render_hdfs(
        "hdfs",
        "data",
        &[&example("ha")],
        &["zookeeper.heapSize=2g"],
    )
    .unwrap_err();
    assert!(
        err.contains("zookeeper.heapSize (2g) must be smaller"),
        "{err}"
    );
}

fn ha_script(name: &str) -> String {
    let m = ha();
    find(&m, "ConfigMap", "-scripts").object["data"][name]
        .as_str()
        .unwrap()
        .to_string()
}

/// A scratch directory with a stub `hdfs` that logs its arguments and acts
/// as Hadoop would for format and bootstrapStandby (a refused format, as
/// with JournalNodes that hold edits, when STUB_REFUSE_FORMAT is set).
struct Stub {
    dir: tempfile::TempDir,
}

impl Stub {
    fn new() -> Stub {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("bin")).unwrap();
        common::write_exec(
            &dir.path().join("bin/hdfs"),
            r#"#!/bin/bash
echo "$*" >> "$STUB_LOG"
case "$*" in
  zkfc\ -formatZK*) exit "${STUB_FORMATZK_RC:-0}" ;;
  zkfc) exit 0 ;;
  namenode\ -format*)
    if [ -n "${STUB_REFUSE_FORMAT:-}" ]; then echo "Running in non-interactive mode, and data appears to exist in QJM. Not formatting." >&2; exit 1; fi ;;
esac
mkdir -p "$NAME_DIR/current"
touch "$NAME_DIR/current/fsimage_0000000000000000000"
echo clusterID=CID-x > "$NAME_DIR/current/VERSION"
"#,
        );
        Stub { dir }
    }

    fn calls(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("calls.log")).unwrap_or_default()
    }

    /// Runs a script for at most `seconds` (the HA format loop waits for ever).
    /// Runs the format script as an HA namenode: `pod`'s peer answers (or
    /// not) at `peer`, the JournalNodes at `journalnodes`.
    fn format_ha(
        &self,
        script: &str,
        pod: &str,
        peer: &str,
        journalnodes: &str,
        extra: &[(&str, &str)],
        seconds: u32,
    ) -> Output {
        let mut env = vec![
            ("HA", "true"),
            ("POD_NAME", pod),
            ("PEER_0", peer),
            ("PEER_1", peer),
            ("JOURNALNODES", journalnodes),
        ];
        env.extend_from_slice(extra);
        self.run(script, &env, seconds)
    }

    fn run(&self, script: &str, env: &[(&str, &str)], seconds: u32) -> Output {
        let path = self.dir.path().join("script.sh");
        std::fs::write(&path, script).unwrap();
        let mut cmd = Command::new("timeout");
        cmd.arg(seconds.to_string())
            .arg("bash")
            .arg(&path)
            .env(
                "PATH",
                format!(
                    "{}:{}",
                    self.dir.path().join("bin").display(),
                    std::env::var("PATH").unwrap()
                ),
            )
            .env("STUB_LOG", self.dir.path().join("calls.log"))
            .env("NAME_DIR", self.dir.path().join("name/nn"))
            .env("RETRY_SECONDS", "0.2");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    }
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A port nothing listens on.
fn closed_port() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    format!("127.0.0.1:{}", l.local_addr().unwrap().port())
}

#[test]
fn an_ha_namenode_formats_only_as_namenode_0_with_every_journalnode_up_and_no_peer() {
    let format = ha_script("format-namenode.sh");
    let peer_down = closed_port();
    let jn = TcpListener::bind("127.0.0.1:0").unwrap();
    let jn_up = format!("127.0.0.1:{}", jn.local_addr().unwrap().port());

    // namenode-1 never formats: it waits for namenode-0.
    let stub = Stub::new();
    let out = stub.format_ha(&format, "hdfs-namenode-1", &peer_down, &jn_up, &[], 2);
    assert_eq!(
        out.status.code(),
        Some(124),
        "still waiting: {}",
        text(&out)
    );
    assert!(
        text(&out).contains("waiting for namenode 0"),
        "{}",
        text(&out)
    );
    assert_eq!(stub.calls(), "");

    // namenode-0 waits until every JournalNode answers.
    let stub = Stub::new();
    let out = stub.format_ha(
        &format,
        "hdfs-namenode-0",
        &peer_down,
        &format!("{jn_up} {peer_down}"),
        &[],
        2,
    );
    assert_eq!(out.status.code(), Some(124), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("waiting for JournalNodes: {peer_down}")),
        "{}",
        text(&out)
    );
    assert_eq!(stub.calls(), "");

    // Then it formats, once, never with -force.
    let stub = Stub::new();
    let out = stub.format_ha(&format, "hdfs-namenode-0", &peer_down, &jn_up, &[], 10);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(stub.calls(), "namenode -format -nonInteractive\n");

    // A formatted directory is left alone, HA or not.
    let again = stub.format_ha(&format, "hdfs-namenode-0", &peer_down, &jn_up, &[], 10);
    assert!(again.status.success());
    assert!(text(&again).contains("already formatted"));
    assert_eq!(stub.calls().lines().count(), 1);
}

#[test]
fn an_ha_namenode_that_lost_its_volume_copies_from_its_peer_and_never_formats_over_the_journal() {
    let format = ha_script("format-namenode.sh");
    let jn = TcpListener::bind("127.0.0.1:0").unwrap();
    let jn_up = format!("127.0.0.1:{}", jn.local_addr().unwrap().port());

    // The peer answers: bootstrapStandby, whichever ordinal this is.
    let peer = TcpListener::bind("127.0.0.1:0").unwrap();
    let peer_up = format!("127.0.0.1:{}", peer.local_addr().unwrap().port());
    for pod in ["hdfs-namenode-0", "hdfs-namenode-1"] {
        let stub = Stub::new();
        let out = stub.format_ha(&format, pod, &peer_up, &jn_up, &[], 10);
        assert!(out.status.success(), "{pod}: {}", text(&out));
        assert_eq!(
            stub.calls(),
            "namenode -bootstrapStandby -nonInteractive\n",
            "{pod}"
        );
    }

    // namenode-0 with an empty volume while its peer is down and the
    // JournalNodes hold edits: Hadoop refuses the format; the script keeps
    // waiting for the peer and never forces it.
    let stub = Stub::new();
    let out = stub.format_ha(
        &format,
        "hdfs-namenode-0",
        &closed_port(),
        &jn_up,
        &[("STUB_REFUSE_FORMAT", "1")],
        2,
    );
    assert_eq!(out.status.code(), Some(124), "{}", text(&out));
    assert!(text(&out).contains("waits for"), "{}", text(&out));
    let calls = stub.calls();
    assert!(calls.lines().count() >= 2, "it retried: {calls}");
    assert!(
        calls
            .lines()
            .all(|l| l == "namenode -format -nonInteractive"),
        "{calls}"
    );
    assert!(std::fs::read_dir(stub.dir.path().join("name/nn"))
        .unwrap()
        .next()
        .is_none());
}

#[test]
fn the_failover_controller_creates_its_znode_once_and_never_clears_it() {
    let zkfc = ha_script("zkfc.sh");
    let stub = Stub::new();
    let out = stub.run(&zkfc, &[("STUB_FORMATZK_RC", "0")], 10);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(stub.calls(), "zkfc -formatZK -nonInteractive\nzkfc\n");

    // Exit 2: the znode exists (Hadoop's ERR_CODE_FORMAT_DENIED); it is kept.
    let stub = Stub::new();
    let out = stub.run(&zkfc, &[("STUB_FORMATZK_RC", "2")], 10);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("already exists in ZooKeeper; keeping it"));
    assert_eq!(stub.calls(), "zkfc -formatZK -nonInteractive\nzkfc\n");
    assert!(!stub.calls().contains("-force"));

    // Anything else (ZooKeeper unreachable): fail, naming the quorum key.
    let stub = Stub::new();
    let out = stub.run(&zkfc, &[("STUB_FORMATZK_RC", "6")], 10);
    assert_eq!(out.status.code(), Some(6));
    assert!(text(&out).contains("is ZooKeeper (ha.zookeeper.quorum) reachable?"));
    assert_eq!(stub.calls(), "zkfc -formatZK -nonInteractive\n");
}

fn zk_script(name: &str) -> String {
    let m = ha();
    find(&m, "ConfigMap", "-zookeeper").object["data"][name]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn a_zookeeper_server_takes_its_id_from_its_ordinal_and_never_anothers_data() {
    let start = zk_script("start.sh");
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("bin")).unwrap();
    common::write_exec(
        &dir.path().join("bin/zkServer.sh"),
        "#!/bin/bash\necho \"zkServer.sh $*\"\n",
    );
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let run = |host: &str| {
        Command::new("bash")
            .arg("-c")
            .arg(&start)
            .env(
                "PATH",
                format!(
                    "{}:{}",
                    dir.path().join("bin").display(),
                    std::env::var("PATH").unwrap()
                ),
            )
            .env("HOSTNAME", host)
            .env("ZOO_DATA_DIR", &data)
            .output()
            .unwrap()
    };
    let out = run("hdfs-zookeeper-2");
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(std::fs::read_to_string(data.join("myid")).unwrap(), "3\n");
    assert!(text(&out).contains("zkServer.sh start-foreground"));
    assert!(run("hdfs-zookeeper-2").status.success());
    let other = run("hdfs-zookeeper-0");
    assert_eq!(other.status.code(), Some(1));
    assert!(text(&other).contains("says server 3, but this pod is server 1"));
    assert_eq!(std::fs::read_to_string(data.join("myid")).unwrap(), "3\n");
}

/// Answers one four-letter-word request with `reply`; returns the port.
fn four_letter_server(reply: &'static str) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        if let Ok((mut s, _)) = listener.accept() {
            let mut word = [0u8; 4];
            if s.read_exact(&mut word).is_ok() && &word == b"srvr" {
                let _ = s.write_all(reply.as_bytes());
            }
        }
    });
    port
}

#[test]
fn a_zookeeper_server_is_ready_only_while_it_serves() {
    let ready = zk_script("ready.sh");
    let probe = |port: u16| {
        Command::new("bash")
            .arg("-c")
            .arg(&ready)
            .arg("ready.sh")
            .arg(port.to_string())
            .output()
            .unwrap()
    };
    for mode in ["leader", "follower", "standalone"] {
        let reply: &'static str = Box::leak(
            format!("Zookeeper version: 3.9.3\nLatency min/avg/max: 0/0.0/0\nMode: {mode}\nNode count: 5\n").into_boxed_str(),
        );
        assert!(probe(four_letter_server(reply)).status.success(), "{mode}");
    }
    let out = probe(four_letter_server(
        "This ZooKeeper instance is not currently serving requests\n",
    ));
    assert!(!out.status.success());
    assert!(
        !probe(closed_port().rsplit(':').next().unwrap().parse().unwrap())
            .status
            .success()
    );
}

/// An upgrade cannot turn HA on or off for a running filesystem (the
/// namenode StatefulSet's podManagementPolicy is immutable, and the
/// JournalNodes would need the existing edits): the chart looks up the
/// running namenode StatefulSet and refuses, naming the README section.
#[test]
fn switching_a_running_release_between_one_namenode_and_ha_is_refused() {
    use windlass::render::lookup::LookupKey;
    let chart = windlass::chart::load(&common::root().join("charts/hdfs")).unwrap();
    let render = |ha: bool, live_policy: Option<&str>| {
        let user = windlass::values::UserValues::from_value(
            serde_json::json!({"ha": {"enabled": ha}, "zookeeper": {"enabled": ha}}),
            "--set ha.enabled",
        );
        let resolved = windlass::values::resolve(&chart, &user).unwrap();
        let mut opts = windlass::render::RenderOptions::offline("hdfs", "data");
        let key = LookupKey {
            api_version: "apps/v1".into(),
            kind: "StatefulSet".into(),
            namespace: "data".into(),
            name: "hdfs-namenode".into(),
        };
        opts.lookups = Some(
            live_policy
                .map(|p| {
                    (
                        key,
                        serde_json::json!({"metadata": {"name": "hdfs-namenode"}, "spec": {"podManagementPolicy": p}}),
                    )
                })
                .into_iter()
                .collect(),
        );
        windlass::render::render(&chart, &resolved, &opts).map_err(|e| e.to_string())
    };
    assert!(render(true, None).is_ok(), "a first install");
    assert!(render(true, Some("Parallel")).is_ok(), "an HA upgrade");
    assert!(
        render(false, Some("OrderedReady")).is_ok(),
        "a single-namenode upgrade"
    );
    let on = render(true, Some("OrderedReady")).unwrap_err();
    assert!(
        on.contains("ha.enabled=true: the running namenode StatefulSet hdfs-namenode was installed with one namenode; an upgrade cannot switch"),
        "{on}"
    );
    assert!(on.contains("\"Switching to HA\""), "{on}");
    let off = render(false, Some("Parallel")).unwrap_err();
    assert!(off.contains("ha.enabled=false: the running namenode StatefulSet hdfs-namenode was installed with HA"), "{off}");
}
