//! Helm's `.Files` as helpers (`filesGet`, `filesGetBytes`, `filesGlob`,
//! `filesLines`, `filesAsConfig`, `filesAsSecrets`): the chart's own files,
//! never templates/, subcharts or Chart.yaml/values, and never what
//! `.helmignore`/`.windlassignore` leave out.

mod common;

use common::{stderr, stdout, windlass};

fn chart(dir: &std::path::Path) {
    let w = |p: &str, text: &str| {
        let path = dir.join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    w(
        "Chart.yaml",
        "apiVersion: v2\nname: filed\nversion: 1.0.0\n",
    );
    w("values.yaml", "x: 1\n");
    w(".helmignore", "private.key\n");
    w("private.key", "never packaged\n");
    w("config/app.ini", "[main]\nport = 8080\n");
    w("config/log.conf", "level=info\n");
    w("config/nested/deep.conf", "deep\n");
    w("bin/blob", "\u{1}\u{2}binary");
    w(
        "templates/cm.yaml",
        r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: files
data:
  app.ini: {{quote (filesGet "config/app.ini")}}
  missing: {{quote (filesGet "nope.txt")}}
  ignored: {{quote (filesGet "private.key")}}
  template: {{quote (filesGet "templates/cm.yaml")}}
  chart: {{quote (filesGet "Chart.yaml")}}
  lines: {{quote (join "|" (filesLines "config/app.ini"))}}
  blob: {{quote (filesGetBytes "bin/blob")}}
  globbed: {{quote (join "," (keys (filesGlob "config/*.conf")))}}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: as-config
data:{{nindent 2 (filesAsConfig "config/*")}}
---
apiVersion: v1
kind: Secret
metadata:
  name: as-secrets
data:{{nindent 2 (filesAsSecrets (filesGlob "config/*.conf"))}}
"#,
    );
}

#[test]
fn templates_read_the_charts_own_files() {
    let dir = tempfile::tempdir().unwrap();
    chart(dir.path());
    let out = windlass(&["template", "r", "."], dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    let docs: Vec<serde_json::Value> = stdout(&out)
        .split("\n---\n")
        .filter(|d| d.contains("kind:"))
        .map(|d| serde_yaml::from_str(d).unwrap())
        .collect();
    let doc = |name: &str| {
        docs.iter()
            .find(|d| d["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("{name} rendered"))
            .clone()
    };
    let files = doc("files");
    let data = &files["data"];
    assert_eq!(data["app.ini"], "[main]\nport = 8080\n");
    assert_eq!(data["missing"], "", "a missing file is empty, as in Helm");
    assert_eq!(data["ignored"], "", ".helmignore is honoured");
    assert_eq!(data["template"], "", "templates/ is not a file");
    assert_eq!(data["chart"], "", "Chart.yaml is not a file");
    assert_eq!(data["lines"], "[main]|port = 8080");
    assert_eq!(data["blob"], "AQJiaW5hcnk=", "base64 of the bytes");
    assert_eq!(
        data["globbed"], "config/log.conf",
        "`*` does not cross `/` (config/nested/deep.conf is not matched)"
    );
    assert_eq!(
        doc("as-config")["data"],
        serde_json::json!({"app.ini": "[main]\nport = 8080\n", "log.conf": "level=info\n"})
    );
    assert_eq!(
        doc("as-secrets")["data"],
        serde_json::json!({"log.conf": "bGV2ZWw9aW5mbwo="})
    );
}
