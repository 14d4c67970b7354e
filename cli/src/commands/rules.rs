//! `pulsecheck rules`: see [`pulsecheck::rules`], which generates them.

use std::path::PathBuf;
use std::process::ExitCode;

use pulsecheck::rules::{Source, Style};

use crate::{CliError, EXIT_OK, stdout, write_file};

// The library's `Source` and `Style` are flag values here; the library stays free of clap, so
// the flags mirror them and convert.

/// `--source`: [`Source`] as a flag value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SourceFlag {
    /// A direct scrape of the service's `/metrics`.
    Scrape,
    /// The OpenTelemetry Collector's Prometheus exporter (names made from OTLP).
    Collector,
}

impl From<SourceFlag> for Source {
    fn from(f: SourceFlag) -> Self {
        match f {
            SourceFlag::Scrape => Self::Scrape,
            SourceFlag::Collector => Self::Collector,
        }
    }
}

/// `--style`: [`Style`] as a flag value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum StyleFlag {
    /// `pulsecheck:slo_errors:ratio_rate<w>{slo}` and `PulsecheckSloErrorBudgetBurn`.
    Pulsecheck,
    /// Sloth's recording rules and `sloth_*` labels, which the Sloth Grafana dashboards read.
    Sloth,
}

impl From<StyleFlag> for Style {
    fn from(f: StyleFlag) -> Self {
        match f {
            StyleFlag::Pulsecheck => Self::Pulsecheck,
            StyleFlag::Sloth => Self::Sloth,
        }
    }
}

/// `pulsecheck rules`.
#[derive(Debug, clap::Args)]
pub struct RulesArgs {
    /// pulsecheck.toml to read [default: PULSE_CONFIG, else ./pulsecheck.toml, else defaults];
    /// PULSE_BUDGET_* overrides apply, as in the service.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Label matchers selecting the service's series, e.g. `job="academy-api"`.
    #[arg(long, default_value = "")]
    pub selector: String,
    /// Where Prometheus gets the series: `scrape` (it scrapes the service's /metrics) or
    /// `collector` (the OpenTelemetry Collector's Prometheus exporter, names made from OTLP).
    #[arg(long, value_enum, default_value_t = SourceFlag::Scrape)]
    pub source: SourceFlag,
    /// Labels the rules aggregate by (one alert per value).
    #[arg(long, default_value = "job", value_delimiter = ',')]
    pub by: Vec<String>,
    /// Naming conventions of the SLO rules: `pulsecheck` (`pulsecheck:slo_errors:*`) or
    /// `sloth` (Sloth's `slo:sli_error:ratio_rate<w>`, `slo:objective:ratio`, ... and `sloth_*`
    /// labels, for the Sloth Grafana dashboards). Budget rules are the same either way.
    #[arg(long, value_enum, default_value_t = StyleFlag::Pulsecheck)]
    pub style: StyleFlag,
    /// The service name, `sloth_service` in `--style sloth`. OTEL_SERVICE_NAME wins when set,
    /// as it does in the service.
    #[arg(long)]
    pub service: Option<String>,
    /// Write to FILE instead of stdout.
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

pub(crate) fn run(a: RulesArgs) -> Result<ExitCode, CliError> {
    let cfg = pulsecheck::config::PulseConfig::load_from(a.config.as_deref())?;
    let opts = pulsecheck::rules::RuleOptions {
        selector: a.selector.trim().to_owned(),
        by: a
            .by
            .iter()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect(),
        source: a.source.into(),
        style: a.style.into(),
        service: service_name(a.service.as_deref()),
    };
    let yaml =
        pulsecheck::rules::generate(&cfg, &opts).map_err(|e| CliError::Usage(e.to_string()))?;
    match &a.output {
        Some(p) => write_file(p, yaml.trim_end())?,
        None => stdout(&yaml)?,
    }
    Ok(ExitCode::from(EXIT_OK))
}

/// The service's name as the service resolves it: `OTEL_SERVICE_NAME` when set and not blank
/// (an operator's rename wins over code, see `telemetry::resource`), else `--service`.
fn service_name(flag: Option<&str>) -> String {
    std::env::var("OTEL_SERVICE_NAME")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .or_else(|| flag.map(str::to_owned))
        .unwrap_or_default()
        .trim()
        .to_owned()
}
