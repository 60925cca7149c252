//! Charts that bring their own Namespaces and CustomResourceDefinitions.
//! Objects of a type only the chart's CRD defines, or in a namespace only
//! the chart creates, cannot be dry-run before those exist: they are
//! planned and applied in a second phase, once the CRDs are Established
//! (and discovery has been read again) and the Namespaces exist. Helm's
//! `crds/` directory is installed before everything, on install only, and
//! never upgraded or deleted.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use serde_json::Value;

use super::ownership::check_ownership;
use super::session::Guard;
use super::{ActionError, Context, DeployOptions};
use crate::chart::Chart;
use crate::cluster::{describe, ClusterError, Planned};

/// The objects of a deploy, split by when they can be planned.
#[derive(Debug, Default)]
pub(super) struct Phases {
    /// Planned (server dry run) before anything is written.
    pub now: Vec<Value>,
    /// Planned after the first phase is applied.
    pub later: Vec<Value>,
}

fn group_of(api_version: &str) -> &str {
    api_version.split_once('/').map_or("", |(g, _)| g)
}

/// Splits `objects`: those whose type is defined by one of the chart's CRDs
/// (among the objects, or `crds`: its `crds/` directory, not installed
/// yet on a dry run) and not served yet, or whose namespace is one of the
/// chart's Namespaces and does not exist yet, go later.
pub(super) async fn split(
    ctx: &Context,
    objects: Vec<Value>,
    crds: &[Value],
) -> Result<Phases, ActionError> {
    let crd_kinds: HashSet<(String, String)> = objects
        .iter()
        .chain(crds)
        .filter(|o| o["kind"] == "CustomResourceDefinition")
        .filter_map(|o| {
            Some((
                o["spec"]["group"].as_str()?.to_string(),
                o["spec"]["names"]["kind"].as_str()?.to_string(),
            ))
        })
        .collect();
    let namespaces: HashSet<String> = objects
        .iter()
        .filter(|o| o["kind"] == "Namespace")
        .filter_map(|o| o["metadata"]["name"].as_str().map(str::to_string))
        .collect();
    let mut exists: HashMap<String, bool> = HashMap::new();
    let mut phases = Phases::default();
    for o in objects {
        let api_version = o["apiVersion"].as_str().unwrap_or("");
        let kind = o["kind"].as_str().unwrap_or("");
        let defined_here =
            crd_kinds.contains(&(group_of(api_version).to_string(), kind.to_string()));
        if defined_here {
            match ctx.cluster.prepare(&o).await {
                Err(ClusterError::UnknownKind { .. }) => {
                    phases.later.push(o);
                    continue;
                }
                Err(e) => return Err(e.into()),
                Ok(_) => {}
            }
        }
        if let Some(ns) = o["metadata"]["namespace"].as_str() {
            if namespaces.contains(ns) {
                let there = match exists.get(ns) {
                    Some(b) => *b,
                    None => {
                        let b = ctx
                            .cluster
                            .get("v1", "Namespace", None, ns)
                            .await?
                            .is_some();
                        exists.insert(ns.to_string(), b);
                        b
                    }
                };
                if !there {
                    phases.later.push(o);
                    continue;
                }
            }
        }
        phases.now.push(o);
    }
    Ok(phases)
}

/// Waits until the CRDs among `objects` are Established.
async fn established(
    ctx: &Context,
    objects: &[Value],
    timeout: Duration,
) -> Result<(), ActionError> {
    let crds: Vec<Value> = objects
        .iter()
        .filter(|o| o["kind"] == "CustomResourceDefinition")
        .cloned()
        .collect();
    if crds.is_empty() {
        return Ok(());
    }
    ctx.cluster
        .wait_ready_with(
            &crds,
            timeout,
            ctx.poll.min(Duration::from_millis(500)),
            &|_| {},
        )
        .await?;
    Ok(())
}

/// The second phase: once the first phase's CRDs are Established, plans
/// the objects left for later (the server validates them now), checks
/// their ownership and applies them.
pub(super) async fn apply_later(
    ctx: &Context,
    guard: &Guard<'_>,
    name: &str,
    first: &[Value],
    later: &[Value],
    opts: &DeployOptions,
) -> Result<(Vec<Planned>, Vec<Value>), ActionError> {
    if later.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    established(ctx, first, opts.timeout).await?;
    let plan = ctx
        .cluster
        .plan_for(
            later,
            opts.force_conflicts,
            &super::ownership::foreign(name, &ctx.namespace, opts.take_ownership),
        )
        .await?;
    check_ownership(&plan, name, &ctx.namespace, opts.take_ownership)?;
    guard.check()?;
    let proceed = || guard.check().is_ok();
    match ctx
        .cluster
        .execute_checked(&plan, opts.force_conflicts, &proceed)
        .await
    {
        Ok(stored) => Ok((plan, stored)),
        Err(ClusterError::Stopped) => {
            guard.check()?;
            Ok((plan, Vec::new()))
        }
        Err(e) => Err(e.into()),
    }
}

/// The chart's `crds/` files (not templated), each CustomResourceDefinition
/// in them.
pub(super) fn crds_dir(chart: &Chart) -> Result<Vec<Value>, ActionError> {
    let mut out = Vec::new();
    for (path, file) in chart.files.iter().filter(|(p, _)| {
        p.starts_with("crds/")
            && (p.ends_with(".yaml") || p.ends_with(".yml") || p.ends_with(".json"))
    }) {
        let text = String::from_utf8_lossy(&file.data);
        let source = format!("{}/{path}", chart.metadata.name);
        for m in crate::render::manifest::split(&source, &text)? {
            out.push(m.object);
        }
    }
    Ok(out)
}

/// Installs the chart's `crds/` directory as Helm does: each CRD is
/// created when missing and left alone when present (never upgraded,
/// never deleted), then waited for until Established.
pub(super) async fn install_crds_dir(
    ctx: &Context,
    chart: &Chart,
    timeout: Duration,
) -> Result<(), ActionError> {
    let crds = crds_dir(chart)?;
    let mut created = Vec::new();
    for crd in &crds {
        match ctx.cluster.create(crd).await {
            Ok(_) => {
                (ctx.progress)(&format!("installed {} from crds/", describe(crd)));
                created.push(crd.clone());
            }
            Err(ClusterError::AlreadyExists { .. }) => (ctx.progress)(&format!(
                "{} already exists; crds/ are never upgraded (apply changes to it yourself)",
                describe(crd)
            )),
            Err(e) => return Err(e.into()),
        }
    }
    established(ctx, &created, timeout).await
}
