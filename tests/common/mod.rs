//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod hdfs;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use windlass::render::{self, Manifest, RenderOptions};
use windlass::values::{self, SetFlag, SetKind, UserValues, ValueSources};

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs the windlass binary.
pub fn windlass(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_windlass"))
        .args(args)
        .current_dir(cwd)
        .env_remove("SOURCE_DATE_EPOCH")
        .output()
        .expect("the windlass binary runs")
}

/// stdout as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// stderr as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Renders the HDFS chart in-process with values files and `--set` flags.
pub fn render_hdfs(release: &str, namespace: &str, files: &[&str], sets: &[&str]) -> Vec<Manifest> {
    try_render_hdfs(release, namespace, files, sets).expect("the hdfs chart renders")
}

/// The HDFS chart's NOTES for values files and `--set` flags.
pub fn hdfs_notes(files: &[&str], sets: &[&str]) -> String {
    let chart = windlass::chart::load(&root().join("charts/hdfs")).expect("the hdfs chart loads");
    let user = UserValues::load(&value_sources(files, sets)).expect("values load");
    let resolved = values::resolve(&chart, &user).expect("values resolve");
    render::render(&chart, &resolved, &RenderOptions::offline("hdfs", "data"))
        .expect("the hdfs chart renders")
        .notes
        .expect("the hdfs chart has NOTES")
}

fn value_sources(files: &[&str], sets: &[&str]) -> ValueSources {
    ValueSources {
        files: files.iter().map(|f| root().join(f)).collect(),
        sets: sets
            .iter()
            .map(|s| SetFlag {
                kind: SetKind::Typed,
                expression: s.to_string(),
            })
            .collect(),
    }
}

/// Like [`render_hdfs`], returning the error as text.
pub fn try_render_hdfs(
    release: &str,
    namespace: &str,
    files: &[&str],
    sets: &[&str],
) -> Result<Vec<Manifest>, String> {
    let chart = windlass::chart::load(&root().join("charts/hdfs")).map_err(|e| e.to_string())?;
    let user = UserValues::load(&value_sources(files, sets)).map_err(|e| e.to_string())?;
    let resolved = values::resolve(&chart, &user).map_err(|e| e.to_string())?;
    let rendered = render::render(
        &chart,
        &resolved,
        &RenderOptions::offline(release, namespace),
    )
    .map_err(|e| e.to_string())?;
    Ok(rendered.manifests)
}

/// The manifests of one kind.
pub fn of_kind<'a>(m: &'a [Manifest], kind: &str) -> Vec<&'a Manifest> {
    m.iter().filter(|x| x.kind == kind).collect()
}

/// The one manifest of a kind whose name ends with `suffix`.
pub fn find<'a>(m: &'a [Manifest], kind: &str, suffix: &str) -> &'a Manifest {
    let found: Vec<_> = m
        .iter()
        .filter(|x| x.kind == kind && x.name.ends_with(suffix))
        .collect();
    assert_eq!(found.len(), 1, "exactly one {kind} named *{suffix}");
    found[0]
}

/// Compares `actual` with the golden file, or rewrites it when
/// `WINDLASS_UPDATE_GOLDEN=1`.
pub fn assert_golden(name: &str, actual: &str) {
    let path = root().join("tests/golden").join(name);
    if std::env::var("WINDLASS_UPDATE_GOLDEN").as_deref() == Ok("1") {
        std::fs::write(&path, actual).expect("golden file written");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "{} is missing; run with WINDLASS_UPDATE_GOLDEN=1",
            path.display()
        )
    });
    if expected != actual {
        let diff = similar_lines(&expected, actual);
        panic!("{name} differs from the golden file (WINDLASS_UPDATE_GOLDEN=1 to accept):\n{diff}");
    }
}

fn similar_lines(expected: &str, actual: &str) -> String {
    let mut out = String::new();
    for (i, (e, a)) in expected.lines().zip(actual.lines()).enumerate() {
        if e != a {
            out.push_str(&format!("line {}:\n- {e}\n+ {a}\n", i + 1));
            break;
        }
    }
    out.push_str(&format!(
        "({} lines expected, {} actual)",
        expected.lines().count(),
        actual.lines().count()
    ));
    out
}

/// Runs the windlass binary in `home` with its config and cache there
/// (`WINDLASS_CONFIG_HOME`, `WINDLASS_CACHE_HOME`), feeding `stdin`.
pub fn windlass_home(home: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_windlass"))
        .args(args)
        .current_dir(home)
        .env("WINDLASS_CONFIG_HOME", home.join("config"))
        .env("WINDLASS_CACHE_HOME", home.join("cache"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the windlass binary runs");
    if let Some(s) = stdin {
        child
            .stdin
            .take()
            .expect("piped stdin")
            .write_all(s.as_bytes())
            .expect("stdin written");
    }
    drop(child.stdin.take());
    child.wait_with_output().expect("the windlass binary ends")
}

/// stdout then stderr, as one text.
pub fn output_text(o: &Output) -> String {
    format!("{}{}", stdout(o), stderr(o))
}

/// Writes an executable script (a stub command for a script under test).
pub fn write_exec(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    let mut perm = std::fs::metadata(path).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o755);
    std::fs::set_permissions(path, perm).unwrap();
}
