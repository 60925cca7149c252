//! `windlass test RELEASE`

use std::process::ExitCode;

use windlass::action::{self, TestOptions};
use windlass::cluster::Cluster;

use super::output::parse_duration;
use super::{block_on, output, ClusterArgs};

/// Run a release's tests: the deployed revision's `test` hooks (Pods or
/// Jobs annotated `helm.sh/hook: test`), in weight order. Exits 1 when one
/// fails, naming it, with the last lines of its log.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Release name.
    pub release: String,
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// How long all tests together may run (e.g. 300s, 5m).
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    pub timeout: std::time::Duration,
    /// Print each test's log (its last 1000 lines) once it finished.
    #[arg(long)]
    pub logs: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let report = block_on(async {
        let cluster = Cluster::connect(&args.cluster.options()).await?;
        let ctx = output::writing_context(cluster);
        let opts = TestOptions {
            timeout: args.timeout,
            logs: args.logs.then_some(1000),
        };
        Ok::<_, anyhow::Error>(action::test(&ctx, &args.release, &opts).await?)
    })??;
    let mut text = format!("NAME: {}\nREVISION: {}\n", args.release, report.revision);
    if report.runs.is_empty() {
        text.push_str("TEST SUITE: none (the chart has no test hooks)\n");
    } else {
        for r in &report.runs {
            text.push_str(&format!(
                "TEST SUITE:     {}\nLast Started:   {}\nLast Completed: {}\nPhase:          {}\n",
                r.object, r.started, r.completed, r.phase
            ));
        }
    }
    for (hook, lines) in &report.logs {
        text.push_str(&format!("\nLOGS of {hook}:\n"));
        for l in lines {
            text.push_str(&format!("  {l}\n"));
        }
    }
    super::print_out(&text)?;
    match report.failure {
        None => Ok(ExitCode::SUCCESS),
        Some(e) => Err(e.into()),
    }
}
