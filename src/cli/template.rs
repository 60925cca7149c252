//! `windlass template RELEASE CHART`

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::ArgMatches;
use windlass::render::{self, RenderOptions, DEFAULT_KUBE_VERSION};
use windlass::values::{self, UserValues};

use super::ValuesArgs;

/// Render a chart's manifests locally, without a cluster.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Release name (Release.Name).
    pub release: String,
    /// Chart directory, .tgz archive, REPO/CHART from a repository added with `windlass repo add`, or oci://HOST/PATH/CHART.
    pub chart: PathBuf,
    #[command(flatten)]
    pub source: super::SourceArgs,
    #[command(flatten)]
    pub values: ValuesArgs,
    /// Namespace to render into (Release.Namespace).
    #[arg(short = 'n', long, default_value = "default")]
    pub namespace: String,
    /// Only print manifests from these templates (e.g. templates/configmap.yaml); repeatable.
    #[arg(short = 's', long = "show-only", value_name = "TEMPLATE")]
    pub show_only: Vec<String>,
    /// Write each template's manifests to DIR/<chart>/templates/<file> instead of stdout.
    #[arg(long, value_name = "DIR")]
    pub output_dir: Option<PathBuf>,
    /// Kubernetes version to render for (Capabilities.KubeVersion).
    #[arg(long, value_name = "VERSION", default_value = DEFAULT_KUBE_VERSION)]
    pub kube_version: String,
    /// Extra API versions for Capabilities.APIVersions (e.g. monitoring.coreos.com/v1); repeatable.
    #[arg(short = 'a', long = "api-versions", value_name = "VERSION")]
    pub api_versions: Vec<String>,
    /// Render as an upgrade (Release.IsUpgrade true) instead of an install.
    #[arg(long)]
    pub is_upgrade: bool,
    /// Also print the rendered NOTES.txt after the manifests.
    #[arg(long)]
    pub include_notes: bool,
    /// Check every object of a built-in kind against the Kubernetes schema
    /// (types, unknown and missing fields) and fail, printing nothing, if
    /// any does not match. Offline: custom resources are not checked.
    #[arg(long)]
    pub validate: bool,
}

fn matches_filter(source: &str, filter: &str) -> bool {
    let filter = filter.trim_start_matches("./");
    source == filter || source.ends_with(&format!("/{filter}"))
}

pub fn run(args: Args, matches: Option<&ArgMatches>) -> anyhow::Result<ExitCode> {
    let chart = super::load_chart(&args.chart, &args.source)?;
    let user = UserValues::load(&args.values.sources(matches))?;
    let resolved = values::resolve(&chart, &user)?;
    let mut opts = RenderOptions::offline(&args.release, &args.namespace);
    opts.kube_version = args.kube_version.clone();
    opts.is_install = !args.is_upgrade;
    opts.api_versions.extend(args.api_versions.iter().cloned());
    let mut rendered = render::render(&chart, &resolved, &opts)?;
    for w in &rendered.warnings {
        eprintln!("warning: {w}");
    }
    if args.validate {
        windlass::openapi::check_manifests(&rendered.manifests)?;
    }

    if !args.show_only.is_empty() {
        for f in &args.show_only {
            if !rendered
                .manifests
                .iter()
                .any(|m| matches_filter(&m.source, f))
            {
                bail!("--show-only {f}: no manifest was rendered from a template of that name");
            }
        }
        rendered
            .manifests
            .retain(|m| args.show_only.iter().any(|f| matches_filter(&m.source, f)));
    }

    if let Some(dir) = &args.output_dir {
        let mut by_file: std::collections::BTreeMap<&str, Vec<_>> = Default::default();
        for m in &rendered.manifests {
            by_file
                .entry(m.source.as_str())
                .or_default()
                .push(m.clone());
        }
        for (source, manifests) in by_file {
            let path = dir.join(source);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("creating {}", parent.display()))?;
            }
            std::fs::write(&path, render::manifest::to_stream(&manifests))
                .with_context(|| format!("writing {}", path.display()))?;
            println!("wrote {}", path.display());
        }
        return Ok(ExitCode::SUCCESS);
    }

    super::print_with(|out| {
        render::manifest::write_stream(&rendered.manifests, out)?;
        match &rendered.notes {
            Some(n) if args.include_notes => write!(out, "\nNOTES:\n{n}"),
            _ => Ok(()),
        }
    })?;
    // The process ends here: freeing hundreds of parsed objects one by one
    // would cost more than the rest of a large render's output.
    std::mem::forget((rendered, chart, resolved));
    Ok(ExitCode::SUCCESS)
}
