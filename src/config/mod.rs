//! The crate's configuration: `pulsecheck.toml`, the environment variables, validation.

mod alerts;
mod budgets;
mod error;
mod errors;
mod health;
mod monitoring;
mod slo;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

pub use alerts::AlertSettings;
pub use budgets::{Budgets, RouteBudget};
pub use error::ConfigError;
pub use errors::Errors;
pub use health::{GroupSettings, HealthSettings, is_group_name};
pub use monitoring::Monitoring;
use slo::threshold_range;
pub use slo::{MAX_SLO_THRESHOLD, MIN_SLO_THRESHOLD, Slo, SloKind, default_slo};

use crate::env;
use crate::window::Window;

/// Everything `pulsecheck.toml` configures.
///
/// ```
/// use pulsecheck::config::PulseConfig;
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
    pub alerts: AlertSettings,
    /// Which requests are monitoring traffic, left out of service-wide figures.
    pub monitoring: Monitoring,
    /// Health groups (`[health.groups.NAME]`).
    pub health: HealthSettings,
}

impl Default for PulseConfig {
    fn default() -> Self {
        Self {
            errors: Errors::default(),
            budgets: Budgets::default(),
            slo: Vec::new(),
            default_slo: env::PULSE_DEFAULT_SLO_DEFAULT,
            alerts: AlertSettings::default(),
            monitoring: Monitoring::default(),
            health: HealthSettings::default(),
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
        let mut cfg = match env::var(env::PULSE_CONFIG) {
            Some(path) => Self::from_file(Path::new(&path))?,
            None if Path::new(env::PULSE_CONFIG_DEFAULT).exists() => {
                Self::from_file(Path::new(env::PULSE_CONFIG_DEFAULT))?
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

    /// The `PULSE_BUDGET_*`, `PULSE_ALERT_*` and `PULSE_DEFAULT_SLO` overrides.
    fn apply_env(&mut self) -> Result<(), ConfigError> {
        fn invalid(var: &str, reason: impl Into<String>) -> ConfigError {
            ConfigError::Invalid {
                field: var.into(),
                reason: reason.into(),
            }
        }
        fn num(var: &str) -> Result<Option<f64>, ConfigError> {
            env::var(var)
                .map(|v| {
                    v.parse()
                        .map_err(|_| invalid(var, format!("`{v}` is not a number")))
                })
                .transpose()
        }
        let b = &mut self.budgets;
        for (var, slot) in [
            (env::PULSE_BUDGET_P95_MS, &mut b.p95_ms),
            (env::PULSE_BUDGET_P99_MS, &mut b.p99_ms),
            (env::PULSE_BUDGET_ERROR_RATE, &mut b.error_rate),
            (env::PULSE_BUDGET_MEMORY_MIB, &mut b.memory_mib),
            (env::PULSE_BUDGET_WARN_RATIO, &mut b.warn_ratio),
        ] {
            if let Some(v) = num(var)? {
                *slot = v;
            }
        }
        if let Some(v) = num(env::PULSE_BUDGET_MIN_REQUESTS)? {
            if v < 0.0 || v.fract() != 0.0 {
                return Err(invalid(
                    env::PULSE_BUDGET_MIN_REQUESTS,
                    "must be a whole number",
                ));
            }
            b.min_requests = v as u64;
        }
        if let Some(v) = env::var(env::PULSE_BUDGET_WINDOW) {
            b.window = Window::parse(&v).ok_or_else(|| {
                invalid(
                    env::PULSE_BUDGET_WINDOW,
                    format!("`{v}` is not one of 1m, 5m, 1h"),
                )
            })?;
        }
        let a = &mut self.alerts;
        for (var, slot) in [
            (env::PULSE_ALERT_INTERVAL, &mut a.interval),
            (env::PULSE_ALERT_FOR, &mut a.pending_for),
            (env::PULSE_ALERT_KEEP_FIRING_FOR, &mut a.keep_firing_for),
        ] {
            *slot = env::duration(var, *slot)
                .map_err(|v| invalid(var, format!("`{v}` is not a duration such as `30s`")))?;
        }
        if let Some(v) = env::var(env::PULSE_DEFAULT_SLO) {
            self.default_slo = match v.to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" => true,
                "false" | "0" | "no" | "off" => false,
                _ => return Err(invalid(env::PULSE_DEFAULT_SLO, "must be true or false")),
            };
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
    /// exactly those [`evaluate_slo`](crate::budget::evaluate_slo) looks up.
    pub fn latency_thresholds(&self) -> Vec<Duration> {
        self.slos().filter_map(Slo::threshold).collect()
    }
}
