//! Hostile archives: every one is refused with a one-line error, nothing is
//! extracted, and decompression stops at the size limit.

mod common;

use std::io::Write;
use std::path::Path;

use common::{stderr, windlass};

const CHART_YAML: &[u8] = b"apiVersion: v2\nname: evil\nversion: 0.1.0\n";

/// A raw tar entry: the name is written byte for byte, bypassing the tar
/// crate's own path checks, so hostile names can be produced.
struct Entry<'a> {
    name: &'a str,
    kind: tar::EntryType,
    data: &'a [u8],
    link: Option<&'a str>,
    /// Size written in the header when it differs from the data.
    size: Option<u64>,
}

fn entry<'a>(name: &'a str, data: &'a [u8]) -> Entry<'a> {
    Entry {
        name,
        kind: tar::EntryType::Regular,
        data,
        link: None,
        size: None,
    }
}

fn tgz(entries: &[Entry<'_>]) -> Vec<u8> {
    let mut tar_bytes = Vec::new();
    for e in entries {
        let mut h = tar::Header::new_old();
        let name = e.name.as_bytes();
        h.as_old_mut().name[..name.len()].copy_from_slice(name);
        h.set_entry_type(e.kind);
        h.set_size(e.size.unwrap_or(e.data.len() as u64));
        h.set_mode(0o644);
        h.set_mtime(0);
        if let Some(l) = e.link {
            h.as_old_mut().linkname[..l.len()].copy_from_slice(l.as_bytes());
        }
        h.set_cksum();
        tar_bytes.extend_from_slice(h.as_bytes());
        tar_bytes.extend_from_slice(e.data);
        let pad = (512 - e.data.len() % 512) % 512;
        tar_bytes.extend(std::iter::repeat_n(0u8, pad));
    }
    tar_bytes.extend(std::iter::repeat_n(0u8, 1024));
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar_bytes).unwrap();
    gz.finish().unwrap()
}

fn load(bytes: &[u8]) -> Result<windlass::chart::Chart, String> {
    windlass::chart::load_archive_bytes(bytes, Path::new("evil.tgz")).map_err(|e| e.to_string())
}

fn refused(bytes: &[u8], expected: &str) {
    let e = load(bytes).expect_err("archive must be refused");
    assert!(e.starts_with("evil.tgz: "), "{e}");
    assert!(e.contains(expected), "expected `{expected}` in `{e}`");
    assert_eq!(e.lines().count(), 1, "{e}");
}

#[test]
fn a_well_formed_archive_loads() {
    let ok = tgz(&[
        entry("evil/Chart.yaml", CHART_YAML),
        entry("evil/values.yaml", b"a: 1\n"),
    ]);
    let c = load(&ok).unwrap();
    assert_eq!(c.name(), "evil");
    assert_eq!(c.values["a"], 1);
}

#[test]
fn path_attacks_are_refused() {
    refused(
        &tgz(&[entry("/etc/passwd", b"x")]),
        "absolute paths are not allowed",
    );
    refused(
        &tgz(&[
            entry("evil/Chart.yaml", CHART_YAML),
            entry("evil/../../x", b"x"),
        ]),
        "`..`",
    );
    refused(
        &tgz(&[entry("evil/Chart.yaml", CHART_YAML), entry("other/x", b"x")]),
        "outside the archive's single top directory",
    );
    refused(
        &tgz(&[
            entry("evil/Chart.yaml", CHART_YAML),
            entry("evil/Chart.yaml", CHART_YAML),
        ]),
        "duplicate entry",
    );
    refused(
        &tgz(&[entry("Chart.yaml", CHART_YAML)]),
        "files must sit inside the chart's top directory",
    );
}

#[test]
fn links_and_devices_are_refused() {
    let mut link = entry("evil/link", b"");
    link.kind = tar::EntryType::Symlink;
    link.link = Some("/etc/shadow");
    refused(
        &tgz(&[entry("evil/Chart.yaml", CHART_YAML), link]),
        "symbolic links are not allowed",
    );
    let mut hard = entry("evil/hard", b"");
    hard.kind = tar::EntryType::Link;
    hard.link = Some("evil/Chart.yaml");
    refused(
        &tgz(&[entry("evil/Chart.yaml", CHART_YAML), hard]),
        "hard links are not allowed",
    );
    for kind in [
        tar::EntryType::Char,
        tar::EntryType::Block,
        tar::EntryType::Fifo,
    ] {
        let mut dev = entry("evil/dev", b"");
        dev.kind = kind;
        refused(
            &tgz(&[entry("evil/Chart.yaml", CHART_YAML), dev]),
            "device files and FIFOs are not allowed",
        );
    }
}

#[test]
fn size_limits_stop_reading_early() {
    // A header that claims a 6 MiB file is refused before anything is read.
    let mut big = entry("evil/big", b"");
    big.size = Some(6 * 1024 * 1024);
    refused(
        &tgz(&[entry("evil/Chart.yaml", CHART_YAML), big]),
        "a chart file may be at most",
    );
    // A gzip bomb: 21 files of 5 MiB of zeros, 105 MiB in all.
    let zeros = vec![0u8; 5 * 1024 * 1024];
    let names: Vec<String> = (0..21).map(|i| format!("evil/z{i:02}")).collect();
    let mut entries = vec![entry("evil/Chart.yaml", CHART_YAML)];
    entries.extend(names.iter().map(|n| entry(n, &zeros)));
    let bomb = tgz(&entries);
    assert!(bomb.len() < 1024 * 1024, "the bomb is small compressed");
    refused(&bomb, "more than 104857600 bytes");
}

#[test]
fn corrupt_input_is_refused() {
    refused(b"PK\x03\x04 this is a zip", "not a gzip-compressed archive");
    refused(b"", "not a gzip-compressed archive");
    let ok = tgz(&[
        entry("evil/Chart.yaml", CHART_YAML),
        entry("evil/values.yaml", &[b'a'; 4000]),
    ]);
    for cut in [ok.len() / 2, ok.len() - 4] {
        let e = load(&ok[..cut]).expect_err("truncated archive must be refused");
        assert!(e.contains("truncated") || e.contains("corrupt"), "{e}");
    }
    let mut flipped = ok.clone();
    let n = flipped.len();
    flipped[n - 6] ^= 0xff; // the CRC
    assert!(load(&flipped).is_err());
    refused(&tgz(&[]), "archive holds no files");
}

#[test]
fn the_cli_reports_a_hostile_archive_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("evil.tgz"),
        tgz(&[entry("evil/../../etc/cron.d/x", b"x")]),
    )
    .unwrap();
    let out = windlass(&["template", "r", "evil.tgz"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.contains("evil.tgz: entry `evil/../../etc/cron.d/x`"),
        "{err}"
    );
    assert!(!dir.path().join("etc").exists(), "nothing is extracted");
    let out = windlass(&["lint", "evil.tgz"], dir.path());
    assert_eq!(out.status.code(), Some(1));
}

/// The same chart packages to the same bytes in every windlass version,
/// not only twice in one build: a dependency that switched flate2 to
/// another deflate backend (pgp 0.16 turns on zlib-rs for the whole build)
/// changes every package digest. The digest below is of miniz_oxide's
/// output at the best level.
#[test]
fn package_bytes_do_not_change_between_builds() {
    let mut files = windlass::chart::Files::new();
    for (path, data) in [
        (
            "Chart.yaml",
            "apiVersion: v2\nname: pinned\nversion: 1.0.0\n",
        ),
        ("values.yaml", "replicas: 3\n"),
        (
            "templates/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: pinned\ndata:\n  a: b\n",
        ),
    ] {
        files.insert(
            path.to_string(),
            windlass::chart::ChartFile {
                data: data.repeat(20).into_bytes(),
                executable: false,
            },
        );
    }
    let bytes = windlass::package::archive_bytes("pinned", &files, 0).unwrap();
    assert_eq!(
        windlass::package::sha256_hex(&bytes),
        "f9a53bbcd78a5f80c01817afe9ed34f8395eed56455d814ac3490728c8055e03",
        "the package bytes changed: is flate2 still on its miniz_oxide backend? (cargo tree -e features -i flate2)"
    );
}
