//! Reading releases: history, one revision, the list.

use super::{ActionError, Context};
use crate::release::{Release, Status};

/// A release's history, oldest first.
pub async fn history(ctx: &Context, name: &str) -> Result<Vec<Release>, ActionError> {
    let h = ctx.history(name).await?;
    if h.records().is_empty() {
        return Err(h.not_found());
    }
    Ok(h.records().to_vec())
}

/// Every record of a release, oldest first (empty when there are none).
pub async fn store_history(ctx: &Context, name: &str) -> Vec<Release> {
    ctx.store().history(name).await.unwrap_or_default()
}

/// One revision (default: the latest).
pub async fn get(ctx: &Context, name: &str, revision: Option<u64>) -> Result<Release, ActionError> {
    let h = ctx.history(name).await?;
    match revision {
        None => h.latest().cloned().ok_or_else(|| h.not_found()),
        Some(r) => h.revision(r).cloned(),
    }
}

/// Releases in the namespace (or all), latest revision of each.
pub async fn list(
    ctx: &Context,
    all_namespaces: bool,
    all: bool,
) -> Result<Vec<Release>, ActionError> {
    let mut l = ctx.store().list(all_namespaces).await?;
    if !all {
        l.retain(|r| {
            matches!(r.status, Status::Deployed | Status::Failed) || r.status.is_pending()
        });
    }
    Ok(l)
}
