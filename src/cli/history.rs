//! `windlass history RELEASE`

use std::process::ExitCode;

use serde_json::Value;
use windlass::action;
use windlass::cluster::Cluster;

use super::output::{self, Format};
use super::{block_on, ClusterArgs};

/// Show a release's revisions.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Release name.
    pub release: String,
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = Format::Table)]
    pub output: Format,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let h = block_on(async {
        let cluster = Cluster::connect(&args.cluster.options()).await?;
        let ctx = output::context(cluster);
        Ok::<_, anyhow::Error>(action::history(&ctx, &args.release).await?)
    })??;
    output::warn_damaged(&h);
    if args.output != Format::Table {
        output::print_structured(
            &Value::Array(h.iter().map(output::summary).collect()),
            args.output,
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<String>> = h
        .iter()
        .map(|r| {
            vec![
                r.revision.to_string(),
                r.last_deployed.clone(),
                r.status.to_string(),
                format!("{}-{}", r.chart.name, r.chart.version),
                r.chart.app_version.clone(),
                r.description.clone(),
            ]
        })
        .collect();
    output::print_table(
        &[
            "REVISION",
            "UPDATED",
            "STATUS",
            "CHART",
            "APP VERSION",
            "DESCRIPTION",
        ],
        &rows,
    )?;
    Ok(ExitCode::SUCCESS)
}
