//! Output shared by the release commands: formats, tables, progress.

use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use windlass::action::Context;
use windlass::release::Release;

/// `-o` formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// Human-readable table.
    #[default]
    Table,
    /// JSON.
    Json,
    /// YAML.
    Yaml,
}

/// Prints a value as JSON or YAML.
pub fn print_structured(v: &Value, f: Format) -> anyhow::Result<()> {
    let text = match f {
        Format::Json => format!("{}\n", serde_json::to_string_pretty(v)?),
        _ => windlass::yaml::to_string(v) + "\n",
    };
    super::print_out(&text)
}

/// Prints rows as an aligned table with a header.
pub fn print_table(header: &[&str], rows: &[Vec<String>]) -> anyhow::Result<()> {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.len());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}  ", w = widths[i]));
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(header.to_vec());
    for r in rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    super::print_out(&out)
}

/// A release summary as a JSON value (for -o json/yaml).
pub fn summary(r: &Release) -> Value {
    json!({
        "name": r.name, "namespace": r.namespace, "revision": r.revision, "status": r.status.as_str(),
        "updated": r.last_deployed, "chart": format!("{}-{}", r.chart.name, r.chart.version),
        "app_version": r.chart.app_version, "description": r.description
    })
}

/// Parses `5m`, `300s`, `1h30m`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s)
        .map_err(|e| format!("invalid duration `{s}`: {e} (use e.g. 300s, 5m, 1h)"))
}

/// A context whose progress goes to stderr: a spinner on a terminal, plain
/// lines otherwise.
pub fn context(cluster: windlass::cluster::Cluster) -> Context {
    let mut ctx = Context::new(Arc::new(cluster));
    let tty = std::io::stderr().is_terminal();
    let spinner = tty.then(|| {
        let pb = indicatif::ProgressBar::new_spinner();
        pb.enable_steady_tick(Duration::from_millis(120));
        pb
    });
    let spinner = Arc::new(spinner);
    let s1 = spinner.clone();
    ctx.progress = Box::new(move |msg| match s1.as_ref() {
        Some(pb) => pb.println(msg),
        None => eprintln!("{msg}"),
    });
    let last = Mutex::new(Vec::<String>::new());
    ctx.waiting = Box::new(move |not_ready| match spinner.as_ref() {
        Some(pb) => {
            if not_ready.is_empty() {
                pb.finish_and_clear();
            } else {
                pb.set_message(format!(
                    "waiting for {} object(s): {}",
                    not_ready.len(),
                    not_ready[0]
                ));
            }
        }
        None => {
            let mut last = last.lock().unwrap_or_else(|e| e.into_inner());
            if *last != not_ready {
                for l in not_ready {
                    eprintln!("waiting: {l}");
                }
                if not_ready.is_empty() {
                    eprintln!("all objects are ready");
                }
                *last = not_ready.to_vec();
            }
        }
    });
    ctx
}

/// [`context`] for a command that writes to the cluster: the first Ctrl-C
/// or SIGTERM asks the operation to stop before its next write (it then
/// records the revision failed, undoes it with `--atomic`, and releases
/// the release's lock, so the next command can start at once); a second
/// one exits immediately.
pub fn writing_context(cluster: windlass::cluster::Cluster) -> Context {
    let ctx = context(cluster);
    let interrupt = ctx.interrupt.clone();
    tokio::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut int), Ok(mut term)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            return;
        };
        for n in 0.. {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            if n > 0 {
                eprintln!("windlass: interrupted again; exiting now, without cleaning up (the release's lock expires on its own)");
                std::process::exit(130);
            }
            eprintln!("windlass: interrupted; stopping before the next write (press Ctrl-C again to exit at once)");
            interrupt.raise();
        }
    });
    ctx
}

/// Warns on stderr about each damaged record shown (its row comes from the
/// record's labels only).
pub fn warn_damaged<'a>(records: impl IntoIterator<Item = &'a Release>) {
    for r in records {
        if let Some(why) = &r.damaged {
            eprintln!("warning: {why}; revision {} is shown from its labels only (status, description), and cannot be rolled back to", r.revision);
        }
    }
}
