//! `windlass lint CHART...`

use std::path::PathBuf;
use std::process::ExitCode;

use clap::ArgMatches;
use windlass::render::{RenderOptions, DEFAULT_KUBE_VERSION};
use windlass::values::UserValues;

use super::ValuesArgs;

/// Check charts: Chart.yaml, values against the schema, and rendering.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Chart directories or archives.
    #[arg(required = true, value_name = "CHART")]
    pub charts: Vec<PathBuf>,
    #[command(flatten)]
    pub values: ValuesArgs,
    /// Fail on warnings too.
    #[arg(long)]
    pub strict: bool,
    /// Kubernetes version to render for (Capabilities.KubeVersion).
    #[arg(long, value_name = "VERSION", default_value = DEFAULT_KUBE_VERSION)]
    pub kube_version: String,
    /// Namespace to render into (Release.Namespace).
    #[arg(short = 'n', long, default_value = "default")]
    pub namespace: String,
}

pub fn run(args: Args, matches: Option<&ArgMatches>) -> anyhow::Result<ExitCode> {
    let user = UserValues::load(&args.values.sources(matches))?;
    let mut opts = RenderOptions::offline("release-name", &args.namespace);
    opts.kube_version = args.kube_version.clone();
    let mut failed = 0;
    for path in &args.charts {
        let report = windlass::lint::lint(path, &user, &opts);
        println!("==> Linting {}", report.target);
        for f in &report.findings {
            println!("[{}] {}: {}", f.severity, f.subject, f.message);
        }
        if report.failed(args.strict) {
            failed += 1;
            println!("Error: chart {} failed lint", report.target);
        }
        println!();
    }
    println!(
        "{} chart(s) linted, {failed} chart(s) failed",
        args.charts.len()
    );
    Ok(if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
