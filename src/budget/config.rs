//! Budgets and SLOs: defaults, `pulsecheck.toml`, environment overrides, validation.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;
use std::time::Duration;

use serde::Deserialize;

use crate::window::{ErrorPolicy, Window};

/// Path of the configuration file, overriding `./pulsecheck.toml`.
pub const PULSE_CONFIG: &str = "PULSE_CONFIG";
/// Default configuration file, read when present.
pub const PULSE_CONFIG_DEFAULT: &str = "pulsecheck.toml";

/// Why configuration was refused. Each names the field or variable to fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {reason}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        reason: String,
    },
    /// The file is not valid TOML or has unknown or mistyped fields.
    #[error("{path}: {reason}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message, naming the key and line.
        reason: String,
    },
    /// A value is out of range.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The field (`budgets.p95_ms`) or variable (`PULSE_BUDGET_P95_MS`).
        field: String,
        /// What is wrong.
        reason: String,
    },
}

/// Limits for one route, overriding the service-wide ones.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteBudget {
    /// P95 latency limit, ms.
    pub p95_ms: Option<f64>,
    /// P99 latency limit, ms.
    pub p99_ms: Option<f64>,
    /// Error-rate limit, 0..1.
    pub error_rate: Option<f64>,
}

/// Performance budgets, checked against a window of the aggregator.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Budgets {
    /// P95 latency limit, ms. Defaults to 1000.
    pub p95_ms: f64,
    /// P99 latency limit, ms. Defaults to 2000.
    pub p99_ms: f64,
    /// Error-rate limit, 0..1. Defaults to 0.05.
    pub error_rate: f64,
    /// Error-rate objective, reported beside the limit. Defaults to 0.01.
    pub error_target: f64,
    /// Process memory (RSS) limit, MiB. Defaults to 512.
    pub memory_mib: f64,
    /// Fraction of a limit at which a budget turns `warning`. Defaults to 0.8.
    pub warn_ratio: f64,
    /// Requests in the window below which latency and error budgets stay `ok`. Defaults to 20.
    pub min_requests: u64,
    /// The window budgets are checked over: `1m`, `5m` or `1h`. Defaults to `5m`.
    #[serde(deserialize_with = "window_de")]
    pub window: Window,
    /// Per-route overrides, keyed by route template.
    pub routes: BTreeMap<String, RouteBudget>,
}

impl Default for Budgets {
    fn default() -> Self {
        Self {
            p95_ms: 1000.0,
            p99_ms: 2000.0,
            error_rate: 0.05,
            error_target: 0.01,
            memory_mib: 512.0,
            warn_ratio: 0.8,
            min_requests: 20,
            window: Window::FiveMinutes,
            routes: BTreeMap::new(),
        }
    }
}

fn window_de<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Window, D::Error> {
    let s = String::deserialize(d)?;
    Window::parse(&s)
        .ok_or_else(|| serde::de::Error::custom(format!("`{s}` is not one of 1m, 5m, 1h")))
}

/// What an SLO measures.
#[derive(Clone, Debug, PartialEq)]
pub enum SloKind {
    /// Good = not an error.
    Availability,
    /// Good = answered within `threshold`.
    Latency {
        /// The latency threshold, in whole nanoseconds: the one representation the aggregator
        /// counts slow requests by and [`evaluate_slo`](super::evaluate_slo) looks up, so the
        /// two always agree. From TOML's `threshold_ms`, rounded to the nearest nanosecond.
        threshold: Duration,
    },
}

/// The largest latency-SLO threshold: the aggregator's histograms track latencies up to 100 s
/// (longer ones are counted at 100 s), so a larger threshold could never see a slow request.
pub const MAX_SLO_THRESHOLD: Duration = Duration::from_secs(60);
/// The smallest latency-SLO threshold, the histograms' resolution floor.
pub const MIN_SLO_THRESHOLD: Duration = Duration::from_micros(1);

/// What a latency threshold must be, for error messages.
fn threshold_range() -> String {
    format!(
        "must be between {} and {} ms",
        crate::num::clean(MIN_SLO_THRESHOLD.as_secs_f64() * 1e3),
        MAX_SLO_THRESHOLD.as_millis()
    )
}

/// `threshold_ms` of a latency SLO as its threshold: the only conversion from milliseconds,
/// rounded to the nearest nanosecond (33.3 ms is exactly 33 300 000 ns).
fn slo_threshold(threshold_ms: f64) -> Result<Duration, String> {
    match crate::float_duration::from_millis_f64(threshold_ms, MAX_SLO_THRESHOLD) {
        Ok(d) if d >= MIN_SLO_THRESHOLD => Ok(d),
        _ => Err(threshold_range()),
    }
}

/// The SLO `pulsecheck` evaluates when no SLO of that name is configured: the original
/// design's SLA target, 99.9 % of requests are not errors over 30 days. `default_slo = false`
/// (or `PULSE_DEFAULT_SLO=false`) removes it; an `[[slo]]` named `availability` replaces it.
pub fn default_slo() -> &'static Slo {
    static DEFAULT: LazyLock<Slo> = LazyLock::new(|| Slo::availability(0.999));
    &DEFAULT
}

/// A service level objective, e.g. 99.9 % of requests succeed over 30 days.
///
/// In TOML: `name`, `objective`, `period_days` (default 30), `kind = "availability"` or
/// `kind = "latency"` with `threshold_ms`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(try_from = "SloToml")]
pub struct Slo {
    /// Name, used in reports and alerts.
    pub name: String,
    /// Target fraction of good requests, e.g. 0.999.
    pub objective: f64,
    /// Period, days (at most 30). Defaults to 30.
    pub period_days: u64,
    /// What it measures.
    pub kind: SloKind,
}

/// The TOML shape of an SLO: flat, so that unknown fields are refused (serde cannot refuse
/// them through a flattened enum).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SloToml {
    name: String,
    objective: f64,
    #[serde(default = "thirty")]
    period_days: u64,
    kind: String,
    threshold_ms: Option<f64>,
}

impl TryFrom<SloToml> for Slo {
    type Error = String;

    fn try_from(t: SloToml) -> Result<Self, String> {
        let kind = match (t.kind.as_str(), t.threshold_ms) {
            ("availability", None) => SloKind::Availability,
            ("availability", Some(_)) => {
                return Err(format!(
                    "slo `{}`: threshold_ms is only for kind = \"latency\"",
                    t.name
                ));
            }
            ("latency", Some(threshold_ms)) => SloKind::Latency {
                threshold: slo_threshold(threshold_ms)
                    .map_err(|reason| format!("slo `{}`: threshold_ms {reason}", t.name))?,
            },
            ("latency", None) => {
                return Err(format!(
                    "slo `{}`: kind = \"latency\" needs threshold_ms",
                    t.name
                ));
            }
            (other, _) => {
                return Err(format!(
                    "slo `{}`: kind `{other}` is not one of availability, latency",
                    t.name
                ));
            }
        };
        Ok(Self {
            name: t.name,
            objective: t.objective,
            period_days: t.period_days,
            kind,
        })
    }
}

fn thirty() -> u64 {
    30
}

impl Slo {
    /// 99.9 % of requests are not errors, over 30 days.
    pub fn availability(objective: f64) -> Self {
        Self {
            name: "availability".into(),
            objective,
            period_days: 30,
            kind: SloKind::Availability,
        }
    }

    /// `objective` of requests answer within `threshold`, over 30 days.
    pub fn latency(objective: f64, threshold: Duration) -> Self {
        Self {
            name: format!(
                "latency-{}ms",
                crate::num::clean(threshold.as_secs_f64() * 1e3)
            ),
            objective,
            period_days: 30,
            kind: SloKind::Latency { threshold },
        }
    }

    /// The latency threshold, for a latency SLO.
    pub fn threshold(&self) -> Option<Duration> {
        match self.kind {
            SloKind::Latency { threshold } => Some(threshold),
            SloKind::Availability => None,
        }
    }
}

/// Which statuses count as errors.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Errors {
    /// Status classes counted as errors (`5` for 5xx). Defaults to `[5]`.
    pub classes: Vec<u16>,
    /// Extra statuses counted as errors (e.g. `429`). Defaults to none.
    pub statuses: Vec<u16>,
    /// Whether a request the client gave up on (recorded as
    /// [`CANCELLED_STATUS`](crate::layer::CANCELLED_STATUS), 499) counts as an error: it was
    /// not served. Decides for 499 whatever `classes` says. Defaults to `true`.
    pub count_cancelled: bool,
}

impl Default for Errors {
    fn default() -> Self {
        Self {
            classes: vec![5],
            statuses: Vec::new(),
            count_cancelled: true,
        }
    }
}

impl Errors {
    /// As an [`ErrorPolicy`].
    ///
    /// ```
    /// use pulsecheck::budget::PulseConfig;
    /// let quiet = PulseConfig::from_toml_str("[errors]\nclasses = [4, 5]\ncount_cancelled = false\n").unwrap();
    /// let p = quiet.errors.policy();
    /// assert!(p.is_error(404) && p.is_error(503) && !p.is_error(499));
    /// assert!(PulseConfig::default().errors.policy().is_error(499));
    /// ```
    pub fn policy(&self) -> ErrorPolicy {
        let mut p = ErrorPolicy::none();
        for c in &self.classes {
            p = p.with_class(*c);
        }
        for s in &self.statuses {
            p = p.with_status(*s);
        }
        if self.count_cancelled {
            p.with_status(crate::layer::CANCELLED_STATUS)
        } else {
            p.without_status(crate::layer::CANCELLED_STATUS)
        }
    }
}

/// Monitoring traffic: pulsecheck's own endpoints and any paths added here (the service's own
/// probe routes, say) are left out of the service-wide figures, budgets, SLOs and alerts, and
/// still shown per route, marked `"monitoring": true`.
///
/// In TOML: `[monitoring]` with `exclude = ["/ping"]` (route templates, as the router declares
/// them) and `count_monitoring = true` to count all of it again.
///
/// ```
/// use pulsecheck::budget::PulseConfig;
/// let cfg = PulseConfig::from_toml_str("[monitoring]\nexclude = [\"/ping\"]\n").unwrap();
/// let routes = cfg.monitoring.excluded_routes();
/// assert!(routes.iter().any(|r| r == "/health") && routes.iter().any(|r| r == "/ping"));
/// let all = PulseConfig::from_toml_str("[monitoring]\ncount_monitoring = true\n").unwrap();
/// assert!(all.monitoring.excluded_routes().is_empty());
/// let bad = PulseConfig::from_toml_str("[monitoring]\nexclude = [\"ping\"]\n").unwrap_err();
/// assert!(bad.to_string().contains("monitoring.exclude[0]"));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Monitoring {
    /// Route templates counted as monitoring besides pulsecheck's own endpoints (for
    /// example a load balancer's `/ping`, or pulsecheck's endpoints nested under a prefix).
    /// Defaults to none.
    pub exclude: Vec<String>,
    /// Count monitoring requests in the service-wide figures, budgets and SLOs like any
    /// other. Defaults to `false`.
    pub count_monitoring: bool,
}

impl Monitoring {
    /// Every route template treated as monitoring: pulsecheck's own endpoints, then
    /// [`exclude`](Self::exclude).
    pub fn routes(&self) -> Vec<String> {
        crate::routes::monitoring::OWN_PATHS
            .iter()
            .map(|p| (*p).to_owned())
            .chain(self.exclude.iter().cloned())
            .collect()
    }

    /// The route templates left out of service-wide figures, budgets, SLOs and alerts (and the
    /// generated Prometheus rules): [`routes`](Self::routes), or none when
    /// [`count_monitoring`](Self::count_monitoring) is set.
    pub fn excluded_routes(&self) -> Vec<String> {
        if self.count_monitoring {
            Vec::new()
        } else {
            self.routes()
        }
    }
}

/// Everything `pulsecheck.toml` configures.
///
/// ```
/// use pulsecheck::budget::PulseConfig;
/// let cfg = PulseConfig::from_toml_str("[budgets]\np95_ms = 300\n[[slo]]\nname = \"avail\"\nobjective = 0.999\nkind = \"availability\"\n").unwrap();
/// assert_eq!(cfg.budgets.p95_ms, 300.0);
/// assert_eq!(cfg.budgets.p99_ms, 2000.0);
/// assert_eq!(cfg.slo[0].objective, 0.999);
/// assert!(PulseConfig::from_toml_str("[budgets]\np95_ms = -1\n").unwrap_err().to_string().contains("budgets.p95_ms"));
/// ```
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PulseConfig {
    /// Which statuses are errors.
    pub errors: Errors,
    /// Performance budgets.
    pub budgets: Budgets,
    /// Service level objectives configured (`[[slo]]`). [`PulseConfig::slos`] adds the
    /// default one.
    pub slo: Vec<Slo>,
    /// Evaluate [`default_slo`] (availability 99.9 % over 30 days) unless an SLO of its name
    /// is configured. Defaults to `true`; `PULSE_DEFAULT_SLO`.
    pub default_slo: bool,
    /// Alert evaluation and damping.
    pub alerts: crate::alert::AlertSettings,
    /// Which requests are monitoring traffic, left out of service-wide figures.
    pub monitoring: Monitoring,
    /// Health groups (`[health.groups.NAME]`).
    pub health: crate::health::HealthSettings,
}

impl Default for PulseConfig {
    fn default() -> Self {
        Self {
            errors: Errors::default(),
            budgets: Budgets::default(),
            slo: Vec::new(),
            default_slo: true,
            alerts: crate::alert::AlertSettings::default(),
            monitoring: Monitoring::default(),
            health: crate::health::HealthSettings::default(),
        }
    }
}

impl PulseConfig {
    /// The SLOs evaluated: [`default_slo`] first unless it is disabled or an SLO of its name
    /// is configured, then the configured ones. Every reader (`/health/budget`, alerts,
    /// `pulsecheck rules`) goes through here.
    pub fn slos(&self) -> impl Iterator<Item = &Slo> {
        let d = default_slo();
        let default = (self.default_slo && !self.slo.iter().any(|s| s.name == d.name)).then_some(d);
        default.into_iter().chain(&self.slo)
    }

    /// Defaults, then `pulsecheck.toml` (or the file named by `PULSE_CONFIG`, which must then
    /// exist), then `PULSE_BUDGET_*` variables; validated.
    pub fn load() -> Result<Self, ConfigError> {
        let mut cfg = match std::env::var(PULSE_CONFIG)
            .ok()
            .filter(|v| !v.trim().is_empty())
        {
            Some(path) => Self::from_file(Path::new(&path))?,
            None if Path::new(PULSE_CONFIG_DEFAULT).exists() => {
                Self::from_file(Path::new(PULSE_CONFIG_DEFAULT))?
            }
            None => Self::default(),
        };
        cfg.apply_env()?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Parses and validates a file (no environment overrides).
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        let cfg: Self = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Parses and validates TOML text (no environment overrides).
    pub fn from_toml_str(text: &str) -> Result<Self, ConfigError> {
        let cfg: Self = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: PathBuf::from("<config>"),
            reason: e.to_string(),
        })?;
        cfg.validate()?;
        Ok(cfg)
    }

    fn apply_env(&mut self) -> Result<(), ConfigError> {
        fn num(var: &str) -> Result<Option<f64>, ConfigError> {
            match std::env::var(var).ok().filter(|v| !v.trim().is_empty()) {
                None => Ok(None),
                Some(v) => v
                    .trim()
                    .parse()
                    .map(Some)
                    .map_err(|_| ConfigError::Invalid {
                        field: var.into(),
                        reason: format!("`{v}` is not a number"),
                    }),
            }
        }
        let b = &mut self.budgets;
        if let Some(v) = num("PULSE_BUDGET_P95_MS")? {
            b.p95_ms = v;
        }
        if let Some(v) = num("PULSE_BUDGET_P99_MS")? {
            b.p99_ms = v;
        }
        if let Some(v) = num("PULSE_BUDGET_ERROR_RATE")? {
            b.error_rate = v;
        }
        if let Some(v) = num("PULSE_BUDGET_MEMORY_MIB")? {
            b.memory_mib = v;
        }
        if let Some(v) = num("PULSE_BUDGET_WARN_RATIO")? {
            b.warn_ratio = v;
        }
        if let Some(v) = num("PULSE_BUDGET_MIN_REQUESTS")? {
            if v < 0.0 || v.fract() != 0.0 {
                return Err(ConfigError::Invalid {
                    field: "PULSE_BUDGET_MIN_REQUESTS".into(),
                    reason: "must be a whole number".into(),
                });
            }
            b.min_requests = v as u64;
        }
        for (var, slot) in [
            ("PULSE_ALERT_INTERVAL", &mut self.alerts.interval),
            ("PULSE_ALERT_FOR", &mut self.alerts.pending_for),
            (
                "PULSE_ALERT_KEEP_FIRING_FOR",
                &mut self.alerts.keep_firing_for,
            ),
        ] {
            if let Some(v) = std::env::var(var).ok().filter(|v| !v.trim().is_empty()) {
                *slot = crate::alert::config::parse_duration(&v).ok_or_else(|| {
                    ConfigError::Invalid {
                        field: var.into(),
                        reason: format!(
                            "`{}` is not a duration such as `30s`",
                            v.chars().take(64).collect::<String>()
                        ),
                    }
                })?;
            }
        }
        if let Some(v) = std::env::var("PULSE_DEFAULT_SLO")
            .ok()
            .filter(|v| !v.trim().is_empty())
        {
            self.default_slo = match v.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" => true,
                "false" | "0" | "no" | "off" => false,
                _ => {
                    return Err(ConfigError::Invalid {
                        field: "PULSE_DEFAULT_SLO".into(),
                        reason: "must be true or false".into(),
                    });
                }
            };
        }
        let b = &mut self.budgets;
        if let Ok(v) = std::env::var("PULSE_BUDGET_WINDOW") {
            b.window = Window::parse(v.trim()).ok_or_else(|| ConfigError::Invalid {
                field: "PULSE_BUDGET_WINDOW".into(),
                reason: format!("`{v}` is not one of 1m, 5m, 1h"),
            })?;
        }
        Ok(())
    }

    /// Checks every value, naming the first bad field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        fn bad(field: impl Into<String>, reason: &str) -> ConfigError {
            ConfigError::Invalid {
                field: field.into(),
                reason: reason.into(),
            }
        }
        let positive = |field: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(bad(field, "must be a positive number"))
            }
        };
        let fraction = |field: &str, v: f64| {
            if v > 0.0 && v <= 1.0 {
                Ok(())
            } else {
                Err(bad(field, "must be in (0, 1]"))
            }
        };
        let b = &self.budgets;
        positive("budgets.p95_ms", b.p95_ms)?;
        positive("budgets.p99_ms", b.p99_ms)?;
        positive("budgets.memory_mib", b.memory_mib)?;
        fraction("budgets.error_rate", b.error_rate)?;
        fraction("budgets.error_target", b.error_target)?;
        fraction("budgets.warn_ratio", b.warn_ratio)?;
        if b.p95_ms > b.p99_ms {
            return Err(bad("budgets.p95_ms", "must not exceed budgets.p99_ms"));
        }
        for (route, r) in &b.routes {
            if let Some(v) = r.p95_ms {
                positive(&format!("budgets.routes.\"{route}\".p95_ms"), v)?;
            }
            if let Some(v) = r.p99_ms {
                positive(&format!("budgets.routes.\"{route}\".p99_ms"), v)?;
            }
            if let Some(v) = r.error_rate {
                fraction(&format!("budgets.routes.\"{route}\".error_rate"), v)?;
            }
        }
        for c in &self.errors.classes {
            if !(1..=9).contains(c) {
                return Err(bad("errors.classes", "classes are 1..=9 (5 for 5xx)"));
            }
        }
        for s in &self.errors.statuses {
            if !(100..=999).contains(s) {
                return Err(bad("errors.statuses", "statuses are 100..=999"));
            }
        }
        if !self.errors.count_cancelled
            && self
                .errors
                .statuses
                .contains(&crate::layer::CANCELLED_STATUS)
        {
            return Err(bad(
                "errors.count_cancelled",
                "is false but errors.statuses lists 499 (cancelled); keep one",
            ));
        }
        for (i, route) in self.monitoring.exclude.iter().enumerate() {
            if !route.starts_with('/') {
                return Err(bad(
                    format!("monitoring.exclude[{i}]"),
                    "must be a route template starting with `/`, e.g. \"/ping\"",
                ));
            }
        }
        if let Some((field, reason)) = self.alerts.problem() {
            return Err(bad(field, reason));
        }
        if let Some((field, reason)) = self.health.problem() {
            return Err(bad(field, &reason));
        }
        let mut latency_slos = 0;
        for (i, s) in self.slo.iter().enumerate() {
            let f = |name: &str| format!("slo[{i}].{name}");
            if s.name.trim().is_empty() {
                return Err(bad(f("name"), "must not be empty"));
            }
            if !(s.objective > 0.0 && s.objective < 1.0) {
                return Err(bad(f("objective"), "must be in (0, 1), e.g. 0.999"));
            }
            if !(1..=30).contains(&s.period_days) {
                return Err(bad(f("period_days"), "must be 1..=30"));
            }
            if let SloKind::Latency { threshold } = s.kind {
                if !(MIN_SLO_THRESHOLD..=MAX_SLO_THRESHOLD).contains(&threshold) {
                    return Err(bad(f("threshold_ms"), &threshold_range()));
                }
                latency_slos += 1;
            }
        }
        if latency_slos > crate::window::MAX_LATENCY_OBJECTIVES {
            return Err(bad(
                "slo",
                &format!(
                    "at most {} latency SLOs",
                    crate::window::MAX_LATENCY_OBJECTIVES
                ),
            ));
        }
        Ok(())
    }

    /// As [`load`](Self::load), with `path` (when given) in place of `PULSE_CONFIG` and
    /// `./pulsecheck.toml`; `PULSE_BUDGET_*` overrides still apply. For tools that must see
    /// the configuration the service sees (`pulsecheck rules --config`).
    pub fn load_from(path: Option<&Path>) -> Result<Self, ConfigError> {
        let Some(path) = path else {
            return Self::load();
        };
        let mut cfg = Self::from_file(path)?;
        cfg.apply_env()?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// The latency thresholds the aggregator must count slow requests for, in SLO order:
    /// exactly those [`evaluate_slo`](super::evaluate_slo) looks up.
    pub fn latency_thresholds(&self) -> Vec<Duration> {
        self.slos().filter_map(Slo::threshold).collect()
    }
}
