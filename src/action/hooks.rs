//! Running a release's hooks for one event, as Helm does: in weight order,
//! each created (after its earlier copy is deleted, by default), waited for
//! until its Job completes or its Pod exits, its delete policies applied.
//! A failed hook stops the event's remaining hooks; its reason and the last
//! lines of its log go into the error.

use std::time::Duration;

use serde_json::Value;

use super::ownership::{delete_live, owned_by, with_ownership};
use super::session::Guard;
use super::{ActionError, Context};
use crate::cluster::ready::{completion, Completion};
use crate::cluster::{describe, ClusterError, Propagation};
use crate::hook::{self, DeletePolicy, Event, Hook};
use crate::release::{self, HookRun};

/// Lines of a failed hook's log put into its error.
const LOG_LINES: i64 = 20;

/// What runs one event's hooks needs.
pub(super) struct Runner<'a> {
    pub ctx: &'a Context,
    pub guard: &'a Guard<'a>,
    pub release: &'a str,
    /// Bounds each event's hooks together (`--timeout`).
    pub timeout: Duration,
    /// Each hook's outcome, in the order they ran.
    pub runs: std::sync::Mutex<Vec<HookRun>>,
    /// When set, up to this many lines of each hook's log are kept once it
    /// finished (`windlass test --logs`), before a delete policy removes it.
    pub keep_logs: Option<i64>,
    /// The kept logs: (hook, lines).
    pub logs: std::sync::Mutex<Vec<(String, Vec<String>)>>,
}

/// The hooks of a manifest's objects that run at `event`, in order.
pub(super) fn of(objects: &[Value], event: Event) -> Result<Vec<Hook>, ActionError> {
    hook::for_event(objects, event).map_err(|e| ActionError::BadHook(e.to_string()))
}

/// One line per hook that will run at `event`, for plans and diffs:
/// `pre-upgrade: Job hdfs/hdfs-decommission (weight -5)`.
pub(super) async fn plan_lines(
    ctx: &Context,
    objects: &[Value],
    events: &[Event],
) -> Result<Vec<String>, ActionError> {
    let mut out = Vec::new();
    for &e in events {
        for h in of(objects, e)? {
            let (_, prepared) = ctx.cluster.prepare(&h.object).await?;
            out.push(format!(
                "{e}: {} (weight {})",
                describe(&prepared),
                h.weight
            ));
        }
    }
    Ok(out)
}

impl<'a> Runner<'a> {
    pub(super) fn new(
        ctx: &'a Context,
        guard: &'a Guard<'a>,
        release: &'a str,
        timeout: Duration,
    ) -> Runner<'a> {
        Runner {
            ctx,
            guard,
            release,
            timeout,
            runs: std::sync::Mutex::new(Vec::new()),
            keep_logs: None,
            logs: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// What ran so far.
    pub(super) fn runs(&self) -> Vec<HookRun> {
        self.runs.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Runs the hooks of `objects` for `event`; the first failure stops.
    pub(super) async fn run(&self, objects: &[Value], event: Event) -> Result<(), ActionError> {
        let hooks = of(objects, event)?;
        if hooks.is_empty() {
            return Ok(());
        }
        let deadline = tokio::time::Instant::now() + self.timeout;
        let mut created = Vec::new();
        for h in &hooks {
            let live = self.run_one(h, event, deadline).await?;
            created.push((h, live));
        }
        // Helm deletes `hook-succeeded` hooks once all of the event's hooks
        // succeeded, so a later hook may still read an earlier one.
        for (h, live) in created {
            if h.deleted_on(DeletePolicy::HookSucceeded) {
                self.guard.check()?;
                delete_live(self.ctx, &live, Propagation::Background).await?;
            }
        }
        Ok(())
    }

    fn record(&self, run: HookRun) {
        self.runs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(run);
    }

    async fn run_one(
        &self,
        h: &Hook,
        event: Event,
        deadline: tokio::time::Instant,
    ) -> Result<Value, ActionError> {
        let ctx = self.ctx;
        let obj = with_ownership(&h.object, self.release, &ctx.namespace);
        let (_, obj) = ctx.cluster.prepare(&obj).await?;
        let what = describe(&obj);
        let fail = |reason: String, logs: Vec<String>| ActionError::Hook {
            event: event.to_string(),
            object: what.clone(),
            reason,
            logs,
        };
        if let Some(old) = ctx.cluster.get_object(&obj).await? {
            if !owned_by(&old, self.release, &ctx.namespace) {
                return Err(fail(
                    format!(
                        "an object of that name exists and is not release {}'s; delete it or rename the hook",
                        self.release
                    ),
                    Vec::new(),
                ));
            }
            if !h.deleted_on(DeletePolicy::BeforeHookCreation) {
                return Err(fail(
                    "it still exists from an earlier run and its delete policy has no before-hook-creation; delete it first".into(),
                    Vec::new(),
                ));
            }
            self.guard.check()?;
            delete_live(ctx, &old, Propagation::Background).await?;
            // A Job's pods may hold it (foreground) or a finalizer may: the
            // new copy can only be created once the old one is gone.
            let left = remaining(deadline);
            ctx.cluster
                .wait_deleted(&[old], left, ctx.poll, &|_| {})
                .await
                .map_err(|e| {
                    fail(
                        format!("its earlier copy is still being deleted: {e}"),
                        Vec::new(),
                    )
                })?;
        }
        self.guard.check()?;
        (ctx.progress)(&format!("running {event} hook {what}"));
        let started = release::now();
        let created = ctx.cluster.create(&obj).await?;
        let outcome = tokio::select! {
            r = self.wait(&created, deadline) => r?,
            e = self.guard.stopped() => return Err(e),
        };
        let mut run = HookRun {
            event: event.to_string(),
            object: what.clone(),
            weight: h.weight,
            phase: "Succeeded".into(),
            started,
            completed: String::new(),
            message: String::new(),
        };
        if let Some(n) = self.keep_logs {
            let lines = self.last_logs(&created, n).await;
            self.logs
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((what.clone(), lines));
        }
        match outcome {
            Ok(live) => {
                run.completed = release::now();
                self.record(run);
                (ctx.progress)(&format!("{event} hook {what} succeeded"));
                Ok(live)
            }
            Err((live, reason)) => {
                let logs = self.last_logs(&created, LOG_LINES).await;
                run.phase = "Failed".into();
                run.completed = release::now();
                run.message = reason.clone();
                self.record(run);
                if h.deleted_on(DeletePolicy::HookFailed) {
                    if let Some(live) = &live {
                        delete_live(ctx, live, Propagation::Background).await?;
                    }
                }
                Err(fail(reason, logs))
            }
        }
    }

    /// Polls the hook until it finishes: `Ok(live)` when it succeeded,
    /// `Err((live, why))` when it failed, timed out or vanished.
    async fn wait(
        &self,
        created: &Value,
        deadline: tokio::time::Instant,
    ) -> Result<Result<Value, (Option<Value>, String)>, ActionError> {
        let ctx = self.ctx;
        let mut last = String::new();
        loop {
            let Some(live) = ctx.cluster.get_object(created).await? else {
                return Ok(Err((None, "it was deleted before it finished".into())));
            };
            if live["metadata"]["uid"] != created["metadata"]["uid"] {
                return Ok(Err((None, "it was replaced before it finished".into())));
            }
            match completion(&live) {
                Completion::Succeeded => return Ok(Ok(live)),
                Completion::Failed(why) => return Ok(Err((Some(live), why))),
                Completion::Running(now) => {
                    if now != last {
                        (ctx.progress)(&format!("  {}: {now}", describe(created)));
                        last = now;
                    }
                }
            }
            if tokio::time::Instant::now() + ctx.poll > deadline {
                return Ok(Err((
                    Some(live),
                    format!(
                        "did not finish within {}s ({last}); raise --timeout if it needs longer",
                        self.timeout.as_secs()
                    ),
                )));
            }
            tokio::time::sleep(ctx.poll).await;
        }
    }

    /// The last lines of the failed hook's log: a Pod's own, a Job's
    /// newest Pod's. Logs that cannot be read are said so, not an error.
    async fn last_logs(&self, created: &Value, lines: i64) -> Vec<String> {
        let ctx = self.ctx;
        let ns = created["metadata"]["namespace"]
            .as_str()
            .unwrap_or(&ctx.namespace)
            .to_string();
        let name = created["metadata"]["name"].as_str().unwrap_or_default();
        let pod = match created["kind"].as_str() {
            Some("Pod") => Some(name.to_string()),
            Some("Job") => match ctx
                .cluster
                .job_pods(&ns, name, created["metadata"]["uid"].as_str())
                .await
            {
                Ok(pods) => pods
                    .first()
                    .and_then(|p| p["metadata"]["name"].as_str())
                    .map(str::to_string),
                Err(e) => return vec![format!("(its pods could not be listed: {e})")],
            },
            _ => None,
        };
        let Some(pod) = pod else {
            return Vec::new();
        };
        match ctx.cluster.logs(&ns, &pod, None, lines).await {
            Ok(text) => text.lines().map(|l| format!("{pod}: {l}")).collect(),
            Err(ClusterError::NotFound { .. }) => Vec::new(),
            Err(e) => vec![format!("(the log of {pod} could not be read: {e})")],
        }
    }
}

fn remaining(deadline: tokio::time::Instant) -> Duration {
    deadline.saturating_duration_since(tokio::time::Instant::now())
}
