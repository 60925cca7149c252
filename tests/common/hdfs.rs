//! Helpers for the HDFS chart tests: examples, Hadoop XML properties, objects by component.

use std::collections::BTreeMap;

use windlass::render::Manifest;

use super::find;

/// The committed example values files.
pub const EXAMPLES: &[&str] = &[
    "poc-single-node",
    "production",
    "minimal",
    "ha",
    "everything-on",
];

/// The path of an example values file.
pub fn example(name: &str) -> String {
    format!("charts/hdfs/examples/{name}.yaml")
}

/// Properties of a Hadoop XML configuration file.
pub fn props(xml: &str) -> BTreeMap<String, String> {
    let unescape = |s: &str| {
        s.replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&amp;", "&")
    };
    let mut out = BTreeMap::new();
    for line in xml.lines() {
        let Some(rest) = line.trim().strip_prefix("<property><name>") else {
            continue;
        };
        let (name, rest) = rest
            .split_once("</name><value>")
            .expect("well-formed property");
        let value = rest
            .strip_suffix("</value></property>")
            .expect("well-formed property");
        out.insert(unescape(name), unescape(value));
    }
    out
}

/// The properties of one Hadoop XML file in the config ConfigMap.
pub fn config(m: &[Manifest], file: &str) -> BTreeMap<String, String> {
    let cm = find(m, "ConfigMap", "-config");
    props(
        cm.object["data"][file]
            .as_str()
            .expect("config file present"),
    )
}

/// The StatefulSet of a component.
pub fn sts<'a>(m: &'a [Manifest], component: &str) -> &'a Manifest {
    find(m, "StatefulSet", &format!("-{component}"))
}

/// The config checksum annotation of a component's pods.
pub fn checksum(m: &[Manifest], component: &str) -> String {
    sts(m, component).object["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
        .as_str()
        .expect("checksum annotation")
        .to_string()
}
