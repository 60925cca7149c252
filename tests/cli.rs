//! The offline CLI end to end: create, lint, template, package, show, repo
//! index, values merging, errors and exit codes.

mod common;

use std::path::Path;

use common::{root, stderr, stdout, windlass};
use serde_json::{json, Value};

fn dump_dir() -> std::path::PathBuf {
    root().join("tests/fixtures/dump")
}

/// Renders the dump fixture and returns (parent values, sub values).
fn dump(args: &[&str], cwd: &Path) -> (Value, Option<Value>) {
    let chart = dump_dir();
    let mut full = vec!["template", "r", chart.to_str().unwrap()];
    full.extend_from_slice(args);
    let out = windlass(&full, cwd);
    assert!(out.status.success(), "template failed: {}", stderr(&out));
    let mut parent = None;
    let mut sub = None;
    for doc in stdout(&out).split("\n---\n") {
        let v: Value = serde_yaml::from_str(doc.trim_start_matches("---\n")).unwrap();
        let values: Value = serde_json::from_str(v["data"]["values"].as_str().unwrap()).unwrap();
        match v["metadata"]["name"].as_str().unwrap() {
            "r-dump" => parent = Some(values),
            "r-sub-dump" => sub = Some(values),
            other => panic!("unexpected object {other}"),
        }
    }
    (parent.expect("parent rendered"), sub)
}

#[test]
fn create_lint_package_template_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = windlass(&["create", "demo"], d);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = windlass(&["lint", "demo"], d);
    assert!(out.status.success(), "{}", stdout(&out));
    assert!(stdout(&out).contains("1 chart(s) linted, 0 chart(s) failed"));
    let out = windlass(&["package", "demo"], d);
    assert!(out.status.success(), "{}", stderr(&out));
    let digest_line = stdout(&out)
        .lines()
        .find(|l| l.starts_with("sha256:"))
        .unwrap()
        .to_string();
    let bytes = std::fs::read(d.join("demo-0.1.0.tgz")).unwrap();
    assert_eq!(
        digest_line,
        format!("sha256:{}", windlass::package::sha256_hex(&bytes))
    );
    let out = windlass(&["template", "r", "demo-0.1.0.tgz"], d);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("# Source: demo/templates/deployment.yaml"));
    // Install order: the Service before the Deployment.
    assert!(text.find("kind: Service").unwrap() < text.find("kind: Deployment").unwrap());
    // The directory and the archive render identically.
    let from_dir = windlass(&["template", "r", "demo"], d);
    assert_eq!(stdout(&from_dir), text);
    // The notes follow the manifests, after a NOTES: line.
    let with_notes = windlass(&["template", "r", "demo", "--include-notes"], d);
    let with_notes = stdout(&with_notes);
    let notes = with_notes
        .strip_prefix(text.as_str())
        .and_then(|rest| rest.strip_prefix("\nNOTES:\n"))
        .unwrap_or_else(|| panic!("{with_notes}"));
    assert!(
        notes.starts_with("demo is installed as release r in namespace default."),
        "{notes}"
    );
    assert!(!notes.contains("# Source:"), "{notes}");
}

#[test]
fn create_refuses_bad_names_and_existing_dirs() {
    let dir = tempfile::tempdir().unwrap();
    let out = windlass(&["create", "Bad_Name"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("not a valid chart name"),
        "{}",
        stderr(&out)
    );
    std::fs::create_dir(dir.path().join("taken")).unwrap();
    std::fs::write(dir.path().join("taken/file"), "x").unwrap();
    let out = windlass(&["create", "taken"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("already exists"));
}

#[test]
fn package_is_deterministic_across_mtimes_and_listing_order() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert!(windlass(&["create", "demo"], d).status.success());
    assert!(windlass(&["package", "demo", "-d", "a"], d)
        .status
        .success());
    // Touch every file to a new time, and rebuild the chart in another
    // directory created in a different order.
    let later = std::time::SystemTime::now() + std::time::Duration::from_secs(3600);
    for entry in walk(&d.join("demo")) {
        let f = std::fs::File::options().write(true).open(&entry).unwrap();
        f.set_modified(later).unwrap();
    }
    assert!(windlass(&["package", "demo", "-d", "b"], d)
        .status
        .success());
    let copy = d.join("copy/demo");
    let mut files = walk(&d.join("demo"));
    files.reverse();
    for f in files {
        let rel = f.strip_prefix(d.join("demo")).unwrap();
        std::fs::create_dir_all(copy.join(rel).parent().unwrap()).unwrap();
        std::fs::copy(&f, copy.join(rel)).unwrap();
    }
    assert!(windlass(&["package", "copy/demo", "-d", "c"], d)
        .status
        .success());
    let a = std::fs::read(d.join("a/demo-0.1.0.tgz")).unwrap();
    let b = std::fs::read(d.join("b/demo-0.1.0.tgz")).unwrap();
    let c = std::fs::read(d.join("c/demo-0.1.0.tgz")).unwrap();
    assert_eq!(a, b, "touching files changed the archive");
    assert_eq!(a, c, "copying the chart changed the archive");
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

#[test]
fn source_date_epoch_and_version_overrides() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert!(windlass(&["create", "demo"], d).status.success());
    let out = windlass(
        &[
            "package",
            "demo",
            "--version",
            "1.2.3",
            "--app-version",
            "9.9",
        ],
        d,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = windlass(&["show", "chart", "demo-1.2.3.tgz"], d);
    assert!(stdout(&out).contains("version: 1.2.3"));
    assert!(
        stdout(&out).contains("appVersion: '9.9'") || stdout(&out).contains("appVersion: \"9.9\""),
        "{}",
        stdout(&out)
    );
    let out = windlass(&["package", "demo", "--version", "1.2"], d);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("/version"), "{}", stderr(&out));

    let with_epoch = std::process::Command::new(env!("CARGO_BIN_EXE_windlass"))
        .args(["package", "demo", "-d", "epoch"])
        .current_dir(d)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .output()
        .unwrap();
    assert!(with_epoch.status.success());
    assert!(windlass(&["package", "demo", "-d", "plain"], d)
        .status
        .success());
    let a = std::fs::read(d.join("epoch/demo-0.1.0.tgz")).unwrap();
    let b = std::fs::read(d.join("plain/demo-0.1.0.tgz")).unwrap();
    assert_ne!(a, b, "SOURCE_DATE_EPOCH must stamp the entries");
}

#[test]
fn package_refuses_a_chart_that_fails_lint() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert!(windlass(&["create", "demo"], d).status.success());
    std::fs::write(
        d.join("demo/templates/broken.yaml"),
        "name: {{Values.nope}}\n",
    )
    .unwrap();
    let out = windlass(&["package", "demo"], d);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("failed lint"), "{err}");
    assert!(err.contains("demo/templates/broken.yaml line 1"), "{err}");
    assert!(err.contains("Values.nope"), "{err}");
    assert!(!d.join("demo-0.1.0.tgz").exists());
}

#[test]
fn values_merge_order_and_set_grammar() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("a.yaml"),
        "name: from-a\nnested:\n  drop: null\nlist: [x]\n",
    )
    .unwrap();
    std::fs::write(d.join("b.yaml"), "name: from-b\n").unwrap();
    let (v, _) = dump(
        &[
            "-f",
            "a.yaml",
            "-f",
            "b.yaml",
            "--set",
            r"annotations.kubernetes\.io/role=master,csv=a\,b",
            "--set",
            "matrix[1].cells={1,two,true},count=007,big=12",
            "--set-string",
            "asString=true",
            "--set-json",
            r#"obj={"f":1.5,"l":[1,2]}"#,
            "--set",
            "name=from-set",
        ],
        d,
    );
    assert_eq!(v["name"], "from-set");
    // The fixture's `keep: yes` is YAML 1.1's true, as Helm reads it.
    assert_eq!(v["nested"], json!({"keep": true}));
    assert_eq!(v["list"], json!(["x"]));
    assert_eq!(v["annotations"], json!({"kubernetes.io/role": "master"}));
    assert_eq!(v["csv"], "a,b");
    assert_eq!(v["matrix"], json!([null, {"cells": [1, "two", true]}]));
    assert_eq!(v["count"], "007");
    assert_eq!(v["big"], 12);
    assert_eq!(v["asString"], "true");
    assert_eq!(v["obj"], json!({"f": 1.5, "l": [1, 2]}));
}

#[test]
fn set_file_and_stdin_values() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("motd.txt"), "line1\nline2\n").unwrap();
    let (v, _) = dump(&["--set-file", "motd=motd.txt"], dir.path());
    assert_eq!(v["motd"], "line1\nline2\n");
}

#[test]
fn null_deletes_across_files_and_into_subcharts() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("1.yaml"), "sub:\n  nested:\n    a: 10\n").unwrap();
    std::fs::write(
        d.join("2.yaml"),
        "sub:\n  nested:\n    b: null\n  own: null\n",
    )
    .unwrap();
    let (parent, sub) = dump(&["-f", "1.yaml", "-f", "2.yaml"], d);
    let sub = sub.expect("subchart rendered");
    // The parent's values.yaml deletes the subchart's `dropDefault`.
    assert!(sub.get("dropDefault").is_none(), "{sub}");
    assert!(sub.get("own").is_none(), "{sub}");
    assert_eq!(sub["nested"], json!({"a": 10}));
    assert_eq!(sub["fromParent"], "p");
    // Parent globals win over the subchart's; the subchart keeps its own extras.
    assert_eq!(sub["global"], json!({"region": "eu", "subOnly": "s"}));
    assert_eq!(parent["sub"]["nested"], json!({"a": 10}));
}

#[test]
fn subchart_condition_switches_it_off() {
    let dir = tempfile::tempdir().unwrap();
    let (_, sub) = dump(&["--set", "sub.enabled=false"], dir.path());
    assert!(sub.is_none());
}

#[test]
fn schema_violations_are_all_reported_with_pointer_and_source() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("bad.yaml"), "replicas: 0\nsub:\n  own: 5\n").unwrap();
    let chart = dump_dir();
    let out = windlass(
        &[
            "template",
            "r",
            chart.to_str().unwrap(),
            "-f",
            "bad.yaml",
            "--set",
            "name=this-name-is-far-too-long-for-it",
        ],
        d,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).is_empty(),
        "nothing is rendered on a schema error"
    );
    let err = stderr(&out);
    assert!(err.contains("3 problems"), "{err}");
    assert!(
        err.contains("/replicas: 0 is less than the minimum of 1 (set by -f bad.yaml"),
        "{err}"
    );
    assert!(err.contains("/name:"), "{err}");
    assert!(err.contains("set by --set #1"), "{err}");
    assert!(err.contains("/sub/own:"), "{err}");
    assert!(err.contains("schema of chart sub"), "{err}");
}

#[test]
fn bad_input_gives_one_clear_error_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let chart = dump_dir();
    let c = chart.to_str().unwrap();
    std::fs::write(d.join("broken.yaml"), "a: [1, 2\n").unwrap();
    let cases: &[(&[&str], &str)] = &[
        (
            &["template", "r", c, "-f", "broken.yaml"],
            "broken.yaml: line",
        ),
        (&["template", "r", c, "-f", "missing.yaml"], "missing.yaml"),
        (
            &["template", "r", c, "--set", "a.b"],
            "--set #1: expected `=` after the key at column 4 of `a.b`",
        ),
        (
            &["template", "r", c, "--set-json", "a={oops"],
            "--set-json #1: invalid JSON",
        ),
        (
            &["template", "r", "no-such-chart"],
            "no-such-chart: no such chart directory or archive",
        ),
        (
            &["template", "r", c, "--show-only", "templates/nope.yaml"],
            "--show-only templates/nope.yaml",
        ),
        (
            &["template", "r", c, "--kube-version", "banana"],
            "invalid Kubernetes version",
        ),
    ];
    for (args, expected) in cases {
        let out = windlass(args, d);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains(expected),
            "{args:?}: expected `{expected}` in:\n{err}"
        );
        assert!(!err.contains("panicked"), "{err}");
        assert_eq!(
            err.trim_end().lines().count(),
            1,
            "one line for {args:?}:\n{err}"
        );
    }
}

#[test]
fn template_errors_name_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert!(windlass(&["create", "demo"], d).status.success());
    std::fs::write(d.join("demo/templates/x.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  a: {{Values.missing.key}}\n").unwrap();
    let out = windlass(&["template", "r", "demo"], d);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("demo/templates/x.yaml line 6"),
        "{}",
        stderr(&out)
    );

    std::fs::write(
        d.join("demo/templates/x.yaml"),
        "{{#if Values.replicaCount}}\nunclosed\n",
    )
    .unwrap();
    let out = windlass(&["template", "r", "demo"], d);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("demo/templates/x.yaml"),
        "{}",
        stderr(&out)
    );

    std::fs::write(
        d.join("demo/templates/x.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata: [\n",
    )
    .unwrap();
    let out = windlass(&["template", "r", "demo"], d);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("demo/templates/x.yaml: document 1, line"),
        "{}",
        stderr(&out)
    );

    std::fs::write(d.join("demo/templates/x.yaml"), "{{include \"x2\" this}}").unwrap();
    std::fs::write(d.join("demo/templates/_x2.yaml"), "{{> x3}}").unwrap();
    std::fs::write(d.join("demo/templates/_x3.yaml"), "{{include \"x2\" this}}").unwrap();
    let out = windlass(&["template", "r", "demo"], d);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("partials include each other in a loop"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn usage_errors_exit_2_and_help_exits_0() {
    let d = tempfile::tempdir().unwrap();
    let out = windlass(&["template"], d.path());
    assert_eq!(out.status.code(), Some(2));
    let out = windlass(&["no-such-command"], d.path());
    assert_eq!(out.status.code(), Some(2));
    let out = windlass(&["template", "--help"], d.path());
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("--set-json"));
    let out = windlass(&["version", "--short"], d.path());
    assert_eq!(stdout(&out).trim(), env!("CARGO_PKG_VERSION"));
    let out = windlass(&["completion", "bash"], d.path());
    assert!(out.status.success() && stdout(&out).contains("windlass"));
}

#[test]
fn show_and_repo_index() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert!(windlass(&["create", "demo"], d).status.success());
    assert!(stdout(&windlass(&["show", "values", "demo"], d)).contains("replicaCount: 1"));
    assert!(stdout(&windlass(&["show", "schema", "demo"], d)).contains("\"replicaCount\""));
    assert!(stdout(&windlass(&["show", "readme", "demo"], d)).contains("# demo"));
    std::fs::create_dir(d.join("repo")).unwrap();
    assert!(windlass(&["package", "demo", "-d", "repo"], d)
        .status
        .success());
    assert!(
        windlass(&["package", "demo", "-d", "repo", "--version", "0.2.0"], d)
            .status
            .success()
    );
    let out = windlass(
        &[
            "repo",
            "index",
            "repo",
            "--url",
            "https://charts.example.com/",
        ],
        d,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let index: Value =
        serde_yaml::from_str(&std::fs::read_to_string(d.join("repo/index.yaml")).unwrap()).unwrap();
    assert_eq!(index["apiVersion"], "v1");
    let versions = index["entries"]["demo"].as_array().unwrap();
    assert_eq!(versions[0]["version"], "0.2.0", "newest first");
    assert_eq!(
        versions[1]["urls"][0],
        "https://charts.example.com/demo-0.1.0.tgz"
    );
    let bytes = std::fs::read(d.join("repo/demo-0.1.0.tgz")).unwrap();
    assert_eq!(versions[1]["digest"], windlass::package::sha256_hex(&bytes));
    assert!(versions[1]["created"].as_str().unwrap().ends_with('Z'));
}

#[test]
fn output_dir_and_show_only() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert!(windlass(&["create", "demo"], d).status.success());
    let out = windlass(
        &[
            "template",
            "r",
            "demo",
            "--show-only",
            "templates/service.yaml",
        ],
        d,
    );
    assert!(out.status.success());
    assert!(stdout(&out).contains("kind: Service") && !stdout(&out).contains("kind: Deployment"));
    let out = windlass(&["template", "r", "demo", "--output-dir", "out"], d);
    assert!(out.status.success(), "{}", stderr(&out));
    let svc = std::fs::read_to_string(d.join("out/demo/templates/service.yaml")).unwrap();
    assert!(svc.contains("# Source: demo/templates/service.yaml"));
}

#[test]
fn ignore_files_keep_files_out_of_the_package() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert!(windlass(&["create", "demo"], d).status.success());
    std::fs::write(d.join("demo/notes.bak"), "secret").unwrap();
    std::fs::write(d.join("demo/.helmignore"), "scratch/\n").unwrap();
    std::fs::create_dir(d.join("demo/scratch")).unwrap();
    std::fs::write(d.join("demo/scratch/x.txt"), "x").unwrap();
    std::fs::create_dir(d.join("demo/.git")).unwrap();
    std::fs::write(d.join("demo/.git/HEAD"), "ref").unwrap();
    assert!(windlass(&["package", "demo"], d).status.success());
    let bytes = std::fs::read(d.join("demo-0.1.0.tgz")).unwrap();
    let files = windlass::package::read_archive(&bytes, Path::new("demo-0.1.0.tgz")).unwrap();
    assert!(files.contains_key("templates/deployment.yaml"));
    for gone in ["notes.bak", "scratch/x.txt", ".git/HEAD"] {
        assert!(!files.contains_key(gone), "{gone} was packaged");
    }
}

#[test]
fn subcharts_may_be_archives() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert!(windlass(&["create", "parent"], d).status.success());
    assert!(windlass(&["create", "child"], d).status.success());
    std::fs::create_dir(d.join("parent/charts")).unwrap();
    assert!(windlass(&["package", "child", "-d", "parent/charts"], d)
        .status
        .success());
    let out = windlass(
        &["template", "r", "parent", "--set", "child.replicaCount=3"],
        d,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("# Source: parent/charts/child/templates/deployment.yaml"),
        "{text}"
    );
    assert!(text.contains("replicas: 3"));
    // The subchart's schema applies to its section of the values.
    let out = windlass(
        &["template", "r", "parent", "--set", "child.replicaCount=-1"],
        d,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("/child/replicaCount"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn values_render_verbatim_without_html_escaping() {
    let dir = tempfile::tempdir().unwrap();
    let (v, _) = dump(
        &["--set-string", r#"html=<a href="x">&amp;'</a>"#],
        dir.path(),
    );
    assert_eq!(v["html"], r#"<a href="x">&amp;'</a>"#);
    let d = dir.path();
    assert!(windlass(&["create", "demo"], d).status.success());
    std::fs::write(d.join("demo/templates/x.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  v: '{{Values.image.repository}}'\n").unwrap();
    let out = windlass(
        &["template", "r", "demo", "--set", "image.repository=a<b>&c"],
        d,
    );
    assert!(stdout(&out).contains("  v: a<b>&c\n"), "{}", stdout(&out));
}

#[test]
fn no_cluster_configured_is_one_clear_line() {
    let home = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_windlass"))
        .arg("cluster-info")
        .env("HOME", home.path())
        .env_remove("KUBECONFIG")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env_remove("KUBERNETES_SERVICE_PORT")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.starts_with("Error: no cluster configured: pass --kubeconfig, set KUBECONFIG, or create ~/.kube/config"), "{err}");
}

#[test]
fn lint_warns_when_a_statefulset_would_delete_its_claims() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert!(windlass(&["create", "demo"], d).status.success());
    std::fs::write(
        d.join("demo/templates/sts.yaml"),
        "apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: db\nspec:\n  serviceName: db\n  selector:\n    matchLabels: {app: db}\n  persistentVolumeClaimRetentionPolicy:\n    whenDeleted: Delete\n  template:\n    metadata:\n      labels: {app: db}\n    spec:\n      containers:\n        - name: db\n          image: db:1\n",
    )
    .unwrap();
    let out = windlass(&["lint", "demo"], d);
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        text.contains("StatefulSet db: persistentVolumeClaimRetentionPolicy.whenDeleted: Delete makes the StatefulSet controller delete its claims"),
        "{text}"
    );
    assert_eq!(
        windlass(&["lint", "--strict", "demo"], d).status.code(),
        Some(1)
    );
}

#[test]
#[cfg(not(target_env = "msvc"))]
fn the_allocator_asks_for_huge_pages_and_the_environment_still_overrides() {
    // src/main.rs sets jemalloc's `thp:always` (a large render takes
    // fewer than half the page faults). jemalloc prints its options when
    // asked to through the environment, which is read after the built-in
    // setting and wins over it.
    let opts = |conf: &str| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_windlass"))
            .arg("version")
            .env("_RJEM_MALLOC_CONF", conf)
            .output()
            .unwrap();
        assert!(out.status.success());
        stderr(&out)
    };
    assert!(
        opts("stats_print:true").contains("opt.thp: \"always\""),
        "{}",
        opts("stats_print:true")
    );
    assert!(opts("stats_print:true,thp:default").contains("opt.thp: \"default\""));
}
