//! Embeds the Kubernetes OpenAPI v3 schemas (schemas/kubernetes/) for the
//! offline type check: each document's `components.schemas`, merged
//! (shared types such as ObjectMeta appear in every document, identically),
//! without descriptions, as gzip-compressed JSON in OUT_DIR.

use std::io::Write;
use std::path::Path;

fn strip(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(m) => {
            for k in [
                "description",
                "x-kubernetes-patch-merge-key",
                "x-kubernetes-patch-strategy",
                "example",
                "externalDocs",
            ] {
                m.remove(k);
            }
            m.values_mut().for_each(strip);
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(strip),
        _ => {}
    }
}

fn main() {
    let dir = Path::new("schemas/kubernetes");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("schemas/kubernetes exists")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.extension().is_some_and(|e| e == "json")
                && p.file_name().is_some_and(|n| n != "index.json")
        })
        .collect();
    files.sort();
    let mut all = serde_json::Map::new();
    for f in files {
        println!("cargo:rerun-if-changed={}", f.display());
        let text = std::fs::read_to_string(&f).expect("schema document readable");
        let mut doc: serde_json::Value =
            serde_json::from_str(&text).expect("schema document is JSON");
        if let Some(serde_json::Value::Object(schemas)) = doc
            .pointer_mut("/components/schemas")
            .map(serde_json::Value::take)
        {
            for (name, mut schema) in schemas {
                strip(&mut schema);
                all.insert(name, schema);
            }
        }
    }
    let json = serde_json::to_vec(&serde_json::Value::Object(all)).expect("serialises");
    let out =
        Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("kubernetes-schemas.json.gz");
    let file = std::fs::File::create(&out).expect("OUT_DIR writable");
    let mut gz = flate2::write::GzEncoder::new(file, flate2::Compression::best());
    gz.write_all(&json).expect("written");
    gz.finish().expect("written");
}
