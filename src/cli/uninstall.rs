//! `windlass uninstall RELEASE`

use std::process::ExitCode;

use windlass::action;
use windlass::cluster::{Cluster, Propagation};

use super::output::parse_duration;
use super::{block_on, output, ClusterArgs};

/// Uninstall a release. Its PersistentVolumes and claims are kept and listed.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Release name.
    pub release: String,
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Keep the release's history (status uninstalled) instead of deleting its records.
    #[arg(long)]
    pub keep_history: bool,
    /// Wait until every deleted object is gone from the cluster (finalizers
    /// and the garbage collector can keep objects for a while after a delete).
    #[arg(long)]
    pub wait: bool,
    /// What happens to dependents of the deleted objects (the pods of a
    /// StatefulSet): `background` deletes them after the object (as kubectl
    /// and Helm do), `foreground` keeps the object until they are gone,
    /// `orphan` leaves them running.
    #[arg(
        long,
        default_value = "background",
        value_name = "background|foreground|orphan"
    )]
    pub cascade: Propagation,
    /// Also delete the release's Namespaces and CustomResourceDefinitions.
    /// Off by default: deleting either deletes every object in it.
    #[arg(long)]
    pub delete_namespaces_and_crds: bool,
    /// How long --wait waits, and how long pre-delete and post-delete hooks may run (e.g. 300s, 5m).
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    pub timeout: std::time::Duration,
    /// Run no pre-delete or post-delete hooks.
    #[arg(long)]
    pub no_hooks: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (out, ns) = block_on(async {
        let cluster = Cluster::connect(&args.cluster.options()).await?;
        let ctx = output::writing_context(cluster);
        let ns = ctx.namespace.clone();
        let opts = action::UninstallOptions {
            keep_history: args.keep_history,
            wait: args.wait,
            timeout: args.timeout,
            cascade: args.cascade,
            delete_namespaces_and_crds: args.delete_namespaces_and_crds,
            no_hooks: args.no_hooks,
        };
        let out = action::uninstall(&ctx, &args.release, &opts).await?;
        Ok::<_, anyhow::Error>((out, ns))
    })??;
    let mut text = format!(
        "release \"{}\" uninstalled ({} object(s) deleted)\n",
        args.release,
        out.deleted.len()
    );
    if !out.hooks.is_empty() {
        text.push_str("Hooks:\n");
        for h in &out.hooks {
            text.push_str(&format!("  {h}\n"));
        }
    }
    if !out.skipped.is_empty() {
        text.push_str("Left alone (no longer this release's: re-created or adopted since):\n");
        for k in &out.skipped {
            text.push_str(&format!("  {k}\n"));
        }
    }
    if !out.kept.is_empty() {
        text.push_str("Kept (resource-policy keep, data, or a Namespace/CRD without --delete-namespaces-and-crds):\n");
        text.push_str(&kept_lines(&out.kept));
    }
    if !out.claims.is_empty() {
        text.push_str(&format!(
            "These PersistentVolumeClaims still hold the release's data and were not deleted:\n  {}\nDelete them (and their data) only when you no longer need it:\n  kubectl -n {ns} delete pvc {}\n",
            out.claims.join("\n  "),
            out.claims.join(" ")
        ));
    }
    super::print_out(&text)?;
    Ok(ExitCode::SUCCESS)
}

/// Most shown of a long list of kept objects: a release with hundreds of
/// PersistentVolumes would otherwise print hundreds of lines.
const KEPT_SHOWN: usize = 10;

/// The kept objects, one per line, at most [`KEPT_SHOWN`] of them, then a
/// count per kind of the rest.
fn kept_lines(kept: &[String]) -> String {
    let mut text = String::new();
    for k in kept.iter().take(KEPT_SHOWN) {
        text.push_str(&format!("  {k}\n"));
    }
    let mut rest: std::collections::BTreeMap<&str, usize> = Default::default();
    for k in kept.iter().skip(KEPT_SHOWN) {
        *rest
            .entry(k.split(' ').next().unwrap_or("object"))
            .or_default() += 1;
    }
    if !rest.is_empty() {
        let counts: Vec<String> = rest.iter().map(|(kind, n)| format!("{n} {kind}")).collect();
        text.push_str(&format!(
            "  ... and {} more ({})\n",
            kept.len() - KEPT_SHOWN,
            counts.join(", ")
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_kept_list_is_shortened_with_counts_per_kind() {
        let short: Vec<String> = (0..3).map(|i| format!("PersistentVolume pv-{i}")).collect();
        assert_eq!(
            kept_lines(&short),
            "  PersistentVolume pv-0\n  PersistentVolume pv-1\n  PersistentVolume pv-2\n"
        );
        let mut long: Vec<String> = (0..801)
            .map(|i| format!("PersistentVolume pv-{i}"))
            .collect();
        long.push("ConfigMap hdfs/kept".into());
        let text = kept_lines(&long);
        assert_eq!(text.lines().count(), KEPT_SHOWN + 1);
        assert!(
            text.ends_with("  ... and 792 more (1 ConfigMap, 791 PersistentVolume)\n"),
            "{text}"
        );
    }
}
