//! The HDFS chart's values: schema refusals with their pointers, checks
//! that fail rendering, and documentation of every value.

mod common;

use common::{find, of_kind, render_hdfs, root, try_render_hdfs};
use serde_json::{json, Value};

#[test]
fn invalid_values_files_are_rejected_with_their_pointer() {
    let dir = root().join("tests/fixtures/hdfs-invalid");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 12, "at least 12 invalid values files");
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let pointer = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# expect: "))
            .expect("first line names the pointer");
        let rel = f
            .strip_prefix(root())
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        let err = try_render_hdfs("hdfs", "data", &[&rel], &[]).expect_err(&rel);
        assert!(
            err.contains(&format!("  - {pointer}: ")),
            "{rel}: expected {pointer} in:\n{err}"
        );
        assert!(
            err.contains(&format!("set by -f {}", f.display())),
            "{rel}: the file is named:\n{err}"
        );
    }
}

#[test]
fn chart_readme_documents_every_value() {
    let readme = std::fs::read_to_string(root().join("charts/hdfs/README.md")).unwrap();
    let values: Value = serde_yaml::from_str(
        &std::fs::read_to_string(root().join("charts/hdfs/values.yaml")).unwrap(),
    )
    .unwrap();
    fn leaves(v: &Value, prefix: &str, out: &mut Vec<String>) {
        match v {
            Value::Object(m) if !m.is_empty() && !prefix.ends_with("resources") => {
                for (k, child) in m {
                    let p = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    leaves(child, &p, out);
                }
            }
            _ => out.push(prefix.to_string()),
        }
    }
    let mut all = Vec::new();
    leaves(&values, "", &mut all);
    for key in all {
        assert!(
            readme.contains(&format!("| `{key}` |")),
            "charts/hdfs/README.md does not document `{key}`"
        );
    }
}

#[test]
fn every_schema_property_is_described() {
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("charts/hdfs/values.schema.json")).unwrap(),
    )
    .unwrap();
    fn walk(node: &Value, path: &str, missing: &mut Vec<String>) {
        if let Some(props) = node.get("properties").and_then(Value::as_object) {
            for (k, v) in props {
                let p = format!("{path}/{k}");
                if v.get("description").is_none() {
                    missing.push(p.clone());
                }
                walk(v, &p, missing);
            }
        }
        if let Some(defs) = node.get("$defs").and_then(Value::as_object) {
            for (k, v) in defs {
                walk(v, &format!("#/$defs/{k}"), missing);
            }
        }
    }
    let mut missing = Vec::new();
    walk(&schema, "", &mut missing);
    assert!(
        missing.is_empty(),
        "properties without a description: {missing:?}"
    );
}

#[test]
fn misspelt_values_get_a_did_you_mean() {
    let err = try_render_hdfs(
        "hdfs",
        "data",
        &["tests/fixtures/hdfs-invalid/nested-typo.yaml"],
        &["nmenode.heapSize=2g"],
    )
    .unwrap_err();
    assert!(err.contains("/datanode/replica: `replica` is not allowed here (the schema allows no such key); did you mean `replicas`?"), "{err}");
    assert!(err.contains("did you mean `namenode`?"), "{err}");
}

#[test]
fn overriding_the_data_directories_points_at_the_values_that_set_them() {
    let err = try_render_hdfs(
        "hdfs",
        "data",
        &["tests/fixtures/hdfs-invalid/site-overrides-data-dir.yaml"],
        &[],
    )
    .unwrap_err();
    assert!(
        err.contains("/hdfs/hdfsSite: \"dfs.datanode.data.dir\" is not allowed here: the namenode's and datanodes' directories follow their volumes: set namenode.persistence, datanode.volumesPerPod and datanode.persistence instead"),
        "{err}"
    );
}

#[test]
fn poc_mode_requires_a_node_and_the_format_lets_hadoop_choose_the_cluster_id() {
    let err = try_render_hdfs("hdfs", "data", &[], &["persistence.mode=poc"]).unwrap_err();
    assert!(err.contains("/persistence/poc/nodeName"), "{err}");
    let m = render_hdfs(
        "hdfs",
        "data",
        &["charts/hdfs/examples/poc-single-node.yaml"],
        &[],
    );
    for pv in of_kind(&m, "PersistentVolume") {
        assert_eq!(
            pv.object["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"][0]
                ["matchExpressions"][0]["values"],
            json!(["minikube"]),
            "{}",
            pv.id()
        );
    }
    let nn = find(&m, "StatefulSet", "-namenode");
    let env =
        serde_json::to_string(&nn.object["spec"]["template"]["spec"]["initContainers"]).unwrap();
    assert!(
        env.contains("{\"name\":\"CLUSTER_ID\",\"value\":\"\"}"),
        "{env}"
    );
}

#[test]
fn exposing_hdfs_beyond_the_cluster_needs_an_acknowledgement_that_says_why() {
    let err = try_render_hdfs(
        "hdfs",
        "data",
        &["tests/fixtures/hdfs-invalid/load-balancer-without-acknowledgement.yaml"],
        &[],
    )
    .unwrap_err();
    assert!(
        err.contains("/security/allowUnauthenticatedExternalAccess: false is not allowed here: HDFS has no authentication here and serves WebHDFS on its web ports"),
        "{err}"
    );
    let notes = |sets: &[&str]| common::hdfs_notes(&[], sets);
    assert!(notes(&[]).contains("can act as any HDFS user"));
    assert!(notes(&[
        "namenode.service.type=NodePort",
        "security.allowUnauthenticatedExternalAccess=true"
    ])
    .contains("put an authenticating proxy in front of it"));
}

#[test]
fn a_heap_as_large_as_the_memory_limit_is_refused() {
    let e = try_render_hdfs(
        "hdfs",
        "hdfs",
        &[],
        &[
            "namenode.heapSize=2g",
            "namenode.resources.limits.memory=2Gi",
        ],
    )
    .unwrap_err();
    assert!(
        e.contains(
            "namenode.heapSize (2g) must be smaller than namenode.resources.limits.memory (2Gi)"
        ),
        "{e}"
    );
    let e = try_render_hdfs("hdfs", "hdfs", &[], &["datanode.heapSize=1600m"]).unwrap_err();
    assert!(
        e.contains("datanode.heapSize (1600m) must be smaller"),
        "{e}"
    );
    // Below the limit, or no limit at all: fine.
    try_render_hdfs("hdfs", "hdfs", &[], &["datanode.heapSize=1200m"]).unwrap();
    try_render_hdfs(
        "hdfs",
        "hdfs",
        &[],
        &["datanode.heapSize=8g", "datanode.resources.limits=null"],
    )
    .unwrap();
}
