//! Charts that bring their own CustomResourceDefinitions and Namespaces:
//! the objects that need them are planned and applied once they exist;
//! Helm's crds/ directory is installed first, on install only.

mod support;

use support::apiserver::TestApiServer;
use support::release::*;
use windlass::action::{self, DryRun, ValuesMode};

const CRD: &str = "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.windlass.io
spec:
  group: example.windlass.io
  scope: Namespaced
  names:
    plural: widgets
    singular: widget
    kind: Widget
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              properties:
                size:
                  type: integer
";

const WIDGET: &str = "apiVersion: example.windlass.io/v1
kind: Widget
metadata:
  name: w1
spec:
  size: {{Values.size}}
";

fn chart(dir: &std::path::Path, files: &[(&str, &str)]) -> windlass::chart::Chart {
    std::fs::create_dir_all(dir.join("templates")).unwrap();
    std::fs::write(
        dir.join("Chart.yaml"),
        "apiVersion: v2\nname: phased\nversion: 1.0.0\n",
    )
    .unwrap();
    std::fs::write(dir.join("values.yaml"), "size: 2\n").unwrap();
    for (path, text) in files {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    windlass::chart::load(dir).unwrap()
}

fn widget(server: &TestApiServer, ns: &str) -> serde_json::Value {
    server
        .object("example.windlass.io", "widgets", ns, "w1")
        .unwrap_or(serde_json::Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crd_and_a_resource_of_it_install_in_one_chart() {
    let server = TestApiServer::start().await;
    let c = ctx(&server, "apps", 0).await;
    let dir = tempfile::tempdir().unwrap();
    let chart = chart(
        dir.path(),
        &[
            ("templates/crd.yaml", CRD),
            ("templates/widget.yaml", WIDGET),
        ],
    );
    // A server dry run shows the resource as a create, though its type
    // is not served yet.
    let mut dry = opts("r");
    dry.dry_run = DryRun::Server;
    let plan = action::install(&c, &chart, &values(&[], &[]), &dry)
        .await
        .unwrap();
    let actions: Vec<(&str, &str)> = plan
        .lines
        .iter()
        .map(|l| (l.object.as_str(), l.action))
        .collect();
    assert!(actions.contains(&("Widget w1", "create")), "{actions:?}");
    assert!(widget(&server, "apps").is_null());
    let out = action::install(&c, &chart, &values(&[], &[]), &opts("r"))
        .await
        .unwrap();
    assert_eq!(
        widget(&server, "apps")["spec"]["size"],
        2,
        "{:?}",
        out.lines
    );
    // An upgrade plans it like any other object.
    let up = action::upgrade(
        &c,
        &chart,
        &values(&[], &["size=3"]),
        &opts("r"),
        ValuesMode::Reset,
        false,
    )
    .await
    .unwrap();
    assert!(up
        .lines
        .iter()
        .any(|l| l.object == "Widget apps/w1" && l.action == "update"));
    assert_eq!(widget(&server, "apps")["spec"]["size"], 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namespace_and_objects_in_it_install_in_one_chart() {
    let server = TestApiServer::start().await;
    let c = ctx(&server, "apps", 0).await;
    let dir = tempfile::tempdir().unwrap();
    let chart = chart(
        dir.path(),
        &[
            (
                "templates/ns.yaml",
                "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team-a\n",
            ),
            (
                "templates/cm.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: team-a\ndata:\n  size: \"{{Values.size}}\"\n",
            ),
        ],
    );
    action::install(&c, &chart, &values(&[], &[]), &opts("r"))
        .await
        .unwrap();
    assert_eq!(
        config_map(&server, "team-a", "settings")["data"]["size"],
        "2"
    );
    let items = action::diff_upgrade(
        &c,
        &chart,
        &values(&[], &["size=5"]),
        "r",
        ValuesMode::Reset,
    )
    .await
    .unwrap();
    assert!(items
        .iter()
        .any(|i| i.action == windlass::diff::Action::Update));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_crds_directory_is_installed_first_and_never_upgraded_or_deleted() {
    let server = TestApiServer::start().await;
    let c = ctx(&server, "apps", 0).await;
    let dir = tempfile::tempdir().unwrap();
    let chart = chart(
        dir.path(),
        &[
            ("crds/widgets.yaml", CRD),
            ("templates/widget.yaml", WIDGET),
        ],
    );
    // --skip-crds: the resource's type does not exist.
    let mut skip = opts("r");
    skip.skip_crds = true;
    let e = action::install(&c, &chart, &values(&[], &[]), &skip)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("Widget"), "{e}");
    assert!(server
        .object(
            "apiextensions.k8s.io",
            "customresourcedefinitions",
            "",
            "widgets.example.windlass.io"
        )
        .is_none());
    action::install(&c, &chart, &values(&[], &[]), &opts("r"))
        .await
        .unwrap();
    assert_eq!(widget(&server, "apps")["spec"]["size"], 2);
    let crd = server
        .object(
            "apiextensions.k8s.io",
            "customresourcedefinitions",
            "",
            "widgets.example.windlass.io",
        )
        .unwrap();
    // Not in the release's manifest: never pruned, never deleted.
    let rel = action::get(&c, "r", None).await.unwrap();
    assert!(!rel.manifest.contains("CustomResourceDefinition"));
    action::uninstall(&c, "r", &action::UninstallOptions::default())
        .await
        .unwrap();
    let after = server
        .object(
            "apiextensions.k8s.io",
            "customresourcedefinitions",
            "",
            "widgets.example.windlass.io",
        )
        .unwrap();
    assert_eq!(after["metadata"]["uid"], crd["metadata"]["uid"]);
}
