//! `windlass drift RELEASE` (also `windlass status RELEASE --drift`)

use std::process::ExitCode;

use serde_json::json;
use windlass::action::{self, DriftState};
use windlass::cluster::Cluster;

use super::output::{self, Format};
use super::{block_on, ClusterArgs};

/// Compare the live objects with the deployed revision.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Release name.
    pub release: String,
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Re-apply the deployed revision to correct the drift (takes fields back from other managers, re-creates deleted objects).
    #[arg(long)]
    pub fix: bool,
    /// Exit 2 when there is drift, 0 when there is none (1 on errors).
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = Format::Table)]
    pub output: Format,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    report(
        &args.release,
        &args.cluster,
        args.fix,
        args.detailed_exitcode,
        args.output,
    )
}

/// Prints a drift report (and fixes it with `fix`).
pub fn report(
    release: &str,
    cluster: &ClusterArgs,
    fix: bool,
    detailed: bool,
    format: Format,
) -> anyhow::Result<ExitCode> {
    let (drift, fixed) = block_on(async {
        let ctx = output::context(Cluster::connect(&cluster.options()).await?);
        let drift = action::drift(&ctx, release).await?;
        let drifted = drift.iter().any(|d| d.state != DriftState::InSync);
        let fixed = if fix && drifted {
            Some(action::fix_drift(&ctx, release).await?)
        } else {
            None
        };
        Ok::<_, anyhow::Error>((drift, fixed))
    })??;
    let drifted = drift.iter().any(|d| d.state != DriftState::InSync);
    if format != Format::Table {
        let v: Vec<_> = drift
            .iter()
            .map(|d| match &d.state {
                DriftState::InSync => json!({"object": d.object, "state": "in-sync"}),
                DriftState::Missing => json!({"object": d.object, "state": "deleted"}),
                DriftState::Changed(f) => json!({"object": d.object, "state": "changed",
                    "fields": f.iter().map(|(field, manager)| json!({"field": field, "manager": manager})).collect::<Vec<_>>()}),
            })
            .collect();
        output::print_structured(
            &json!({"release": release, "drifted": drifted, "objects": v, "fixed": fixed}),
            format,
        )?;
    } else {
        let mut text = String::new();
        for d in &drift {
            match &d.state {
                DriftState::InSync => text.push_str(&format!("in sync  {}\n", d.object)),
                DriftState::Missing => text.push_str(&format!(
                    "deleted  {} (deleted outside windlass)\n",
                    d.object
                )),
                DriftState::Changed(fields) => {
                    text.push_str(&format!("changed  {}\n", d.object));
                    for (field, manager) in fields {
                        text.push_str(&format!("           {field} changed by {manager}\n"));
                    }
                }
            }
        }
        if !drifted {
            text.push_str(&format!(
                "release {release} matches its deployed revision\n"
            ));
        }
        if let Some(n) = fixed {
            text.push_str(&format!(
                "fixed: re-applied the deployed revision ({n} object(s) written)\n"
            ));
        }
        super::print_out(&text)?;
    }
    Ok(if detailed && drifted && fixed.is_none() {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}
