//! Chart repositories end to end: charts packaged and indexed by windlass,
//! served by an HTTP server on 127.0.0.1 (with basic auth for a private
//! one), added, searched, rendered and pulled by version range, every
//! download checked against the index's digest.

mod common;
mod support;

use support::http::serve;

use std::path::Path;
use std::process::Output;
use std::sync::atomic::Ordering;

struct Env {
    home: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        Env {
            home: tempfile::tempdir().unwrap(),
        }
    }

    async fn run(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let home = self.home.path().to_path_buf();
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let stdin = stdin.map(str::to_string);
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            common::windlass_home(&home, &args, stdin.as_deref())
        })
        .await
        .unwrap()
    }
}

fn text(o: &Output) -> String {
    common::output_text(o)
}

/// Packages versions of a small chart into `dir` and indexes them.
fn publish(dir: &Path, versions: &[&str]) {
    let src = tempfile::tempdir().unwrap();
    let c = src.path().join("small");
    std::fs::create_dir_all(c.join("templates")).unwrap();
    std::fs::write(
        c.join("Chart.yaml"),
        "apiVersion: v2\nname: small\nversion: 0.1.0\ndescription: A small chart for repository tests\nkeywords: [demo]\n",
    )
    .unwrap();
    std::fs::write(c.join("values.yaml"), "x: 1\n").unwrap();
    std::fs::write(
        c.join("templates/cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: v\ndata:\n  version: {{quote Chart.Version}}\n",
    )
    .unwrap();
    for v in versions {
        let out = common::windlass(
            &[
                "package",
                c.to_str().unwrap(),
                "-d",
                dir.to_str().unwrap(),
                "--version",
                v,
            ],
            src.path(),
        );
        assert!(out.status.success(), "{}", common::stderr(&out));
    }
    let out = common::windlass(&["repo", "index", dir.to_str().unwrap()], src.path());
    assert!(out.status.success(), "{}", common::stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repository_serves_charts_by_version_range_verified_by_digest() {
    let served = tempfile::tempdir().unwrap();
    publish(served.path(), &["1.0.0", "1.2.0", "2.0.0"]);
    let (url, requests) = serve(served.path().to_path_buf(), None).await;
    let env = Env::new();

    let out = env.run(&["repo", "add", "demo", &url], None).await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("\"demo\" has been added to your repositories (3 chart versions)"));
    let config = env.home.path().join("config/repositories.yaml");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&config).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600, "the repository list holds credentials");

    let out = env.run(&["search", "repo", "small"], None).await;
    let t = text(&out);
    assert!(t.contains("demo/small") && t.contains("2.0.0"), "{t}");
    assert_eq!(t.lines().count(), 2, "newest version only: {t}");
    let out = env
        .run(&["search", "repo", "DEMO", "--versions"], None)
        .await;
    assert_eq!(
        text(&out).lines().count(),
        4,
        "keywords match, every version: {}",
        text(&out)
    );

    // A range picks the newest match; no range the newest stable.
    let out = env
        .run(&["template", "r", "demo/small", "--version", "^1.0"], None)
        .await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("version: 1.2.0"), "{}", text(&out));
    assert!(
        text(&out).contains("using demo/small 1.2.0 (sha256 "),
        "{}",
        text(&out)
    );
    let out = env.run(&["template", "r", "demo/small"], None).await;
    assert!(text(&out).contains("version: 2.0.0"), "{}", text(&out));

    // Installed into a cluster by range.
    let server = support::apiserver::TestApiServer::start().await;
    let kc = server.kubeconfig_path().to_str().unwrap().to_string();
    let out = env
        .run(
            &[
                "install",
                "r",
                "demo/small",
                "--version",
                "~1.2",
                "--kubeconfig",
                &kc,
                "-n",
                "repo",
                "--create-namespace",
            ],
            None,
        )
        .await;
    assert!(out.status.success(), "{}", text(&out));
    let cm = server.object("", "configmaps", "repo", "v").unwrap();
    assert_eq!(cm["data"]["version"], "1.2.0");
    let out = env
        .run(&["history", "r", "--kubeconfig", &kc, "-n", "repo"], None)
        .await;
    assert!(text(&out).contains("small-1.2.0"), "{}", text(&out));

    // The cache is keyed by digest: the same version again is not downloaded.
    let before = requests.load(Ordering::SeqCst);
    let out = env
        .run(&["template", "r", "demo/small", "--version", "1.2.0"], None)
        .await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        requests.load(Ordering::SeqCst),
        before,
        "served from the cache"
    );

    let out = env
        .run(
            &["pull", "demo/small", "--version", "~1.0", "-d", "charts"],
            None,
        )
        .await;
    assert!(out.status.success(), "{}", text(&out));
    let pulled = std::fs::read(env.home.path().join("charts/small-1.0.0.tgz")).unwrap();
    assert_eq!(
        pulled,
        std::fs::read(served.path().join("small-1.0.0.tgz")).unwrap()
    );

    let out = env
        .run(&["template", "r", "demo/small", "--version", ">=3"], None)
        .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("no version matching `>=3` (it has: "),
        "{}",
        text(&out)
    );

    // Someone replaces an archive on the server: the digest no longer
    // matches the index, and the download is refused.
    let other = tempfile::tempdir().unwrap();
    publish(other.path(), &["3.0.0"]);
    std::fs::copy(
        other.path().join("small-3.0.0.tgz"),
        served.path().join("small-2.0.0.tgz"),
    )
    .unwrap();
    std::fs::remove_dir_all(env.home.path().join("cache/charts")).ok();
    let out = env
        .run(&["template", "r", "demo/small", "--version", "2.0.0"], None)
        .await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("does not match the digest in the repository index"),
        "{}",
        text(&out)
    );
    assert!(!text(&out).contains("panicked"));

    let out = env.run(&["template", "r", "nope/small"], None).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("nope/small: no such chart directory or archive, and no repository named `nope` (configured: demo)"),
        "{}",
        text(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_repository_needs_its_credentials() {
    let served = tempfile::tempdir().unwrap();
    publish(served.path(), &["1.0.0"]);
    let (url, _) = serve(served.path().to_path_buf(), Some("reader:s3cret")).await;
    let env = Env::new();

    let out = env.run(&["repo", "add", "private", &url], None).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("HTTP 401 (check the repository's --username/--password or --token)"),
        "{}",
        text(&out)
    );
    assert!(
        !env.home.path().join("config/repositories.yaml").exists(),
        "nothing added"
    );

    let out = env
        .run(
            &[
                "repo",
                "add",
                "private",
                &url,
                "--username",
                "reader",
                "--password-stdin",
            ],
            Some("s3cret\n"),
        )
        .await;
    assert!(out.status.success(), "{}", text(&out));
    let out = env.run(&["pull", "private/small", "-d", "out"], None).await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(env.home.path().join("out/small-1.0.0.tgz").exists());

    let out = env.run(&["repo", "list"], None).await;
    assert!(
        text(&out).contains(&format!("private  {url}")),
        "{}",
        text(&out)
    );
    assert!(
        !text(&out).contains("s3cret"),
        "credentials are not printed"
    );
    let out = env.run(&["repo", "update"], None).await;
    assert!(
        text(&out).contains("updated \"private\" (1 chart versions)"),
        "{}",
        text(&out)
    );
    let out = env.run(&["repo", "remove", "private"], None).await;
    assert!(out.status.success(), "{}", text(&out));
    let out = env.run(&["repo", "list"], None).await;
    assert!(text(&out).contains("no repositories"), "{}", text(&out));
}
