//! Helm's `lookup` in templates: live objects during install and upgrade
//! (rendered again once the cluster answered, so a lookup may depend on
//! another's answer), empty maps offline; Handlebars' two-argument
//! `lookup` unchanged.

mod support;

use support::apiserver::TestApiServer;
use support::release::*;
use windlass::action::{self, ValuesMode};

const NS: &str = "lk";

fn chart(dir: &std::path::Path) -> windlass::chart::Chart {
    std::fs::create_dir_all(dir.join("templates")).unwrap();
    std::fs::write(
        dir.join("Chart.yaml"),
        "apiVersion: v2\nname: looker\nversion: 1.0.0\n",
    )
    .unwrap();
    std::fs::write(dir.join("values.yaml"), "pick: [a, b]\n").unwrap();
    std::fs::write(
        dir.join("templates/cm.yaml"),
        r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: seen
data:
  second: {{quote (lookup Values.pick 1)}}
  seed: {{quote (toJson (lookup "v1" "ConfigMap" Release.Namespace "seed"))}}
{{#with (k8sLookup "v1" "ConfigMap" Release.Namespace "seed")}}{{#if (hasKey this "data")}}
  chained: {{quote (toJson (k8sLookup "v1" "ConfigMap" @root.Release.Namespace data.next))}}
{{/if}}{{else}}{{/with}}
{{#with (k8sLookup "v1" "ConfigMap" Release.Namespace "")}}{{#if (hasKey this "items")}}
  count: {{quote (len items)}}
{{/if}}{{else}}{{/with}}
"#,
    )
    .unwrap();
    windlass::chart::load(dir).unwrap()
}

async fn seed(c: &windlass::action::Context, name: &str, data: serde_json::Value) {
    c.cluster
        .create(&serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": NS}, "data": data}))
        .await
        .unwrap();
}

#[tokio::test]
async fn templates_look_up_live_objects_and_render_empty_maps_offline() {
    let dir = tempfile::tempdir().unwrap();
    let chart = chart(dir.path());

    // Offline (template, client dry runs): every cluster lookup is {}.
    let resolved = windlass::values::resolve(&chart, &values(&[], &[])).unwrap();
    let offline = windlass::render::render(
        &chart,
        &resolved,
        &windlass::render::RenderOptions::offline("r", NS),
    )
    .unwrap();
    let data = &offline.manifests[0].object["data"];
    assert_eq!(data["second"], "b", "Handlebars' lookup obj key");
    assert_eq!(data["seed"], "{}");
    assert!(data.get("chained").is_none());
    assert!(offline.lookups_wanted.is_empty());

    // Installed: the seed object, then the one its data names.
    let server = TestApiServer::start().await;
    let c = ctx(&server, NS, 0).await;
    action::install(&c, &chart, &values(&[], &[]), &opts("r"))
        .await
        .unwrap();
    let first = config_map(&server, NS, "seen");
    assert_eq!(first["data"]["seed"], "{}", "nothing to find yet");
    seed(&c, "seed", serde_json::json!({"next": "other", "x": "1"})).await;
    seed(&c, "other", serde_json::json!({"y": "2"})).await;
    action::upgrade(
        &c,
        &chart,
        &values(&[], &[]),
        &opts("r"),
        ValuesMode::Reset,
        false,
    )
    .await
    .unwrap();
    let seen = config_map(&server, NS, "seen");
    let seed_seen: serde_json::Value =
        serde_json::from_str(seen["data"]["seed"].as_str().unwrap()).unwrap();
    assert_eq!(seed_seen["data"]["x"], "1", "{seen}");
    assert_eq!(seed_seen["metadata"]["name"], "seed");
    let chained: serde_json::Value =
        serde_json::from_str(seen["data"]["chained"].as_str().unwrap()).unwrap();
    assert_eq!(
        chained["data"]["y"], "2",
        "a lookup named by another's answer"
    );
    // The list: seed, other and the release's own object.
    assert_eq!(seen["data"]["count"], "3", "{seen}");
}

#[test]
fn cluster_lookup_needs_four_strings() {
    let dir = tempfile::tempdir().unwrap();
    chart(dir.path());
    std::fs::write(
        dir.path().join("templates/bad.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bad\ndata:\n  a: {{quote (toJson (k8sLookup \"v1\" \"ConfigMap\" Release.Namespace))}}\n",
    )
    .unwrap();
    let chart = windlass::chart::load(dir.path()).unwrap();
    let resolved = windlass::values::resolve(&chart, &values(&[], &[])).unwrap();
    let err = windlass::render::render(
        &chart,
        &resolved,
        &windlass::render::RenderOptions::offline("r", NS),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("looker/templates/bad.yaml"), "{err}");
    assert!(
        err.contains("k8sLookup: needs four strings (apiVersion kind namespace name)"),
        "{err}"
    );
}
