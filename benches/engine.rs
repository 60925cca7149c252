//! Rendering, packaging and loading speed. Run with `cargo bench`; results
//! and the command that produced them are written down in docs/benchmarks.md.

use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion};
use windlass::render::{self, RenderOptions};
use windlass::values::{self, UserValues};

/// The binary's allocator (src/main.rs), so in-process figures are those of
/// the code `windlass` runs.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// And its options (src/main.rs: heap in transparent huge pages).
#[cfg(not(target_env = "msvc"))]
#[export_name = "_rjem_malloc_conf"]
static MALLOC_CONF: &[u8; 11] = b"thp:always\0";

/// Writes a chart whose one template renders `objects` ConfigMaps and
/// Services, each using partials and the common helpers.
fn synthetic_chart(dir: &Path, objects: usize) {
    std::fs::create_dir_all(dir.join("templates")).unwrap();
    std::fs::write(
        dir.join("Chart.yaml"),
        "apiVersion: v2\nname: bench\nversion: 1.0.0\nappVersion: \"1\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("values.yaml"),
        format!(
            "count: {}\nlabels:\n  team: data\n  tier: storage\ndata:\n  a: \"1\"\n  b: two\n",
            objects / 2
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("templates/_labels.yaml"),
        "app.kubernetes.io/name: {{Chart.Name}}\napp.kubernetes.io/instance: {{Release.Name}}\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("templates/objects.yaml"),
        r#"{{#each (range Values.count) as |i|}}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{@root.Release.Name}}-cm-{{i}}
  labels:{{nindent 4 (include "labels" @root)}}
{{indent 4 (toYaml @root.Values.labels)}}
data:{{nindent 2 (toYaml @root.Values.data)}}
  checksum: {{quote (sha256sum (printf "%s-%d" @root.Release.Name i))}}
---
apiVersion: v1
kind: Service
metadata:
  name: {{@root.Release.Name}}-svc-{{i}}
  labels:{{nindent 4 (include "labels" @root)}}
spec:
  selector:
    app: {{@root.Release.Name}}
  ports:
    - port: {{add 8000 i}}
{{/each}}
"#,
    )
    .unwrap();
}

fn bench_render(c: &mut Criterion) {
    for objects in [300usize, 1000] {
        let dir = tempfile::tempdir().unwrap();
        synthetic_chart(dir.path(), objects);
        let chart = windlass::chart::load(dir.path()).unwrap();
        let opts = RenderOptions::offline("bench", "default");
        c.bench_function(&format!("render {objects} objects"), |b| {
            b.iter(|| {
                let resolved = values::resolve(&chart, &UserValues::default()).unwrap();
                let r = render::render(&chart, &resolved, &opts).unwrap();
                assert_eq!(r.manifests.len(), objects);
            })
        });
    }
}

fn bench_hdfs(c: &mut Criterion) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let chart = windlass::chart::load(&root.join("charts/hdfs")).unwrap();
    let opts = RenderOptions::offline("hdfs", "hdfs");
    c.bench_function("render hdfs chart (defaults)", |b| {
        b.iter(|| {
            let resolved = values::resolve(&chart, &UserValues::default()).unwrap();
            render::render(&chart, &resolved, &opts).unwrap()
        })
    });
    c.bench_function("load hdfs chart directory", |b| {
        b.iter(|| windlass::chart::load(&root.join("charts/hdfs")).unwrap())
    });
}

fn bench_package(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let chart_dir = dir.path().join("small");
    windlass::chart::starter::create(&chart_dir).unwrap();
    let chart = windlass::chart::load(&chart_dir).unwrap();
    c.bench_function("package small chart (in memory)", |b| {
        b.iter(|| windlass::package::archive_bytes("small", &chart.files, 0).unwrap())
    });
    let bytes = windlass::package::archive_bytes("small", &chart.files, 0).unwrap();
    c.bench_function("load small chart archive", |b| {
        b.iter(|| windlass::chart::load_archive_bytes(&bytes, Path::new("small.tgz")).unwrap())
    });
}

/// `windlass template` as a user runs it (a new process each time): the
/// HDFS poc example, and the same at 200 datanodes x 4 volumes (813
/// objects, 801 of them hostPath PersistentVolumes), issue 11's big render.
fn bench_template_process(c: &mut Criterion) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let example = root.join("charts/hdfs/examples/poc-single-node.yaml");
    let run = |extra: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_windlass"))
            .args(["template", "hdfs"])
            .arg(root.join("charts/hdfs"))
            .arg("-f")
            .arg(&example)
            .args(extra)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout.len()
    };
    c.bench_function("template hdfs poc example (whole process)", |b| {
        b.iter(|| run(&[]))
    });
    c.bench_function(
        "template hdfs 200 datanodes x 4 volumes (whole process)",
        |b| b.iter(|| run(&["--set", "datanode.replicas=200,datanode.volumesPerPod=4"])),
    );
}

criterion_group!(
    benches,
    bench_render,
    bench_hdfs,
    bench_package,
    bench_template_process
);
criterion_main!(benches);
