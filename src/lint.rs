//! `windlass lint`: everything that can be checked without a cluster.

use std::path::Path;

use crate::chart::{self, Chart, ChartType};
use crate::render::{self, RenderOptions};
use crate::values::{self, UserValues, ValuesError};

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// A suggestion.
    Info,
    /// Likely a mistake, but the chart works.
    Warning,
    /// The chart cannot be packaged or installed.
    Error,
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Severity::Info => "INFO",
            Severity::Warning => "WARNING",
            Severity::Error => "ERROR",
        })
    }
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Severity.
    pub severity: Severity,
    /// What it is about (a file of the chart).
    pub subject: String,
    /// The message.
    pub message: String,
}

/// The result of linting one chart.
#[derive(Debug, Clone)]
pub struct Report {
    /// What was linted.
    pub target: String,
    /// The findings, in the order they were found.
    pub findings: Vec<Finding>,
    /// The loaded chart, when it loaded.
    pub chart: Option<Chart>,
}

impl Report {
    /// True when there is an error (or, with `strict`, a warning).
    pub fn failed(&self, strict: bool) -> bool {
        let bar = if strict {
            Severity::Warning
        } else {
            Severity::Error
        };
        self.findings.iter().any(|f| f.severity >= bar)
    }

    fn push(&mut self, severity: Severity, subject: &str, message: String) {
        self.findings.push(Finding {
            severity,
            subject: subject.to_string(),
            message,
        });
    }
}

/// Lints the chart at `path` with the given user values.
pub fn lint(path: &Path, user: &UserValues, opts: &RenderOptions) -> Report {
    let mut report = Report {
        target: path.display().to_string(),
        findings: Vec::new(),
        chart: None,
    };
    let chart = match chart::load(path) {
        Ok(c) => c,
        Err(e) => {
            report.push(Severity::Error, "Chart.yaml", e.to_string());
            return report;
        }
    };
    lint_chart(&chart, user, opts, &mut report);
    report.chart = Some(chart);
    report
}

/// Lints a chart already in memory.
pub fn lint_chart(chart: &Chart, user: &UserValues, opts: &RenderOptions, report: &mut Report) {
    let m = &chart.metadata;
    if m.icon.is_none() {
        report.push(Severity::Info, "Chart.yaml", "icon is recommended".into());
    }
    if m.deprecated {
        report.push(
            Severity::Warning,
            "Chart.yaml",
            "chart is deprecated".into(),
        );
    }
    if chart.schema.is_none() {
        report.push(
            Severity::Info,
            "values.schema.json",
            "no schema: values are not validated before rendering".into(),
        );
    }
    if m.chart_type == ChartType::Application && chart.templates.is_empty() {
        report.push(
            Severity::Warning,
            "templates/",
            "no templates: the chart renders nothing".into(),
        );
    }
    let resolved = match values::resolve(chart, user) {
        Ok(r) => r,
        Err(ValuesError::Schema(violations)) => {
            for v in violations {
                let at = if v.pointer.is_empty() {
                    "/".to_string()
                } else {
                    v.pointer.clone()
                };
                report.push(
                    Severity::Error,
                    "values.schema.json",
                    format!("{at}: {} (set by {})", v.message, v.source),
                );
            }
            return;
        }
        Err(e) => {
            report.push(Severity::Error, "values", e.to_string());
            return;
        }
    };
    match render::render(chart, &resolved, opts) {
        Ok(r) => {
            if m.chart_type == ChartType::Application
                && r.manifests.is_empty()
                && !chart.templates.is_empty()
            {
                report.push(
                    Severity::Warning,
                    "templates/",
                    "templates rendered no objects with these values".into(),
                );
            }
            for w in &r.warnings {
                report.push(Severity::Warning, "templates/", w.clone());
            }
            for m in r.manifests.iter().filter(|m| m.kind == "StatefulSet") {
                if m.object["spec"]["persistentVolumeClaimRetentionPolicy"]["whenDeleted"]
                    == "Delete"
                {
                    report.push(
                        Severity::Warning,
                        &m.source,
                        format!(
                            "{}: persistentVolumeClaimRetentionPolicy.whenDeleted: Delete makes the StatefulSet controller delete its claims, and their data, when the StatefulSet is deleted (by uninstall too); windlass itself never deletes claims",
                            crate::cluster::describe(&m.object)
                        ),
                    );
                }
            }
            if let Err(crate::openapi::TypeErrors(problems)) =
                crate::openapi::check_manifests(&r.manifests)
            {
                for p in problems {
                    report.push(
                        Severity::Error,
                        &p.source,
                        format!("{}: {}: {}", p.object, p.problem.path, p.problem.message),
                    );
                }
            }
        }
        Err(e) => report.push(Severity::Error, "templates/", e.to_string()),
    }
}
