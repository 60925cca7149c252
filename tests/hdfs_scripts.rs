//! The HDFS chart's scripts, run against stubs: namenode format, datanode
//! wait and readiness, namenode liveness, the chart test.

mod common;

use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;

use common::{find, render_hdfs};

fn script(name: &str) -> String {
    let m = render_hdfs("hdfs", "data", &[], &[]);
    find(&m, "ConfigMap", "-scripts").object["data"][name]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn format_script_formats_once_and_never_over_existing_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let bin = d.join("bin");
    std::fs::create_dir(&bin).unwrap();
    // A stub `hdfs` that records its arguments and lays out what a real
    // format leaves behind.
    common::write_exec(
        &bin.join("hdfs"),
        "#!/bin/bash\necho \"$*\" >> \"$STUB_LOG\"\nmkdir -p \"$NAME_DIR/current\"\ntouch \"$NAME_DIR/current/fsimage_0000000000000000000\"\necho clusterID=$5 > \"$NAME_DIR/current/VERSION\"\n",
    );
    let format = d.join("format-namenode.sh");
    std::fs::write(&format, script("format-namenode.sh")).unwrap();
    let log = d.join("calls.log");
    let name_dir = d.join("mount/nn");
    std::fs::create_dir(d.join("mount")).unwrap();
    let run_with = |name_dir: &Path, cluster_id: &str| {
        Command::new("bash")
            .arg(&format)
            .env(
                "PATH",
                format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()),
            )
            .env("NAME_DIR", name_dir)
            .env("CLUSTER_ID", cluster_id)
            .env("STUB_LOG", &log)
            .output()
            .unwrap()
    };
    let run = |name_dir: &Path| run_with(name_dir, "CID-test");
    let calls = || std::fs::read_to_string(&log).unwrap_or_default();

    let first = run(&name_dir);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert_eq!(
        calls(),
        "namenode -format -nonInteractive -clusterid CID-test\n"
    );
    assert!(!calls().contains("-force"));

    let second = run(&name_dir);
    assert!(second.status.success());
    assert!(String::from_utf8_lossy(&second.stdout).contains("already formatted"));
    assert_eq!(
        calls().lines().count(),
        1,
        "an existing filesystem is never reformatted"
    );

    std::fs::remove_file(name_dir.join("current/fsimage_0000000000000000000")).unwrap();
    let broken = run(&name_dir);
    assert_eq!(broken.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&broken.stderr).contains("VERSION exists but there is no fsimage")
    );
    assert_eq!(
        calls().lines().count(),
        1,
        "damaged metadata fails loudly instead of being formatted"
    );

    let stray = d.join("mount/stray");
    std::fs::create_dir_all(&stray).unwrap();
    std::fs::write(stray.join("leftover"), "x").unwrap();
    let refused = run(&stray);
    assert_eq!(refused.status.code(), Some(1));
    assert_eq!(
        calls().lines().count(),
        1,
        "a non-empty directory is never formatted"
    );
    // No cluster ID set: Hadoop chooses one.
    let fresh = d.join("mount/fresh");
    let chosen = run_with(&fresh, "");
    assert!(
        chosen.status.success(),
        "{}",
        String::from_utf8_lossy(&chosen.stderr)
    );
    assert_eq!(
        calls().lines().last(),
        Some("namenode -format -nonInteractive")
    );
}

#[test]
fn wait_for_namenode_script_is_bounded_and_takes_any_namenode() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wait.sh");
    std::fs::write(&path, script("wait-for-namenode.sh")).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let up = format!("127.0.0.1:{}", listener.local_addr().unwrap().port());
    let down = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("127.0.0.1:{}", l.local_addr().unwrap().port())
    };
    let run = |args: &[&str]| Command::new("bash").arg(&path).args(args).output().unwrap();
    let ok = run(&["5", &up]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    // HA: the second namenode answering is enough.
    let either = run(&["5", &down, &up]);
    assert!(either.status.success());
    assert!(
        String::from_utf8_lossy(&either.stdout).contains(&format!("namenode {up} is reachable"))
    );
    drop(listener);
    let closed = run(&["1", &up, &down]);
    assert_eq!(closed.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&closed.stderr).contains("is reachable after 1s"));
    assert_eq!(
        run(&["1"]).status.code(),
        Some(2),
        "no address is a usage error"
    );
}

/// Serves one HTTP response on a fresh port and returns the port.
fn serve_once(body: &'static str) -> u16 {
    serve(body.to_string(), 1)
}

/// Answers `times` HTTP requests with `body` on a fresh port; returns the port.
fn serve(body: String, times: usize) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for _ in 0..times {
            let Ok((mut s, _)) = listener.accept() else {
                return;
            };
            // Read the whole request first: closing with unread bytes resets
            // the connection.
            let mut request = Vec::new();
            let mut buf = [0u8; 256];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let _ = write!(
                s,
                "HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{body}"
            );
        }
    });
    port
}

#[test]
fn datanode_readiness_requires_registration() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ready.sh");
    std::fs::write(&path, script("datanode-ready.sh")).unwrap();
    let registered = serve_once("{\"beans\": [{\"name\": \"Hadoop:service=DataNode,name=DataNodeInfo\", \"ClusterId\" : \"CID-1\"}]}");
    let out = Command::new("bash")
        .arg(&path)
        .arg(registered.to_string())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let unregistered = serve_once("{\"beans\": [{\"ClusterId\" : null}]}");
    let out = Command::new("bash")
        .arg(&path)
        .arg(unregistered.to_string())
        .output()
        .unwrap();
    assert!(!out.status.success());
}

/// The readiness probe must not fail at random: the old script piped the
/// response into `grep -q` under `pipefail`, and when grep found the
/// cluster ID and exited before `cat` had written the rest, cat died of
/// SIGPIPE (141) and the probe failed. A response with the ID first and a
/// long tail after it made that happen most of the time.
#[test]
fn datanode_readiness_never_fails_at_random() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ready.sh");
    std::fs::write(&path, script("datanode-ready.sh")).unwrap();
    let runs = 500;
    // Pretty-printed, as Hadoop's JMX servlet writes it: the ID's line
    // first, then many more lines for grep never to read.
    let body = format!(
        "{{\"beans\": [{{\n\"ClusterId\" : \"CID-1\",\n{}\"end\": 0}}]}}\n",
        "\"padding\" : \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\",\n".repeat(2048)
    );
    let port = serve(body, runs);
    let mut failures = Vec::new();
    for i in 0..runs {
        let out = Command::new("bash")
            .arg(&path)
            .arg(port.to_string())
            .output()
            .unwrap();
        if !out.status.success() {
            failures.push((i, out.status.code()));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {runs} probes failed: {:?}",
        failures.len(),
        &failures[..failures.len().min(10)]
    );
}

/// The chart's test (issue 13): passes only when the file it wrote comes
/// back, has as many live replicas as the replication factor, and `hdfs
/// fsck /` says HEALTHY. Run against a stub `hdfs` that answers as a
/// cluster in each state would.
#[test]
fn the_chart_test_checks_read_back_live_replicas_and_fsck() {
    let m = render_hdfs("hdfs", "data", &[], &["hdfs.replication=3"]);
    let test = find(&m, "Pod", "-test");
    assert_eq!(
        test.object["metadata"]["annotations"]["helm.sh/hook"], "test",
        "a test hook, never applied by install or upgrade"
    );
    let script = test.object["spec"]["containers"][0]["command"][2]
        .as_str()
        .unwrap()
        .to_string();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let bin = d.join("bin");
    std::fs::create_dir(&bin).unwrap();
    // `hdfs dfs -put` keeps the file in $STORE; fsck answers from $REPL and
    // $STATUS; `sleep` returns at once so the replica wait takes no time.
    common::write_exec(
        &bin.join("hdfs"),
        "#!/bin/bash\ncase \"$1 $2\" in\n\
         'dfsadmin -safemode') echo 'Safe mode is OFF' ;;\n\
         'dfs -put') cp \"$4\" \"$STORE\" ;;\n\
         'dfs -cat') cat \"$STORE\" ;;\n\
         'dfs -rm') rm -f \"$STORE\" ;;\n\
         fsck*) if [ \"$2\" = / ]; then printf 'Status: %s\\n Total blocks (validated):\\t1\\n' \"$STATUS\"; \
         else printf '%s 29 bytes, 1 block(s):  OK\\n0. BP-1:blk_1_1 len=29 Live_repl=%s\\n' \"$2\" \"$REPL\"; fi ;;\n\
         esac\n",
    );
    common::write_exec(&bin.join("sleep"), "#!/bin/sh\nexit 0\n");
    let run = |repl: &str, status: &str| {
        let out = Command::new("bash")
            .arg("-c")
            .arg(&script)
            .env(
                "PATH",
                format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()),
            )
            .env("STORE", d.join("store"))
            .env("REPL", repl)
            .env("STATUS", status)
            .env("HOME", d)
            .current_dir(d)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string(),
        )
    };
    // The script writes /tmp/probe in the Pod (an emptyDir); here it is the
    // host's /tmp, which every test machine has.
    let (ok, out) = run("3", "HEALTHY");
    assert!(ok, "{out}");
    assert!(
        out.contains("PASS: HDFS is healthy; the test file has 3 live replicas"),
        "{out}"
    );
    let (ok, out) = run("1", "HEALTHY");
    assert!(!ok, "{out}");
    assert!(
        out.contains("has 1 live replica(s), replication is 3"),
        "{out}"
    );
    let (ok, out) = run("3", "CORRUPT");
    assert!(!ok, "{out}");
    assert!(out.contains("does not report HEALTHY"), "{out}");
}

/// The namenode's liveness follows real startup progress (issue 12 item
/// 1): alive when RPC answers; before that while /startupProgress moves;
/// restarted only when it has not moved for the stall budget.
#[test]
fn namenode_liveness_follows_startup_progress() {
    let m = render_hdfs("hdfs", "data", &[], &[]);
    let nn = find(&m, "StatefulSet", "-namenode");
    let c = &nn.object["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["startupProbe"]["tcpSocket"]["port"], "http");
    assert_eq!(
        c["livenessProbe"]["exec"]["command"][1],
        "/opt/windlass/scripts/namenode-alive.sh"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alive.sh");
    std::fs::write(&path, script("namenode-alive.sh")).unwrap();
    let state = dir.path().join("state");
    let closed = || {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let probe = |rpc: u16, http: u16| {
        Command::new("bash")
            .arg(&path)
            .args([rpc.to_string(), http.to_string(), "600".into()])
            .arg(&state)
            .output()
            .unwrap()
    };
    let progress = |pct: &str| {
        serve(
            format!("{{\"elapsedTime\":1200,\"percentComplete\":{pct},\"phases\":[{{\"name\":\"LoadingEdits\",\"percentComplete\":0.1}}]}}"),
            1,
        )
    };
    // RPC answers: alive.
    let rpc = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let out = probe(rpc.local_addr().unwrap().port(), closed());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    drop(rpc);
    // Starting and moving: alive, progress remembered.
    let out = probe(closed(), progress("0.25"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(std::fs::read_to_string(&state)
        .unwrap()
        .starts_with("0.25 "));
    // Not moved, but not for long: alive.
    let out = probe(closed(), progress("0.25"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // Not moved for longer than the budget (45 minutes into a replay that
    // stopped at 25%): restarted.
    let long_ago = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 700;
    std::fs::write(&state, format!("0.25 {long_ago}\n")).unwrap();
    let out = probe(closed(), progress("0.25"));
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("has not moved from 0.25 for 7"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // It moved again: alive, whatever the time since the start.
    let out = probe(closed(), progress("0.26"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // Nothing answers at all.
    let out = probe(closed(), closed());
    assert!(!out.status.success());
}
