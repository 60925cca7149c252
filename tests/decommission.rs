//! The HDFS chart's safe scale-down (issue 12 item 6): its decommission hook
//! script, as rendered, run with a stub `hdfs` against the test API server
//! (its Python Kubernetes client speaks TLS to it with a service-account
//! token, CA and namespace, as in a Pod). The stub plays the namenode: it
//! reads the exclude list from the ConfigMap on `-refreshNodes` and reports
//! excluded datanodes Decommissioned.

mod common;
mod support;

use std::path::PathBuf;
use std::process::Command;

use common::{find, render_hdfs};
use serde_json::json;
use support::apiserver::{TestApiServer, TOKEN};
use support::release::ctx;

const NS: &str = "data";
const SUFFIX: &str = ".hdfs-datanode.data.svc.cluster.local";

fn host(i: usize) -> String {
    format!("hdfs-datanode-{i}{SUFFIX}")
}

/// The rendered hook script and its environment, for `replicas` datanodes.
fn hook(replicas: usize) -> (String, Vec<(String, String)>) {
    let m = render_hdfs(
        "hdfs",
        NS,
        &[],
        &[
            &format!("datanode.replicas={replicas}"),
            "hdfs.replication=3",
        ],
    );
    let job = find(&m, "Job", "-decommission");
    // Offline the running count is unknown: only rollbacks run it.
    assert_eq!(
        job.object["metadata"]["annotations"]["helm.sh/hook"],
        "pre-rollback"
    );
    let c = &job.object["spec"]["template"]["spec"]["containers"][0];
    let env = c["env"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| {
            Some((
                e["name"].as_str()?.to_string(),
                e["value"].as_str()?.to_string(),
            ))
        })
        .collect();
    (c["command"][2].as_str().unwrap().to_string(), env)
}

struct Setup {
    server: TestApiServer,
    dir: tempfile::TempDir,
}

impl Setup {
    async fn new() -> Setup {
        let server = TestApiServer::start().await;
        let c = ctx(&server, NS, 0).await;
        c.cluster
            .create(&json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}))
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("sa")).unwrap();
        std::fs::write(d.join("sa/token"), TOKEN).unwrap();
        std::fs::write(d.join("sa/namespace"), NS).unwrap();
        std::fs::write(d.join("sa/ca.crt"), &server.ca_pem).unwrap();
        std::fs::create_dir_all(d.join("bin")).unwrap();
        // The namenode: knows $KNOWN datanodes ($LIVE of them live), reads
        // the exclude list on -refreshNodes, reports what it excluded as
        // Decommissioned; every file has replication $MAXREP.
        common::write_exec(
            &d.join("bin/hdfs"),
            r#"#!/bin/bash
echo "hdfs $*" >> "$CALLS"
case "$*" in
  "dfsadmin -refreshNodes") $PYTHON "$KUBE_PY" read "$EXCLUDE_CM" dfs.exclude > "$SEEN" ;;
  "dfsadmin -report -live") for h in $LIVE; do echo "Hostname: $h"; done ;;
  "dfsadmin -report")
    echo "Under replicated blocks: 0"
    for h in $KNOWN; do
      echo "Hostname: $h"
      if grep -qx "$h" "$SEEN" 2>/dev/null; then echo "Decommission Status : Decommissioned";
      else echo "Decommission Status : Normal"; fi
    done ;;
  "fsck / -files") echo "/f 10 bytes, replicated: replication=$MAXREP, 1 block(s):  OK" ;;
esac
"#,
        );
        common::write_exec(&d.join("bin/sleep"), "#!/bin/sh\nexit 0\n");
        Setup { server, dir }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    async fn datanodes(&self, replicas: i64) {
        let c = ctx(&self.server, NS, 0).await;
        let sts = json!({"apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": "hdfs-datanode", "namespace": NS},
            "spec": {"replicas": replicas, "serviceName": "hdfs-datanode",
                "selector": {"matchLabels": {"app": "dn"}},
                "template": {"metadata": {"labels": {"app": "dn"}},
                    "spec": {"containers": [{"name": "dn", "image": "apache/hadoop:3.4.1"}]}}}});
        c.cluster
            .apply(&sts, windlass::cluster::ApplyOptions::default())
            .await
            .unwrap();
    }

    fn exclude_list(&self) -> Option<String> {
        self.server
            .object("", "configmaps", NS, "hdfs-exclude")
            .map(|cm| cm["data"]["dfs.exclude"].as_str().unwrap_or("").to_string())
    }

    /// Runs the hook for `replicas` with `live` live datanodes of `known`.
    async fn run(&self, replicas: usize, known: usize, live: usize, maxrep: u32) -> (bool, String) {
        let (script, env) = hook(replicas);
        let hosts = |n: usize| (0..n).map(host).collect::<Vec<_>>().join(" ");
        let mut cmd = Command::new("bash");
        cmd.arg("-c").arg(&script).envs(env);
        cmd.env(
            "PATH",
            format!(
                "{}:{}",
                self.path("bin").display(),
                std::env::var("PATH").unwrap()
            ),
        )
        .env("KUBE_API", &self.server.url)
        .env("SA_DIR", self.path("sa"))
        .env("KUBE_PY", self.path("kube.py"))
        .env("PYTHON", "python3")
        .env("CALLS", self.path("calls"))
        .env("SEEN", self.path("seen"))
        .env("KNOWN", hosts(known))
        .env("LIVE", hosts(live))
        .env("MAXREP", maxrep.to_string())
        .env("TMPDIR", self.dir.path());
        // The in-process server answers on this runtime's other worker.
        let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
            .await
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_down_decommissions_first_and_refuses_when_replication_cannot_be_kept() {
    let s = Setup::new().await;
    s.datanodes(5).await;

    // 5 -> 2 with files at replication 3: refused at once, nothing written.
    let (ok, out) = s.run(2, 5, 5, 3).await;
    assert!(!ok, "{out}");
    assert!(
        out.contains("refusing to scale datanodes from 5 to 2: 2 live datanode(s) would remain, fewer than the largest replication factor in use (3)"),
        "{out}"
    );
    assert_eq!(s.exclude_list(), None, "nothing was written");

    // 5 -> 3: datanodes 3 and 4 go on the list, the namenode reads it,
    // and the hook waits until both are Decommissioned.
    let (ok, out) = s.run(3, 5, 5, 3).await;
    assert!(ok, "{out}");
    assert_eq!(
        s.exclude_list().as_deref(),
        Some(format!("{}\n{}", host(3), host(4)).as_str())
    );
    assert!(
        out.contains(&format!("decommissioned: {} {}", host(3), host(4))),
        "{out}"
    );
    let calls = std::fs::read_to_string(s.path("calls")).unwrap();
    assert!(calls.contains("hdfs dfsadmin -refreshNodes"), "{calls}");
    let cm = s
        .server
        .object("", "configmaps", NS, "hdfs-exclude")
        .unwrap();
    assert_eq!(
        cm["metadata"]["labels"]["app.kubernetes.io/component"],
        "decommission"
    );

    // Three datanodes holding files at replication 3 can never lose one.
    s.datanodes(3).await;
    let (ok, out) = s.run(2, 3, 3, 3).await;
    assert!(!ok, "{out}");
    assert!(
        out.contains("from 3 to 2: 2 live datanode(s) would remain"),
        "{out}"
    );
    // With those files at replication 2 it may.
    let (ok, out) = s.run(2, 3, 3, 2).await;
    assert!(ok, "{out}");
    s.datanodes(2).await;

    // Back to 5: the returning datanodes come off the list, and the hook
    // waits until the namenode no longer excludes them.
    let (ok, out) = s.run(5, 5, 2, 3).await;
    assert!(ok, "{out}");
    assert_eq!(s.exclude_list().as_deref(), Some(""));
    assert!(
        out.contains("taking returning datanodes off the exclude list"),
        "{out}"
    );
    assert!(out.contains("the namenode has taken them off"), "{out}");

    // Same count again: nothing to do, nothing written.
    let writes = s.server.requests().iter().filter(|r| r.is_write()).count();
    s.datanodes(5).await;
    let after_apply = s.server.requests().iter().filter(|r| r.is_write()).count();
    let (ok, out) = s.run(5, 5, 5, 3).await;
    assert!(ok, "{out}");
    assert!(out.contains("nothing to decommission"), "{out}");
    assert_eq!(
        s.server.requests().iter().filter(|r| r.is_write()).count(),
        after_apply,
        "the hook wrote nothing ({writes} writes before the apply)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_exclude_list_goes_with_the_namenode_statefulset() {
    let s = Setup::new().await;
    s.datanodes(5).await;
    let c = ctx(&s.server, NS, 0).await;
    let nn = c
        .cluster
        .apply(
            &json!({"apiVersion": "apps/v1", "kind": "StatefulSet",
                "metadata": {"name": "hdfs-namenode", "namespace": NS},
                "spec": {"replicas": 1, "serviceName": "hdfs-namenode",
                    "selector": {"matchLabels": {"app": "nn"}},
                    "template": {"metadata": {"labels": {"app": "nn"}},
                        "spec": {"containers": [{"name": "nn", "image": "apache/hadoop:3.4.1"}]}}}}),
            windlass::cluster::ApplyOptions::default(),
        )
        .await
        .unwrap();
    let (ok, out) = s.run(4, 5, 5, 3).await;
    assert!(ok, "{out}");
    let cm = s
        .server
        .object("", "configmaps", NS, "hdfs-exclude")
        .unwrap();
    assert_eq!(
        cm["metadata"]["ownerReferences"][0]["uid"], nn["metadata"]["uid"],
        "{cm}"
    );
    // Uninstall deletes the namenode StatefulSet; the garbage collector
    // then removes the list, so a later installation excludes nobody.
    c.cluster
        .delete("apps/v1", "StatefulSet", Some(NS), "hdfs-namenode")
        .await
        .unwrap();
    s.server.settle();
    assert_eq!(s.exclude_list(), None);
}

#[test]
fn the_namenode_reads_the_exclude_list_the_hook_writes() {
    let m = render_hdfs("hdfs", NS, &[], &[]);
    let cm = find(&m, "ConfigMap", "-config");
    let site = cm.object["data"]["hdfs-site.xml"].as_str().unwrap();
    assert!(
        site.contains(
            "<name>dfs.hosts.exclude</name><value>/etc/hadoop/exclude/dfs.exclude</value>"
        ),
        "{site}"
    );
    let nn = find(&m, "StatefulSet", "-namenode");
    let spec = &nn.object["spec"]["template"]["spec"];
    let vol = spec["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "exclude")
        .expect("exclude volume");
    assert_eq!(vol["configMap"]["name"], "hdfs-exclude");
    assert_eq!(vol["configMap"]["optional"], true);
    let mount = spec["containers"][0]["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "exclude")
        .expect("exclude mount");
    assert!(
        mount.get("subPath").is_none(),
        "a subPath mount never updates"
    );
    assert_eq!(mount["mountPath"], "/etc/hadoop/exclude");

    // Off: no hook, no exclude list.
    let m = render_hdfs("hdfs", NS, &[], &["datanode.decommission.enabled=false"]);
    assert!(!m.iter().any(|x| x.name.ends_with("-decommission")));
    let site = find(&m, "ConfigMap", "-config").object["data"]["hdfs-site.xml"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(!site.contains("/etc/hadoop/exclude"), "{site}");
}

/// `upgrade` and `diff upgrade` say which datanodes will be decommissioned:
/// the chart looks up the running StatefulSet and warns when it shrinks.
#[test]
fn a_shrinking_render_names_the_datanodes_that_will_be_decommissioned() {
    use windlass::render::lookup::LookupKey;
    let chart = windlass::chart::load(&common::root().join("charts/hdfs")).unwrap();
    let user = windlass::values::UserValues::from_value(
        json!({"datanode": {"replicas": 3}}),
        "--set datanode.replicas=3",
    );
    let resolved = windlass::values::resolve(&chart, &user).unwrap();
    let mut opts = windlass::render::RenderOptions::offline("hdfs", NS);
    let key = LookupKey {
        api_version: "apps/v1".into(),
        kind: "StatefulSet".into(),
        namespace: NS.into(),
        name: "hdfs-datanode".into(),
    };
    let warnings = |opts: &windlass::render::RenderOptions| {
        windlass::render::render(&chart, &resolved, opts)
            .unwrap()
            .warnings
    };
    // When upgrades run the hook: only when the count changes (rollbacks
    // always run it: a recorded revision cannot know the count it meets).
    let events = |opts: &windlass::render::RenderOptions| {
        let r = windlass::render::render(&chart, &resolved, opts).unwrap();
        let job = r
            .manifests
            .iter()
            .find(|m| m.kind == "Job" && m.name.ends_with("-decommission"))
            .unwrap();
        job.object["metadata"]["annotations"]["helm.sh/hook"]
            .as_str()
            .unwrap()
            .to_string()
    };
    // Offline, and before the live object is known: no warning (and the
    // lookup is asked for).
    assert!(warnings(&opts).is_empty());
    opts.lookups = Some(Default::default());
    let r = windlass::render::render(&chart, &resolved, &opts).unwrap();
    // The namenode StatefulSet is looked up too (HA cannot be switched by
    // an upgrade: tests/hdfs_ha.rs).
    let namenode = LookupKey {
        name: "hdfs-namenode".into(),
        ..key.clone()
    };
    assert_eq!(r.lookups_wanted, vec![key.clone(), namenode]);
    let live = |n: i64| {
        Some(
            [(key.clone(), json!({"spec": {"replicas": n}}))]
                .into_iter()
                .collect(),
        )
    };
    opts.lookups = live(5);
    assert_eq!(events(&opts), "pre-upgrade,pre-rollback");
    let w = warnings(&opts);
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].starts_with("datanodes hdfs-datanode-3 to hdfs-datanode-4 will be decommissioned by the decommission hook before the StatefulSet shrinks from 5 to 3 replicas"),
        "{w:?}"
    );
    opts.lookups = live(3);
    assert!(warnings(&opts).is_empty(), "same count");
    assert_eq!(events(&opts), "pre-rollback", "same count: no Job");
    opts.lookups = live(2);
    assert!(warnings(&opts).is_empty(), "growing");
    assert_eq!(
        events(&opts),
        "pre-upgrade,pre-rollback",
        "growing takes returning datanodes off the list"
    );
}
