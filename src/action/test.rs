//! `test`: runs the deployed revision's `test` hooks (Helm's `helm test`)
//! and records how they ended in that revision's record.

use std::time::Duration;

use super::hooks::Runner;
use super::ownership::split_hooks;
use super::session::locked;
use super::{ActionError, Context, History};
use crate::hook::Event;
use crate::release::{self, HookRun};

/// How to run a release's tests.
#[derive(Debug, Clone)]
pub struct TestOptions {
    /// Bounds all tests together.
    pub timeout: Duration,
    /// Keep each test's log (its last this many lines) for printing.
    pub logs: Option<i64>,
}

impl Default for TestOptions {
    fn default() -> Self {
        TestOptions {
            timeout: Duration::from_secs(300),
            logs: None,
        }
    }
}

/// What the tests did.
#[derive(Debug)]
pub struct TestReport {
    /// The revision tested.
    pub revision: u64,
    /// Each test's outcome, in the order they ran.
    pub runs: Vec<HookRun>,
    /// Each test's log lines, when asked for.
    pub logs: Vec<(String, Vec<String>)>,
    /// The first failure; `None` when every test passed.
    pub failure: Option<ActionError>,
}

/// Runs the deployed revision's tests. A failed test is reported in
/// [`TestReport::failure`] (the later tests do not run); errors that stop
/// the tests from running at all are the `Err`.
pub async fn test(
    ctx: &Context,
    name: &str,
    opts: &TestOptions,
) -> Result<TestReport, ActionError> {
    release::validate_name(name)?;
    let before = ctx.history(name).await?;
    if !before.exists() {
        return Err(before.not_found());
    }
    locked(ctx, name, async |history: History, guard| {
        let Some(deployed) = history.deployed().cloned() else {
            return Err(ActionError::NoDeployedRevision {
                release: name.to_string(),
            });
        };
        let (hooks, _) = split_hooks(&deployed.manifest)?;
        let mut runner = Runner::new(ctx, guard, name, opts.timeout);
        runner.keep_logs = opts.logs;
        let failure = runner.run(&hooks, Event::Test).await.err();
        if matches!(
            failure,
            Some(ActionError::LockLost { .. } | ActionError::Interrupted)
        ) {
            return Err(failure.unwrap_or(ActionError::Interrupted));
        }
        let runs = runner.runs();
        // The record keeps the last test run, as Helm's does.
        let mut record = deployed.clone();
        record.hooks.retain(|r| r.event != Event::Test.as_str());
        record.hooks.extend(runs.iter().cloned());
        guard.check()?;
        ctx.store().save(&record).await?;
        let logs = runner
            .logs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        Ok(TestReport {
            revision: deployed.revision,
            runs,
            logs,
            failure,
        })
    })
    .await
}
