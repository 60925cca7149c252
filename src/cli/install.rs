//! `windlass install RELEASE CHART`

use std::path::PathBuf;
use std::process::ExitCode;

use clap::ArgMatches;
use windlass::action::{self, DeployOptions, DryRun, Outcome};
use windlass::cluster::Cluster;
use windlass::values::UserValues;

use super::output::{self, parse_duration};
use super::{block_on, ClusterArgs, ValuesArgs};

/// `--dry-run` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DryRunArg {
    /// Render and validate locally; nothing is sent to the cluster.
    Client,
    /// Also send every object to the API server as a dry run; nothing is stored.
    Server,
}

/// Flags shared by install, upgrade and rollback.
#[derive(Debug, Clone, clap::Args)]
pub struct DeployArgs {
    /// Wait until every applied object is ready (StatefulSets rolled out, claims bound, ...).
    #[arg(long)]
    pub wait: bool,
    /// How long --wait waits, and how long to wait for objects of the release
    /// that are still being deleted (e.g. right after an uninstall) (e.g. 300s, 5m).
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    pub timeout: std::time::Duration,
    /// On failure (or Ctrl-C), undo: an install removes what it created (never volumes); an upgrade or rollback returns to the last good revision.
    #[arg(long)]
    pub atomic: bool,
    /// Show what would happen without changing anything: `client` renders only, `server` also asks the API server.
    #[arg(long, value_enum, num_args = 0..=1, default_missing_value = "client", require_equals = true)]
    pub dry_run: Option<DryRunArg>,
    /// Adopt existing objects that no release owns (or another release owns).
    #[arg(long)]
    pub take_ownership: bool,
    /// Take over fields other field managers own (server-side apply force).
    #[arg(long)]
    pub force_conflicts: bool,
    /// Description recorded with the revision.
    #[arg(long, value_name = "TEXT")]
    pub description: Option<String>,
    /// Revisions kept in history (0 = all); the deployed one is never pruned.
    #[arg(long, default_value_t = 10)]
    pub history_max: usize,
    /// Show Secret values in dry-run output instead of `<redacted: ...>`.
    #[arg(long)]
    pub show_secrets: bool,
    /// Show the full diff first and ask for confirmation (y/N) on a
    /// terminal. The release's lock is held from the diff to the apply, so
    /// what is applied is exactly what was shown.
    #[arg(long)]
    pub confirm: bool,
    /// Let prune delete Namespaces and CustomResourceDefinitions the chart
    /// no longer renders. Off by default: deleting either deletes every
    /// object in it (all the custom resources of a CRD).
    #[arg(long)]
    pub delete_namespaces_and_crds: bool,
    /// Do not install the chart's crds/ directory.
    #[arg(long)]
    pub skip_crds: bool,
    /// Run no hooks (pre-/post-install, -upgrade, -rollback). --dry-run lists the hooks that would run.
    #[arg(long)]
    pub no_hooks: bool,
}

impl DeployArgs {
    /// Library options for a release.
    pub fn options(&self, release: &str, create_namespace: bool) -> DeployOptions {
        DeployOptions {
            release: release.to_string(),
            wait: self.wait,
            timeout: self.timeout,
            atomic: self.atomic,
            dry_run: match self.dry_run {
                None => DryRun::None,
                Some(DryRunArg::Client) => DryRun::Client,
                Some(DryRunArg::Server) => DryRun::Server,
            },
            take_ownership: self.take_ownership,
            force_conflicts: self.force_conflicts,
            description: self.description.clone(),
            history_max: self.history_max,
            create_namespace,
            delete_namespaces_and_crds: self.delete_namespaces_and_crds,
            skip_crds: self.skip_crds,
            no_hooks: self.no_hooks,
        }
    }

    /// Fails before anything is sent when --confirm cannot ask.
    pub fn check_confirm(&self) -> anyhow::Result<()> {
        use std::io::IsTerminal;
        if self.confirm && !std::io::stdin().is_terminal() {
            anyhow::bail!("--confirm needs a terminal to ask on; use `windlass diff upgrade` to review changes in scripts");
        }
        Ok(())
    }

    /// Sets up --confirm on an operation's context.
    pub fn confirm_on(&self, ctx: &mut action::Context) {
        if self.confirm {
            ctx.confirm = Some(Box::new(|items| confirm(items).unwrap_or(false)));
        }
    }
}

/// Install a chart as a new release.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Release name (a DNS-1123 label, at most 53 characters).
    pub release: String,
    /// Chart directory, .tgz archive, REPO/CHART from a repository added with `windlass repo add`, or oci://HOST/PATH/CHART.
    pub chart: PathBuf,
    #[command(flatten)]
    pub source: super::SourceArgs,
    #[command(flatten)]
    pub values: ValuesArgs,
    #[command(flatten)]
    pub cluster: ClusterArgs,
    #[command(flatten)]
    pub deploy: DeployArgs,
    /// Create the release namespace if it does not exist.
    #[arg(long)]
    pub create_namespace: bool,
}

/// Shows the diff of what the operation would do and asks y/N.
pub fn confirm(items: &[windlass::diff::Item]) -> anyhow::Result<bool> {
    use std::io::{BufRead, IsTerminal, Write};
    let opts = windlass::diff::Options {
        color: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
        ..Default::default()
    };
    let text = windlass::diff::render(items, &opts);
    super::print_out(if text.is_empty() {
        "no changes\n"
    } else {
        &text
    })?;
    eprint!("Apply these changes? [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "Yes"))
}

/// Prints what an operation did.
pub fn report(o: &Outcome, dry: bool, show_secrets: bool) -> anyhow::Result<()> {
    let r = &o.release;
    let mut text = String::new();
    if dry {
        let manifest = if show_secrets {
            o.manifest.clone()
        } else {
            windlass::diff::mask_stream(&o.manifest)
        };
        text.push_str(&format!("{manifest}\n"));
        if !o.lines.is_empty() {
            text.push_str("PLAN (server dry run):\n");
            for l in &o.lines {
                text.push_str(&format!("  {:<9} {}\n", l.action, l.object));
            }
        }
        if !o.hooks.is_empty() {
            text.push_str("HOOKS THAT WILL RUN:\n");
            for h in &o.hooks {
                text.push_str(&format!("  {h}\n"));
            }
        }
        text.push_str(&format!(
            "NAME: {}\nNAMESPACE: {}\nDRY RUN: nothing was changed\n",
            r.name, r.namespace
        ));
    } else {
        text.push_str(&format!(
            "NAME: {}\nNAMESPACE: {}\nSTATUS: {}\nREVISION: {}\nCHANGES: {}\n",
            r.name,
            r.namespace,
            r.status,
            r.revision,
            o.summary()
        ));
        if !o.hooks.is_empty() {
            text.push_str("HOOKS:\n");
            for h in &o.hooks {
                text.push_str(&format!("  {h}\n"));
            }
        }
        if !r.notes.trim().is_empty() {
            text.push_str(&format!("NOTES:\n{}\n", r.notes.trim_end()));
        }
    }
    super::print_out(&text)
}

/// `--dry-run=client`: renders as `template` does, with Secrets masked
/// unless `--show-secrets`; needs no cluster.
pub fn client_dry_run(
    chart: &windlass::chart::Chart,
    user: &UserValues,
    release: &str,
    cluster: &ClusterArgs,
    show_secrets: bool,
) -> anyhow::Result<ExitCode> {
    windlass::release::validate_name(release)?;
    let ns = cluster
        .namespace
        .clone()
        .unwrap_or_else(|| "default".into());
    let resolved = windlass::values::resolve(chart, user)?;
    let opts = windlass::render::RenderOptions::offline(release, &ns);
    let rendered = windlass::render::render(chart, &resolved, &opts)?;
    windlass::openapi::check_manifests(&rendered.manifests)?;
    let stream = rendered.to_stream();
    let mut out = if show_secrets {
        stream
    } else {
        windlass::diff::mask_stream(&stream)
    };
    out.push_str(&format!(
        "DRY RUN (client): rendered for release {release} in namespace {ns}; nothing was sent to a cluster\n"
    ));
    super::print_out(&out)?;
    Ok(ExitCode::SUCCESS)
}

/// Renders offline and type-checks the objects before connecting, so a
/// chart with a wrong type sends nothing at all (not even the lock). Values
/// that only resolve with a previous revision's (`--reuse-values`) are left
/// to the check the operation itself makes.
pub fn offline_type_check(
    chart: &windlass::chart::Chart,
    user: &UserValues,
    release: &str,
    cluster: &ClusterArgs,
) -> anyhow::Result<()> {
    let ns = cluster.namespace.as_deref().unwrap_or("default");
    let Ok(resolved) = windlass::values::resolve(chart, user) else {
        return Ok(());
    };
    let opts = windlass::render::RenderOptions::offline(release, ns);
    if let Ok(rendered) = windlass::render::render(chart, &resolved, &opts) {
        windlass::openapi::check_manifests(&rendered.manifests)?;
    }
    Ok(())
}

pub fn run(args: Args, matches: Option<&ArgMatches>) -> anyhow::Result<ExitCode> {
    let chart = super::load_chart(&args.chart, &args.source)?;
    let user = UserValues::load(&args.values.sources(matches))?;
    let opts = args.deploy.options(&args.release, args.create_namespace);
    offline_type_check(&chart, &user, &args.release, &args.cluster)?;
    if opts.dry_run == DryRun::Client {
        return client_dry_run(
            &chart,
            &user,
            &args.release,
            &args.cluster,
            args.deploy.show_secrets,
        );
    }
    args.deploy.check_confirm()?;
    let outcome = block_on(async {
        let cluster = Cluster::connect(&args.cluster.options()).await?;
        let mut ctx = output::writing_context(cluster);
        args.deploy.confirm_on(&mut ctx);
        Ok::<_, anyhow::Error>(action::install(&ctx, &chart, &user, &opts).await?)
    })??;

    report(
        &outcome,
        opts.dry_run != DryRun::None,
        args.deploy.show_secrets,
    )?;
    Ok(ExitCode::SUCCESS)
}
