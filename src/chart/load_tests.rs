//! Unit tests of chart loading.

use super::*;

use super::files_of as files;

const CHART: &str = "apiVersion: v2\nname: demo\nversion: 0.1.0\n";

#[test]
fn classifies_templates() {
    let c = from_files(
        files(&[
            ("Chart.yaml", CHART),
            ("templates/a.yaml", "x"),
            ("templates/_labels.yaml", "l"),
            ("templates/NOTES.txt", "n"),
            ("templates/sub/b.yml", "y"),
            ("templates/readme.md", "ignored"),
        ]),
        Path::new("demo"),
        None,
        Ahead::Nothing,
    )
    .unwrap();
    let names: Vec<_> = c.templates.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["templates/a.yaml", "templates/sub/b.yml"]);
    assert_eq!(c.partials[0].name, "labels");
    assert!(c.notes.is_some());
    assert_eq!(c.values, serde_json::json!({}));
}

#[test]
fn metadata_errors_name_the_field() {
    let e = parse_metadata(
        "apiVersion: v2\nname: Bad_Name\nversion: 1.0\n",
        Path::new("c/Chart.yaml"),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("/name"), "{e}");
    assert!(e.contains("/version"), "{e}");
    assert!(e.starts_with("c/Chart.yaml"), "{e}");
    let e = parse_metadata(
        "apiVersion: v2\nname: ok\nversion: 1.0.0\nkubeVersion: '>='\n",
        Path::new("Chart.yaml"),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("/kubeVersion"), "{e}");
    let e = parse_metadata(
        "apiVersion: v2\nname: ok\nversion: 1.0.0\nbogus: 1\n",
        Path::new("Chart.yaml"),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("bogus"), "{e}");
}

#[test]
fn subcharts_with_alias_condition_and_version() {
    let parent = "apiVersion: v2\nname: p\nversion: 1.0.0\ndependencies:\n- name: zk\n  version: ~3.1\n  alias: zookeeper\n  condition: zookeeper.enabled\n";
    let c = from_files(
        files(&[
            ("Chart.yaml", parent),
            (
                "charts/zk/Chart.yaml",
                "apiVersion: v2\nname: zk\nversion: 3.1.4\n",
            ),
            (
                "charts/extra/Chart.yaml",
                "apiVersion: v2\nname: extra\nversion: 1.0.0\n",
            ),
        ]),
        Path::new("p"),
        None,
        Ahead::Nothing,
    )
    .unwrap();
    assert_eq!(c.subcharts.len(), 2);
    assert_eq!(c.subcharts[0].key, "zookeeper");
    assert_eq!(
        c.subcharts[0].condition.as_deref(),
        Some("zookeeper.enabled")
    );
    assert_eq!(c.subcharts[1].key, "extra");

    let e = from_files(
        files(&[
            ("Chart.yaml", parent),
            (
                "charts/zk/Chart.yaml",
                "apiVersion: v2\nname: zk\nversion: 4.0.0\n",
            ),
        ]),
        Path::new("p"),
        None,
        Ahead::Nothing,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("does not satisfy"), "{e}");
    let e = from_files(
        files(&[("Chart.yaml", parent)]),
        Path::new("p"),
        None,
        Ahead::Nothing,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("dependency `zk`"), "{e}");
}

#[test]
fn values_must_be_a_map() {
    let e = from_files(
        files(&[("Chart.yaml", CHART), ("values.yaml", "- a\n")]),
        Path::new("demo"),
        None,
        Ahead::Nothing,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("values.yaml"), "{e}");
    let e = from_files(
        files(&[
            ("Chart.yaml", CHART),
            ("values.schema.json", "{\"type\": 5}"),
        ]),
        Path::new("demo"),
        None,
        Ahead::Nothing,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("not a valid JSON Schema"), "{e}");
}

#[test]
fn with_several_bad_files_the_first_read_is_reported() {
    // Loaded to render, the values schema compiles on a thread of its
    // own while the rest loads; what is reported must not change.
    // `not_text` names a file whose bytes are made invalid UTF-8.
    let load_both = |entries: &[(&str, &str)], not_text: Option<&str>| {
        let mut f = files(entries);
        if let Some(path) = not_text {
            f.get_mut(path).expect("a file to break").data = vec![0xff, 0xfe];
        }
        let plain = from_files(f.clone(), Path::new("demo"), None, Ahead::Nothing)
            .unwrap_err()
            .to_string();
        let threaded = from_files(f, Path::new("demo"), None, Ahead::CompileAndSchema)
            .unwrap_err()
            .to_string();
        assert_eq!(plain, threaded);
        plain
    };
    let load = |entries: &[(&str, &str)]| load_both(entries, None);
    let bad_schema = ("values.schema.json", "{\"type\": 5}");
    let e = load(&[("Chart.yaml", "apiVersion: v2\nname: demo\n"), bad_schema]);
    assert!(e.contains("Chart.yaml") && e.contains("version"), "{e}");
    let e = load(&[("Chart.yaml", CHART), ("values.yaml", "- a\n"), bad_schema]);
    assert!(e.contains("values.yaml"), "{e}");
    let e = load(&[("Chart.yaml", CHART), ("values.yaml", "a: 1\n"), bad_schema]);
    assert!(e.contains("not a valid JSON Schema"), "{e}");
    // The schema comes before templates and subcharts, whichever is
    // found first.
    let template = ("templates/bad.yaml", "x");
    let bad = Some("templates/bad.yaml");
    let e = load_both(&[("Chart.yaml", CHART), bad_schema, template], bad);
    assert!(e.contains("not a valid JSON Schema"), "{e}");
    let e = load_both(&[("Chart.yaml", CHART), template], bad);
    assert!(
        e.contains("templates/bad.yaml") && e.contains("UTF-8"),
        "{e}"
    );
    let bad_sub = ("charts/sub/Chart.yaml", "apiVersion: v2\nname: sub\n");
    let e = load(&[("Chart.yaml", CHART), bad_schema, bad_sub]);
    assert!(e.contains("not a valid JSON Schema"), "{e}");
    let e = load(&[("Chart.yaml", CHART), ("values.schema.json", "{"), bad_sub]);
    assert!(
        e.contains("values.schema.json") && e.contains("line 1"),
        "{e}"
    );
    let e = load(&[("Chart.yaml", CHART), bad_sub]);
    assert!(e.contains("charts/sub/Chart.yaml"), "{e}");
    // A schema that is no text, read on the schema's thread.
    let e = load_both(
        &[("Chart.yaml", CHART), bad_schema, template],
        Some("values.schema.json"),
    );
    assert!(
        e.contains("values.schema.json") && e.contains("UTF-8"),
        "{e}"
    );
}

#[test]
fn a_schema_compiled_on_its_own_thread_is_the_chart_schema() {
    let schema = r#"{"type": "object", "properties": {"a": {"type": "integer"}}}"#;
    let f = files(&[("Chart.yaml", CHART), ("values.schema.json", schema)]);
    let c = from_files(f, Path::new("demo"), None, Ahead::CompileAndSchema).unwrap();
    let loaded = c.schema.clone().expect("the schema");
    assert_eq!(loaded, serde_json::from_str::<Value>(schema).unwrap());
    let compiled = c.compiled_schema_for(&loaded).expect("compiled at load");
    assert!(compiled.is_valid(&serde_json::json!({"a": 1})));
    assert!(!compiled.is_valid(&serde_json::json!({"a": "x"})));
}

/// Chart.yaml is checked by a validator generated from
/// schemas/chart.schema.json when windlass is built; it must answer as
/// the same file compiled at run time does.
#[test]
fn the_built_in_chart_schema_answers_as_the_schema_file() {
    let schema: Value = serde_json::from_str(crate::chart::CHART_SCHEMA).unwrap();
    let runtime = jsonschema::validator_for(&schema).unwrap();
    let say = |errors: jsonschema::ErrorIterator<'_>| {
        errors
            .map(|e| format!("{} {} {e}", e.instance_path(), e.schema_path()))
            .collect::<Vec<_>>()
    };
    let docs = [
        CHART,
        "apiVersion: v1\nname: Bad_Name\nversion: 1\nbogus: x\n",
        "name: demo\nversion: 1.0.0\ntype: library\nkeywords: [a, 1]\n",
        "apiVersion: v2\nname: demo\nversion: 1.0.0\ndependencies:\n- name: zk\n  alias: Z Z\n  condition: 5\n- version: 1\n",
        "apiVersion: v2\nname: demo\nversion: 1.0.0\nmaintainers:\n- email: x\n",
        "[1, 2]\n",
    ];
    let mut problems = 0;
    for doc in docs {
        let v = crate::yaml::parse(doc).unwrap();
        let built = say(ChartSchema::iter_errors(&v));
        assert_eq!(built, say(runtime.iter_errors(&v)), "{doc}");
        problems += built.len();
    }
    assert!(problems > 10, "{problems}");
}
