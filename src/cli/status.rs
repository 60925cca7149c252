//! `windlass status RELEASE`

use std::process::ExitCode;

use windlass::action;
use windlass::cluster::Cluster;

use super::output::{self, Format};
use super::{block_on, ClusterArgs};

/// Show a release's status (latest revision unless --revision).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Release name.
    pub release: String,
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Revision to show.
    #[arg(long)]
    pub revision: Option<u64>,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = Format::Table)]
    pub output: Format,
    /// Compare the live objects with the deployed revision instead (as `windlass drift`).
    #[arg(long)]
    pub drift: bool,
    /// With --drift: re-apply the deployed revision to correct it.
    #[arg(long, requires = "drift")]
    pub fix: bool,
    /// With --drift: exit 2 when there is drift.
    #[arg(long, requires = "drift")]
    pub detailed_exitcode: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.drift {
        return super::drift::report(
            &args.release,
            &args.cluster,
            args.fix,
            args.detailed_exitcode,
            args.output,
        );
    }
    let r = block_on(async {
        let cluster = Cluster::connect(&args.cluster.options()).await?;
        let ctx = output::context(cluster);
        Ok::<_, anyhow::Error>(action::get(&ctx, &args.release, args.revision).await?)
    })??;
    output::warn_damaged([&r]);
    if args.output != Format::Table {
        let mut v = output::summary(&r);
        v["notes"] = serde_json::Value::String(r.notes.clone());
        v["hooks"] = serde_json::to_value(&r.hooks)?;
        output::print_structured(&v, args.output)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut text = format!(
        "NAME: {}\nLAST DEPLOYED: {}\nNAMESPACE: {}\nSTATUS: {}\nREVISION: {}\nCHART: {}-{}\nDESCRIPTION: {}\n",
        r.name, r.last_deployed, r.namespace, r.status, r.revision, r.chart.name, r.chart.version, r.description
    );
    if !r.hooks.is_empty() {
        text.push_str("HOOKS (last run):\n");
        for h in &r.hooks {
            text.push_str(&format!(
                "  {:<14} {:<45} {:<9} {}{}\n",
                h.event,
                h.object,
                h.phase,
                h.completed,
                if h.message.is_empty() {
                    String::new()
                } else {
                    format!("  ({})", h.message)
                }
            ));
        }
    }
    if !r.notes.trim().is_empty() {
        text.push_str(&format!("NOTES:\n{}\n", r.notes.trim_end()));
    }
    super::print_out(&text)?;
    Ok(ExitCode::SUCCESS)
}
