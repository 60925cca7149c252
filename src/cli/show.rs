//! `windlass show chart|values|schema|readme CHART`

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;

use super::print_out;

/// Show part of a chart.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// What to show.
    pub what: What,
    /// Chart directory or .tgz archive.
    pub chart: PathBuf,
}

/// The part of a chart to show.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum What {
    /// Chart.yaml.
    Chart,
    /// values.yaml (the defaults, as written).
    Values,
    /// values.schema.json.
    Schema,
    /// README.md.
    Readme,
}

fn file(chart: &windlass::chart::Chart, name: &str) -> Option<String> {
    chart
        .files
        .get(name)
        .map(|f| String::from_utf8_lossy(&f.data).into_owned())
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let chart = windlass::chart::load(&args.chart)?;
    let text = match args.what {
        What::Chart => file(&chart, "Chart.yaml"),
        What::Values => Some(file(&chart, "values.yaml").unwrap_or_default()),
        What::Schema => file(&chart, "values.schema.json"),
        What::Readme => chart.readme(),
    };
    match text {
        Some(t) => print_out(&t)?,
        None => bail!(
            "{}: the chart has no {:?} file",
            args.chart.display(),
            args.what
        ),
    }
    Ok(ExitCode::SUCCESS)
}
