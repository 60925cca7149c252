//! Signed packages: `package --sign` writes Helm's provenance file;
//! `verify`, `template --verify` and `pull --verify` (from a repository)
//! refuse a tampered archive, a key not in the keyring, and a missing
//! provenance file, naming which. Keys are made by the test with the same
//! OpenPGP crate (Ed25519, no passphrase).

mod common;
mod support;

use std::path::Path;
use std::process::Output;

use pgp::types::SecretKeyTrait;
use pgp::{KeyType, SecretKeyParamsBuilder};
use support::http::serve;

/// Writes `NAME.sec.asc` and `NAME.pub.asc` for a new signing key.
fn keypair(dir: &Path, name: &str, user_id: &str) {
    let params = SecretKeyParamsBuilder::default()
        .key_type(KeyType::EdDSALegacy)
        .can_certify(true)
        .can_sign(true)
        .primary_user_id(user_id.into())
        .build()
        .unwrap();
    let key = params.generate(rand::thread_rng()).unwrap();
    let signed = key.sign(rand::thread_rng(), String::new).unwrap();
    let public = signed
        .public_key()
        .sign(rand::thread_rng(), &signed, String::new)
        .unwrap();
    std::fs::write(
        dir.join(format!("{name}.sec.asc")),
        signed.to_armored_string(None.into()).unwrap(),
    )
    .unwrap();
    std::fs::write(
        dir.join(format!("{name}.pub.asc")),
        public.to_armored_string(None.into()).unwrap(),
    )
    .unwrap();
}

fn chart(dir: &Path, version: &str) {
    let c = dir.join("src/small");
    std::fs::create_dir_all(c.join("templates")).unwrap();
    std::fs::write(
        c.join("Chart.yaml"),
        format!("apiVersion: v2\nname: small\nversion: {version}\ndescription: signed\n"),
    )
    .unwrap();
    std::fs::write(c.join("values.yaml"), "x: 1\n").unwrap();
    std::fs::write(
        c.join("templates/cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: v\ndata:\n  version: {{quote Chart.Version}}\n",
    )
    .unwrap();
}

fn run(dir: &Path, args: &[&str]) -> Output {
    common::windlass_home(dir, args, None)
}

fn text(o: &Output) -> String {
    common::output_text(o)
}

#[test]
fn signed_packages_verify_and_altered_ones_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    keypair(d, "release", "Windlass Release <release@example.com>");
    keypair(d, "mallory", "Mallory <mallory@example.com>");
    chart(d, "1.0.0");

    let out = run(
        d,
        &[
            "package",
            "src/small",
            "-d",
            "pkg",
            "--sign",
            "--key",
            "release",
            "--keyring",
            "release.sec.asc",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("Signed: pkg/small-1.0.0.tgz.prov"),
        "{}",
        text(&out)
    );
    let prov = std::fs::read_to_string(d.join("pkg/small-1.0.0.tgz.prov")).unwrap();
    let digest =
        windlass::package::sha256_hex(&std::fs::read(d.join("pkg/small-1.0.0.tgz")).unwrap());
    assert!(
        prov.starts_with("-----BEGIN PGP SIGNED MESSAGE-----"),
        "{prov}"
    );
    assert!(prov.contains("name: small"), "Chart.yaml is signed: {prov}");
    assert!(
        prov.contains("\n...\n"),
        "YAML's document end, as Helm writes: {prov}"
    );
    assert!(
        prov.contains(&format!("small-1.0.0.tgz: sha256:{digest}")),
        "{prov}"
    );
    assert!(prov.contains("-----BEGIN PGP SIGNATURE-----"), "{prov}");

    let out = run(
        d,
        &[
            "package",
            "src/small",
            "-d",
            "pkg",
            "--sign",
            "--key",
            "nobody",
            "--keyring",
            "release.sec.asc",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("no secret key whose user ID contains `nobody` (it has: Windlass Release <release@example.com>)"), "{}", text(&out));

    let out = run(
        d,
        &[
            "verify",
            "pkg/small-1.0.0.tgz",
            "--keyring",
            "release.pub.asc",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("Signed by: Windlass Release <release@example.com>"),
        "{}",
        text(&out)
    );
    let out = run(
        d,
        &[
            "template",
            "r",
            "pkg/small-1.0.0.tgz",
            "--verify",
            "--keyring",
            "release.pub.asc",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));

    // A key the keyring does not hold.
    let out = run(
        d,
        &[
            "verify",
            "pkg/small-1.0.0.tgz",
            "--keyring",
            "mallory.pub.asc",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("the signature does not verify against any key in mallory.pub.asc"),
        "{}",
        text(&out)
    );

    // A provenance file whose text was changed after signing.
    let forged = prov.replace("description: signed", "description: forged");
    std::fs::write(d.join("pkg/small-1.0.0.tgz.prov"), &forged).unwrap();
    let out = run(
        d,
        &[
            "verify",
            "pkg/small-1.0.0.tgz",
            "--keyring",
            "release.pub.asc",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("does not verify against any key"),
        "{}",
        text(&out)
    );
    std::fs::write(d.join("pkg/small-1.0.0.tgz.prov"), &prov).unwrap();

    // An archive replaced by another chart of the same name.
    chart(d, "1.0.1");
    let out = run(d, &["package", "src/small", "-d", "other"]);
    assert!(out.status.success(), "{}", text(&out));
    std::fs::copy(
        d.join("other/small-1.0.1.tgz"),
        d.join("pkg/small-1.0.0.tgz"),
    )
    .unwrap();
    for args in [
        vec![
            "verify",
            "pkg/small-1.0.0.tgz",
            "--keyring",
            "release.pub.asc",
        ],
        vec![
            "template",
            "r",
            "pkg/small-1.0.0.tgz",
            "--verify",
            "--keyring",
            "release.pub.asc",
        ],
    ] {
        let out = run(d, &args);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        assert!(
            text(&out).contains(&format!("does not match the signed digest sha256:{digest}")),
            "{}",
            text(&out)
        );
    }

    // No provenance file at all.
    std::fs::remove_file(d.join("pkg/small-1.0.0.tgz.prov")).unwrap();
    let out = run(
        d,
        &[
            "verify",
            "pkg/small-1.0.0.tgz",
            "--keyring",
            "release.pub.asc",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("pkg/small-1.0.0.tgz.prov: no provenance file"),
        "{}",
        text(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repository_chart_is_pulled_only_when_its_provenance_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().to_path_buf();
    keypair(&d, "release", "Windlass Release <release@example.com>");
    keypair(&d, "mallory", "Mallory <mallory@example.com>");
    chart(&d, "1.0.0");
    let out = run(
        &d,
        &[
            "package",
            "src/small",
            "-d",
            "served",
            "--sign",
            "--key",
            "Release",
            "--keyring",
            "release.sec.asc",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let out = run(&d, &["repo", "index", "served"]);
    assert!(out.status.success(), "{}", text(&out));
    let (url, _) = serve(d.join("served"), None).await;
    let dd = d.clone();
    let go = move |args: Vec<String>| {
        let dd = dd.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                let a: Vec<&str> = args.iter().map(String::as_str).collect();
                run(&dd, &a)
            })
            .await
            .unwrap()
        }
    };
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let out = go(s(&["repo", "add", "signed", &url])).await;
    assert!(out.status.success(), "{}", text(&out));
    let out = go(s(&[
        "pull",
        "signed/small",
        "--verify",
        "--keyring",
        "release.pub.asc",
        "-d",
        "got",
    ]))
    .await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        d.join("got/small-1.0.0.tgz.prov").exists(),
        "the provenance comes along"
    );
    let out = go(s(&[
        "pull",
        "signed/small",
        "--verify",
        "--keyring",
        "mallory.pub.asc",
        "-d",
        "got2",
    ]))
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("does not verify against any key in mallory.pub.asc"),
        "{}",
        text(&out)
    );
    assert!(!d.join("got2/small-1.0.0.tgz").exists(), "nothing written");

    // Unsigned in the repository: --verify refuses, naming the missing file.
    std::fs::remove_file(d.join("served/small-1.0.0.tgz.prov")).unwrap();
    let out = go(s(&[
        "template",
        "r",
        "signed/small",
        "--verify",
        "--keyring",
        "release.pub.asc",
    ]))
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("small-1.0.0.tgz.prov: no provenance file"),
        "{}",
        text(&out)
    );
}
