//! `windlass list`

use std::process::ExitCode;

use serde_json::Value;
use windlass::action;
use windlass::cluster::Cluster;

use super::output::{self, Format};
use super::{block_on, ClusterArgs};

/// List releases (deployed and failed ones unless --all).
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// List releases in every namespace.
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    /// Include superseded, uninstalled and other releases.
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = Format::Table)]
    pub output: Format,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let l = block_on(async {
        let cluster = Cluster::connect(&args.cluster.options()).await?;
        let ctx = output::context(cluster);
        Ok::<_, anyhow::Error>(action::list(&ctx, args.all_namespaces, args.all).await?)
    })??;
    output::warn_damaged(&l);
    if args.output != Format::Table {
        output::print_structured(
            &Value::Array(l.iter().map(output::summary).collect()),
            args.output,
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<String>> = l
        .iter()
        .map(|r| {
            vec![
                r.name.clone(),
                r.namespace.clone(),
                r.revision.to_string(),
                r.last_deployed.clone(),
                r.status.to_string(),
                format!("{}-{}", r.chart.name, r.chart.version),
                r.chart.app_version.clone(),
            ]
        })
        .collect();
    output::print_table(
        &[
            "NAME",
            "NAMESPACE",
            "REVISION",
            "UPDATED",
            "STATUS",
            "CHART",
            "APP VERSION",
        ],
        &rows,
    )?;
    Ok(ExitCode::SUCCESS)
}
