//! One operation's hold on a release: its Lease, the history read under
//! it (after recovering what interrupted operations left behind), and the
//! guard every write phase checks so that a lost lock or a signal stops
//! the operation before its next write.

use super::{ActionError, Context, History, Interrupt};
use crate::release::lock::Lock;
use crate::release::Status;

/// Checked before each write: the lock must still be held, and the user
/// must not have asked to stop.
pub(super) struct Guard<'a> {
    lock: Option<&'a Lock>,
    interrupt: Option<&'a Interrupt>,
    release: String,
}

impl<'a> Guard<'a> {
    /// The same lock, deaf to interrupts: for the undo an interrupt asked
    /// for, which must run to its end.
    pub(super) fn lock_only(&self) -> Guard<'a> {
        Guard {
            lock: self.lock,
            interrupt: None,
            release: self.release.clone(),
        }
    }

    /// Fails when the lock is lost or the user asked to stop.
    pub(super) fn check(&self) -> Result<(), ActionError> {
        if let Some(why) = self.lock.and_then(Lock::lost) {
            return Err(ActionError::LockLost {
                release: self.release.clone(),
                why,
            });
        }
        if self.interrupt.is_some_and(Interrupt::raised) {
            return Err(ActionError::Interrupted);
        }
        Ok(())
    }

    /// Resolves with the reason to stop when there is one: for racing
    /// against long waits (readiness), which have no writes to stop between.
    pub(super) async fn stopped(&self) -> ActionError {
        let lost = async {
            match self.lock {
                Some(l) => l.until_lost().await,
                None => std::future::pending().await,
            }
        };
        let interrupted = async {
            match self.interrupt {
                Some(i) => loop {
                    if i.raised() {
                        return;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                },
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            why = lost => ActionError::LockLost { release: self.release.clone(), why },
            () = interrupted => ActionError::Interrupted,
        }
    }
}

/// Runs `op` holding the release's Lease, with the history after recovering
/// what interrupted operations left behind; the Lease is released whatever
/// happens.
pub(super) async fn locked<T>(
    ctx: &Context,
    name: &str,
    op: impl AsyncFnOnce(History, &Guard<'_>) -> Result<T, ActionError>,
) -> Result<T, ActionError> {
    let lock = Lock::acquire(ctx.cluster.clone(), &ctx.namespace, name, ctx.lock_duration).await?;
    let guard = Guard {
        lock: Some(&lock),
        interrupt: Some(&ctx.interrupt),
        release: name.to_string(),
    };
    let result = match recover(ctx, name, &lock).await {
        Ok(history) => op(history, &guard).await,
        Err(e) => Err(e),
    };
    drop(guard);
    if let Err(e) = lock.release().await {
        (ctx.progress)(&format!(
            "warning: could not release the release lock ({e}); it expires on its own"
        ));
    }
    result
}

/// Reads history and fixes what interrupted operations left behind: a
/// pending revision (we hold the lock, so nobody is working on it) becomes
/// failed, and older duplicates of `deployed` become superseded.
async fn recover(ctx: &Context, name: &str, lock: &Lock) -> Result<History, ActionError> {
    let store = ctx.store();
    let mut records = store.history(name).await?;
    let newest_deployed = records
        .iter()
        .filter(|r| r.status == Status::Deployed)
        .map(|r| r.revision)
        .max();
    for r in records.iter_mut() {
        if let Some(why) = &r.damaged {
            // Never written back: its content is unknown.
            (ctx.progress)(&format!("warning: {why}; left as it is"));
            continue;
        }
        if r.status.is_pending() {
            r.status = Status::Failed;
            r.description = match &lock.took_over_from {
                Some(h) => format!(
                    "{} interrupted: its operation (held by {h}) stopped before finishing",
                    r.description
                ),
                None => format!(
                    "{} interrupted: its operation stopped before finishing",
                    r.description
                ),
            };
            store.save(r).await?;
            (ctx.progress)(&format!(
                "marked interrupted revision {} as failed",
                r.revision
            ));
        } else if r.status == Status::Deployed && Some(r.revision) != newest_deployed {
            r.status = Status::Superseded;
            store.save(r).await?;
        }
    }
    Ok(History::new(name, &ctx.namespace, records))
}
