//! `windlass package CHART`

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use windlass::package::{self, PackageOptions};
use windlass::render::RenderOptions;
use windlass::values::UserValues;

/// Package chart directories into deterministic archives.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Chart directories.
    #[arg(required = true, value_name = "CHART")]
    pub charts: Vec<PathBuf>,
    /// Directory to write the archives to.
    #[arg(
        short = 'd',
        long = "destination",
        value_name = "DIR",
        default_value = "."
    )]
    pub destination: PathBuf,
    /// Set the chart's version in the package (strict SemVer 2).
    #[arg(long, value_name = "VERSION")]
    pub version: Option<String>,
    /// Set the chart's appVersion in the package.
    #[arg(long, value_name = "VERSION")]
    pub app_version: Option<String>,
    /// Sign the package: write a Helm-compatible CHART.tgz.prov beside it.
    #[arg(long, requires = "key")]
    pub sign: bool,
    /// With --sign: the secret key whose user ID contains NAME.
    #[arg(long, value_name = "NAME")]
    pub key: Option<String>,
    /// With --sign: the OpenPGP keyring holding the secret key (armored or binary, e.g. from `gpg --export-secret-keys`).
    #[arg(long, value_name = "FILE", default_value = "~/.gnupg/secring.gpg")]
    pub keyring: String,
    /// With --sign: a file holding the key's passphrase (none by default).
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let opts = PackageOptions {
        version: args.version.clone(),
        app_version: args.app_version.clone(),
    };
    for path in &args.charts {
        let chart = windlass::chart::load(path)?;
        let chart = package::with_overrides(&chart, &opts)?;
        // Lint the chart as it will be packaged, with its default values.
        let mut report = windlass::lint::Report {
            target: path.display().to_string(),
            findings: Vec::new(),
            chart: None,
        };
        windlass::lint::lint_chart(
            &chart,
            &UserValues::default(),
            &RenderOptions::offline("release-name", "default"),
            &mut report,
        );
        if report.failed(false) {
            let problems: Vec<String> = report
                .findings
                .iter()
                .filter(|f| f.severity == windlass::lint::Severity::Error)
                .map(|f| format!("  - {}: {}", f.subject, f.message))
                .collect();
            bail!(
                "{} failed lint; not packaged:\n{}",
                path.display(),
                problems.join("\n")
            );
        }
        let p = package::package(&chart, &args.destination, &PackageOptions::default())?;
        println!(
            "Packaged {} {} to {}",
            p.chart.name(),
            p.chart.metadata.version,
            p.path.display()
        );
        println!("sha256:{}", p.digest);
        if args.sign {
            let passphrase = match &args.passphrase_file {
                Some(f) => std::fs::read_to_string(f)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", f.display()))?
                    .trim_end_matches(['\n', '\r'])
                    .to_string(),
                None => String::new(),
            };
            let prov = package::provenance::sign(
                &p.path,
                &super::expand_home(&args.keyring),
                args.key.as_deref().unwrap_or_default(),
                &passphrase,
            )?;
            println!("Signed: {}", prov.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}
