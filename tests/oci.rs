//! Charts in an OCI registry: a real one (Debian's `docker-registry`, the
//! CNCF distribution registry) started on 127.0.0.1 by the test. Pushed
//! with Helm's media types, pulled by tag, range and digest, and installed
//! by digest against the test API server. Without `docker-registry` on PATH
//! the tests say so and skip, unless WINDLASS_REQUIRE_REGISTRY=1 (which
//! `.ci/run` sets).

mod common;
mod support;

use std::process::{Child, Output};

use support::apiserver::TestApiServer;

/// A registry process, stopped on drop.
struct Registry {
    child: Child,
    host: String,
    _dir: tempfile::TempDir,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `docker-registry` on a free port: binds port 0 to find one,
/// releases it, starts the registry there, and tries another port when
/// something took it meanwhile (the registry then exits).
fn registry() -> Option<Registry> {
    let Ok(path) = which("docker-registry") else {
        assert!(
            std::env::var("WINDLASS_REQUIRE_REGISTRY").as_deref() != Ok("1"),
            "WINDLASS_REQUIRE_REGISTRY=1 but docker-registry is not on PATH (apt-get install docker-registry)"
        );
        eprintln!("NOTICE: docker-registry is not on PATH; skipping the OCI registry tests");
        return None;
    };
    for _ in 0..5 {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
                dir.path().join("data").display()
            ),
        )
        .unwrap();
        let mut child = std::process::Command::new(&path)
            .arg("serve")
            .arg(&config)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let host = format!("127.0.0.1:{port}");
        for _ in 0..100 {
            if let Ok(Some(_)) = child.try_wait() {
                break; // the port was taken: try another
            }
            if std::net::TcpStream::connect(&host).is_ok() {
                return Some(Registry {
                    child,
                    host,
                    _dir: dir,
                });
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let _ = child.kill();
    }
    panic!("docker-registry did not start on any of five ports");
}

fn which(cmd: &str) -> Result<std::path::PathBuf, ()> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join(cmd))
        .find(|p| p.is_file())
        .ok_or(())
}

struct Env {
    home: tempfile::TempDir,
}

impl Env {
    async fn run(&self, args: &[&str]) -> Output {
        let home = self.home.path().to_path_buf();
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            common::windlass_home(&home, &args, None)
        })
        .await
        .unwrap()
    }
}

fn text(o: &Output) -> String {
    common::output_text(o)
}

fn package(dir: &std::path::Path, version: &str) -> std::path::PathBuf {
    let c = dir.join("src/small");
    std::fs::create_dir_all(c.join("templates")).unwrap();
    std::fs::write(
        c.join("Chart.yaml"),
        "apiVersion: v2\nname: small\nversion: 0.1.0\ndescription: An OCI test chart\n",
    )
    .unwrap();
    std::fs::write(c.join("values.yaml"), "x: 1\n").unwrap();
    std::fs::write(
        c.join("templates/cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: oci-{{Release.Name}}\ndata:\n  version: {{quote Chart.Version}}\n",
    )
    .unwrap();
    let out = common::windlass(
        &[
            "package",
            c.to_str().unwrap(),
            "-d",
            dir.join("pkg").to_str().unwrap(),
            "--version",
            version,
        ],
        dir,
    );
    assert!(out.status.success(), "{}", common::stderr(&out));
    dir.join(format!("pkg/small-{version}.tgz"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn charts_push_to_a_registry_and_install_by_digest() {
    let Some(reg) = registry() else { return };
    let env = Env {
        home: tempfile::tempdir().unwrap(),
    };
    let base = format!("oci://{}/charts", reg.host);
    let v1 = package(env.home.path(), "1.0.0");
    let v2 = package(env.home.path(), "1.1.0+build.7");

    let out = env
        .run(&["push", v1.to_str().unwrap(), &base, "--plain-http"])
        .await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("Pushed: {base}/small:1.0.0")),
        "{}",
        text(&out)
    );
    let digest1 = text(&out)
        .lines()
        .find_map(|l| l.strip_prefix("Digest: "))
        .unwrap()
        .to_string();
    let out = env
        .run(&["push", v2.to_str().unwrap(), &base, "--plain-http"])
        .await;
    assert!(
        text(&out).contains(&format!("Pushed: {base}/small:1.1.0_build.7")),
        "`+` is written `_` in tags, as Helm does: {}",
        text(&out)
    );

    // What Helm reads: its media types, straight from the registry.
    let manifest: serde_json::Value = serde_json::from_slice(
        &reqwest::Client::new()
            .get(format!(
                "http://{}/v2/charts/small/manifests/1.0.0",
                reg.host
            ))
            .header("Accept", "application/vnd.oci.image.manifest.v1+json")
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.cncf.helm.config.v1+json"
    );
    assert_eq!(
        manifest["layers"][0]["mediaType"],
        "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
    );
    let config: serde_json::Value = serde_json::from_slice(
        &reqwest::Client::new()
            .get(format!(
                "http://{}/v2/charts/small/blobs/{}",
                reg.host,
                manifest["config"]["digest"].as_str().unwrap()
            ))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(config["name"], "small");
    assert_eq!(config["version"], "1.0.0");

    // By tag, by range (newest match, from the tag list), by digest.
    let chart = format!("{base}/small");
    let out = env
        .run(&[
            "template",
            "r",
            &chart,
            "--version",
            "1.0.0",
            "--plain-http",
        ])
        .await;
    assert!(text(&out).contains("version: 1.0.0"), "{}", text(&out));
    let out = env
        .run(&["template", "r", &chart, "--version", "^1.0", "--plain-http"])
        .await;
    assert!(
        text(&out).contains("version: 1.1.0+build.7"),
        "{}",
        text(&out)
    );
    let out = env
        .run(&[
            "pull",
            &format!("{chart}@{digest1}"),
            "--plain-http",
            "-d",
            "got",
        ])
        .await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        std::fs::read(env.home.path().join("got/small-1.0.0.tgz")).unwrap(),
        std::fs::read(&v1).unwrap(),
        "the pushed archive, byte for byte"
    );

    // Installed by digest into a cluster.
    let server = TestApiServer::start().await;
    let kc = server.kubeconfig_path().to_str().unwrap().to_string();
    let out = env
        .run(&[
            "install",
            "r",
            &format!("{chart}@{digest1}"),
            "--plain-http",
            "--kubeconfig",
            &kc,
            "-n",
            "oci",
            "--create-namespace",
        ])
        .await;
    assert!(out.status.success(), "{}", text(&out));
    let cm = server.object("", "configmaps", "oci", "oci-r").unwrap();
    assert_eq!(cm["data"]["version"], "1.0.0");

    let out = env
        .run(&["template", "r", &format!("{base}/missing"), "--plain-http"])
        .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("oci://"), "{}", text(&out));
    assert!(!text(&out).contains("panicked"), "{}", text(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_logins_are_kept_private() {
    let env = Env {
        home: tempfile::tempdir().unwrap(),
    };
    let out = env
        .run(&[
            "registry",
            "login",
            "127.0.0.1:5000",
            "-u",
            "me",
            "-p",
            "s3cret",
        ])
        .await;
    assert!(out.status.success(), "{}", text(&out));
    let file = env.home.path().join("config/registries.yaml");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&file).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    assert!(std::fs::read_to_string(&file)
        .unwrap()
        .contains("127.0.0.1:5000"));
    let out = env.run(&["registry", "logout", "127.0.0.1:5000"]).await;
    assert!(out.status.success(), "{}", text(&out));
    let out = env.run(&["registry", "logout", "127.0.0.1:5000"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("not logged in to 127.0.0.1:5000"),
        "{}",
        text(&out)
    );
}
