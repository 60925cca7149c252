//! Command-line definitions (clap) and output formatting. One file per
//! subcommand; each turns flags into library calls and library errors into
//! one readable message.

mod cluster_info;
mod completion;
mod create;
mod diff;
mod drift;
mod get;
mod history;
mod install;
mod lint;
mod list;
mod output;
mod package;
mod pull;
mod push;
mod registry;
mod repo;
mod rollback;
mod search;
mod show;
mod status;
mod template;
mod test;
mod uninstall;
mod upgrade;
mod verify;
mod version;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser, Subcommand};
use windlass::values::{SetFlag, SetKind, ValueSources};

/// windlass: package, render and install Helm-style charts.
#[derive(Debug, Parser)]
#[command(name = "windlass", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a new chart directory that lints and renders cleanly.
    Create(create::Args),
    /// Check a chart: Chart.yaml, values against the schema, and rendering.
    Lint(lint::Args),
    /// Render a chart's manifests locally, without a cluster.
    Template(template::Args),
    /// Package a chart directory into a deterministic NAME-VERSION.tgz.
    Package(package::Args),
    /// Show a chart's Chart.yaml, values, schema or README.
    Show(show::Args),
    /// Work with chart repositories: add, update, list, remove, index.
    Repo(repo::Args),
    /// Search the added repositories for charts.
    Search(search::Args),
    /// Download a chart from a repository or an OCI registry (verified against its digest).
    Pull(pull::Args),
    /// Push a packaged chart to an OCI registry.
    Push(push::Args),
    /// Log in to or out of OCI registries.
    Registry(registry::Args),
    /// Verify a packaged chart against its provenance file.
    Verify(verify::Args),
    /// Check the connection to the cluster: API server, version, namespace.
    ClusterInfo(cluster_info::Args),
    /// Install a chart as a new release in the cluster.
    Install(install::Args),
    /// Upgrade a release to a chart and values.
    Upgrade(upgrade::Args),
    /// Roll a release back to an earlier revision.
    Rollback(rollback::Args),
    /// Uninstall a release (volumes and their claims are kept).
    Uninstall(uninstall::Args),
    /// Run a release's tests (its `test` hooks) and report each one.
    Test(test::Args),
    /// Show a release's revisions.
    History(history::Args),
    /// Show a release's status.
    Status(status::Args),
    /// List releases.
    List(list::Args),
    /// Show a revision's values, manifest or notes.
    Get(get::Args),
    /// Show what upgrade or rollback would change, or how two revisions differ.
    Diff(diff::Args),
    /// Compare the live objects with the deployed revision (and fix drift).
    Drift(drift::Args),
    /// Print windlass's version.
    Version(version::Args),
    /// Print a shell completion script.
    Completion(completion::Args),
}

/// Flags that supply values, shared by every command that renders.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ValuesArgs {
    /// Values file (YAML) to merge over the chart's defaults; repeat for
    /// several, later files win. `-` reads standard input.
    #[arg(short = 'f', long = "values", value_name = "FILE")]
    pub values: Vec<PathBuf>,
    /// Set values: a.b=c,d[0]=e,list={x,y}. true/false/null and integers are
    /// typed; escape '.' and ',' in keys or values with '\'.
    #[arg(long = "set", value_name = "EXPR")]
    pub set: Vec<String>,
    /// Like --set, but every value stays a string.
    #[arg(long = "set-string", value_name = "EXPR")]
    pub set_string: Vec<String>,
    /// Set values from JSON: key={"a":1},other=[1,2.5].
    #[arg(long = "set-json", value_name = "EXPR")]
    pub set_json: Vec<String>,
    /// Set values from files: key=path (the file's text becomes the value).
    #[arg(long = "set-file", value_name = "EXPR")]
    pub set_file: Vec<String>,
}

impl ValuesArgs {
    /// The value sources, with the `--set*` flags in command-line order.
    pub fn sources(&self, matches: Option<&ArgMatches>) -> ValueSources {
        let mut sets: Vec<(usize, SetFlag)> = Vec::new();
        let groups = [
            ("set", SetKind::Typed, &self.set),
            ("set_string", SetKind::String, &self.set_string),
            ("set_json", SetKind::Json, &self.set_json),
            ("set_file", SetKind::File, &self.set_file),
        ];
        for (id, kind, exprs) in groups {
            let indices: Vec<usize> = matches
                .and_then(|m| m.indices_of(id))
                .map(|i| i.collect())
                .unwrap_or_default();
            for (n, expr) in exprs.iter().enumerate() {
                let index = indices.get(n).copied().unwrap_or(usize::MAX);
                sets.push((
                    index,
                    SetFlag {
                        kind,
                        expression: expr.clone(),
                    },
                ));
            }
        }
        sets.sort_by_key(|(i, _)| *i);
        ValueSources {
            files: self.values.clone(),
            sets: sets.into_iter().map(|(_, s)| s).collect(),
        }
    }
}

/// Flags that choose the cluster, shared by every command that talks to one.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ClusterArgs {
    /// Kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then the
    /// in-cluster service account).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context to use (default: the current context).
    #[arg(long = "kube-context", value_name = "CONTEXT")]
    pub kube_context: Option<String>,
    /// Namespace (default: the context's namespace, else "default").
    #[arg(short = 'n', long, value_name = "NAMESPACE")]
    pub namespace: Option<String>,
}

impl ClusterArgs {
    /// Connection options for the library.
    pub fn options(&self) -> windlass::cluster::ConnectOptions {
        windlass::cluster::ConnectOptions {
            kubeconfig: self.kubeconfig.clone(),
            context: self.kube_context.clone(),
            namespace: self.namespace.clone(),
        }
    }
}

/// Runs a future on a fresh runtime: only commands that talk to a cluster
/// need one.
pub fn block_on<F: std::future::Future>(f: F) -> anyhow::Result<F::Output> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    Ok(rt.block_on(f))
}

/// Parses the command line, runs the command, and maps errors to exit
/// codes: 0 success, 1 error, 2 usage.
pub fn run() -> ExitCode {
    let matches = match Cli::command().try_get_matches() {
        Ok(m) => m,
        Err(e) => {
            // clap prints usage errors (exit 2) and --help/--version (exit 0).
            let _ = e.print();
            return ExitCode::from(e.exit_code().clamp(0, 255) as u8);
        }
    };
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(2);
        }
    };
    let sub = matches.subcommand().map(|(_, m)| m);
    let result = match cli.command {
        Command::Create(a) => create::run(a),
        Command::Lint(a) => lint::run(a, sub),
        Command::Template(a) => template::run(a, sub),
        Command::Package(a) => package::run(a),
        Command::Show(a) => show::run(a),
        Command::Repo(a) => repo::run(a),
        Command::Search(a) => search::run(a),
        Command::Pull(a) => pull::run(a),
        Command::Push(a) => push::run(a),
        Command::Registry(a) => registry::run(a),
        Command::Verify(a) => verify::run(a),
        Command::ClusterInfo(a) => cluster_info::run(a),
        Command::Install(a) => install::run(a, sub),
        Command::Upgrade(a) => upgrade::run(a, sub),
        Command::Rollback(a) => rollback::run(a),
        Command::Uninstall(a) => uninstall::run(a),
        Command::Test(a) => test::run(a),
        Command::History(a) => history::run(a),
        Command::Status(a) => status::run(a),
        Command::List(a) => list::run(a),
        Command::Get(a) => get::run(a),
        Command::Diff(a) => diff::run(a, sub),
        Command::Drift(a) => drift::run(a),
        Command::Version(a) => version::run(a),
        Command::Completion(a) => completion::run(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("Error: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// Writes to stdout, treating a closed pipe (`windlass template ... | head`)
/// as success rather than a panic.
pub fn print_out(text: &str) -> anyhow::Result<()> {
    print_with(|out| std::io::Write::write_all(out, text.as_bytes()))
}

/// Writes to stdout through `write`, buffered; a reader that went away
/// (`| head`) is not an error.
pub fn print_with(
    write: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
    match write(&mut out).and_then(|_| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

/// Where a chart comes from, for REPO/CHART and oci:// references.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SourceArgs {
    /// With REPO/CHART or oci://: the version, or a semver range such as ^1.2 (default: the newest stable).
    #[arg(long, value_name = "RANGE")]
    pub version: Option<String>,
    /// Talk to an OCI registry over plain HTTP (a registry without TLS, such as one on 127.0.0.1).
    #[arg(long)]
    pub plain_http: bool,
    /// Refuse the chart unless its provenance file (CHART.tgz.prov) verifies against --keyring: signed by a key you trust, the archive unchanged.
    #[arg(long)]
    pub verify: bool,
    /// With --verify: the keys to trust (armored or binary, e.g. from `gpg --export`).
    #[arg(long, value_name = "FILE", default_value = "~/.gnupg/pubring.gpg")]
    pub keyring: String,
}

/// `--verify`: checks an archive against its provenance text, or fails
/// naming what is missing or wrong.
pub fn check_provenance(
    source: &SourceArgs,
    archive: &std::path::Path,
    file_name: &str,
    prov: Option<String>,
    prov_name: &str,
) -> anyhow::Result<()> {
    use windlass::package::provenance::{verify_bytes, ProvenanceError};
    if !source.verify {
        return Ok(());
    }
    let Some(prov) = prov else {
        return Err(ProvenanceError::Missing {
            archive: file_name.to_string(),
            prov: prov_name.to_string(),
        }
        .into());
    };
    let bytes = std::fs::read(archive)?;
    let keyring = expand_home(&source.keyring);
    let v = verify_bytes(&bytes, file_name, &prov, prov_name, &keyring)?;
    eprintln!("verified: {file_name} signed by {}", v.signed_by.join(", "));
    Ok(())
}

/// Loads CHART: a chart directory or archive; `oci://HOST/PATH/CHART`
/// (`:TAG`, `@sha256:DIGEST`, or `--version`); else `REPO/CHART` from a
/// configured repository at `--version` (a semver range; default the
/// newest stable), downloaded and verified against the repository's
/// digest. Every caller renders it next, so its templates compile on
/// another core while it loads ([`windlass::chart::load_to_render`]).
pub fn load_chart(
    chart: &std::path::Path,
    source: &SourceArgs,
) -> anyhow::Result<windlass::chart::Chart> {
    let text = chart.to_string_lossy();
    let version = source.version.as_deref();
    let paths = windlass::repo::Paths::from_env();
    if text.starts_with("oci://") {
        let pulled = block_on(windlass::repo::oci::pull(
            &paths,
            &text,
            version,
            source.plain_http,
        ))??;
        eprintln!("using {text} {} ({}, verified)", pulled.tag, pulled.digest);
        let chart = windlass::chart::load_to_render(&pulled.archive)?;
        let name = format!("{}-{}.tgz", chart.metadata.name, chart.metadata.version);
        let layer = format!("{text} (provenance layer)");
        check_provenance(source, &pulled.archive, &name, pulled.prov, &layer)?;
        return Ok(chart);
    }
    let is_ref = !chart.exists()
        && text.split('/').count() == 2
        && !text.starts_with('.')
        && !text.ends_with(".tgz");
    if !is_ref {
        if version.is_some() {
            eprintln!(
                "warning: --version applies to charts from repositories; {text} is a local chart"
            );
        }
        if source.verify {
            if chart.is_dir() {
                anyhow::bail!(
                    "--verify needs a packaged chart (.tgz with its .prov); {text} is a directory"
                );
            }
            let v = windlass::package::provenance::verify(chart, &expand_home(&source.keyring))?;
            eprintln!("verified: {text} signed by {}", v.signed_by.join(", "));
        }
        return Ok(windlass::chart::load_to_render(chart)?);
    }
    let fetched = block_on(windlass::repo::fetch_chart(&paths, &text, version))?;
    let (path, entry) = match fetched {
        Ok(f) => f,
        Err(e @ windlass::repo::RepoError::UnknownRepo { .. }) => {
            anyhow::bail!("{text}: no such chart directory or archive, and {e}")
        }
        Err(e) => return Err(e.into()),
    };
    eprintln!(
        "using {text} {} (sha256 {}, verified)",
        entry.version,
        entry.digest.trim_start_matches("sha256:")
    );
    if source.verify {
        let (prov, url) = block_on(windlass::repo::fetch_provenance(&paths, &text, &entry))??;
        let file_name = entry
            .urls
            .first()
            .and_then(|u| u.rsplit('/').next())
            .unwrap_or_default()
            .to_string();
        check_provenance(source, &path, &file_name, prov, &url)?;
    }
    Ok(windlass::chart::load_to_render(&path)?)
}

/// `~/x` as `$HOME/x` (a default path written for the help text).
pub fn expand_home(path: &str) -> PathBuf {
    match (path.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn set_flags_keep_command_line_order() {
        let m = Cli::command()
            .try_get_matches_from([
                "windlass",
                "template",
                "r",
                "c",
                "--set-string",
                "a=1",
                "--set",
                "b=2",
                "--set-json",
                "c=3",
                "--set",
                "d=4",
            ])
            .unwrap();
        let cli = Cli::from_arg_matches(&m).unwrap();
        let Command::Template(t) = cli.command else {
            panic!("parsed the wrong command");
        };
        let sources = t.values.sources(m.subcommand().map(|(_, s)| s));
        let exprs: Vec<_> = sources.sets.iter().map(|s| s.expression.as_str()).collect();
        assert_eq!(exprs, ["a=1", "b=2", "c=3", "d=4"]);
        assert_eq!(sources.sets[0].kind, SetKind::String);
    }
}
