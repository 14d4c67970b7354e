//! The `[alerts]` section of `pulsecheck.toml`.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use crate::env;

/// When alerts are evaluated and how they are damped.
///
/// ```
/// use pulsecheck::config::PulseConfig;
/// let cfg = PulseConfig::from_toml_str("[alerts]\nfor = \"1m\"\nkeep_firing_for = \"5m\"\n").unwrap();
/// assert_eq!(cfg.alerts.pending_for, std::time::Duration::from_secs(60));
/// assert!(PulseConfig::from_toml_str("[alerts]\ninterval = \"soon\"\n").is_err());
///
/// // `for` per alert name: a dead dependency fires at the first evaluation that sees it.
/// let cfg = PulseConfig::from_toml_str(
///     "[alerts]\nfor = \"30s\"\n[alerts.for_rule]\nPulsecheckDependencyDown = \"0s\"\n",
/// ).unwrap();
/// assert_eq!(cfg.alerts.pending_for("PulsecheckDependencyDown"), std::time::Duration::ZERO);
/// assert_eq!(cfg.alerts.pending_for("PulsecheckHighErrorRateWarning"), std::time::Duration::from_secs(30));
/// let err = PulseConfig::from_toml_str("[alerts.for_rule]\nDependencyDown = \"0s\"\n").unwrap_err();
/// assert!(err.to_string().contains("alerts.for_rule"), "{err}");
/// let err = PulseConfig::from_toml_str("[alerts.for_rule]\nPulsecheckDependencyDown = \"now\"\n").unwrap_err();
/// assert!(err.to_string().contains("alerts.for_rule.PulsecheckDependencyDown"), "{err}");
/// ```
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertSettings {
    /// Time between evaluations (default 5 s; 100 ms to 1 day).
    #[serde(deserialize_with = "crate::duration::deserialize")]
    pub interval: Duration,
    /// How long a condition must hold before the alert fires (Prometheus `for`; default 30 s),
    /// so one bad second does not page.
    #[serde(rename = "for", deserialize_with = "crate::duration::deserialize")]
    pub pending_for: Duration,
    /// `for` of single alerts by name (`[alerts.for_rule]`, `PulsecheckDependencyDown = "0s"`),
    /// overriding `for` for that name. Default: none.
    #[serde(deserialize_with = "durations_de")]
    pub for_rule: BTreeMap<String, Duration>,
    /// How long a firing alert keeps firing after its condition clears (Prometheus
    /// `keep_firing_for`; default 1 m), so a flapping signal notifies once.
    #[serde(deserialize_with = "crate::duration::deserialize")]
    pub keep_firing_for: Duration,
    /// How long resolved alerts stay listed in `/health/alerts` (default 15 m).
    #[serde(deserialize_with = "crate::duration::deserialize")]
    pub resolved_retention: Duration,
    /// Transitions kept in the history (default 200).
    pub history: usize,
    /// Process CPU utilisation (0..1 of the CPUs available) from which
    /// `PulsecheckProcessCpuHigh` fires (default 0.9).
    pub cpu_utilization: f64,
    /// Host memory utilisation (1 − available/total) from which `PulsecheckHostMemoryHigh`
    /// fires (default 0.9).
    pub host_memory_utilization: f64,
}

impl Default for AlertSettings {
    fn default() -> Self {
        Self {
            interval: env::PULSE_ALERT_INTERVAL_DEFAULT,
            pending_for: env::PULSE_ALERT_FOR_DEFAULT,
            for_rule: BTreeMap::new(),
            keep_firing_for: env::PULSE_ALERT_KEEP_FIRING_FOR_DEFAULT,
            resolved_retention: Duration::from_secs(15 * 60),
            history: 200,
            cpu_utilization: 0.9,
            host_memory_utilization: 0.9,
        }
    }
}

fn durations_de<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, Duration>, D::Error> {
    BTreeMap::<String, String>::deserialize(d)?
        .into_iter()
        .map(|(name, s)| match crate::duration::parse(&s) {
            Some(v) => Ok((name, v)),
            None => Err(serde::de::Error::custom(format!(
                "alerts.for_rule.{name}: `{s}` is not a duration such as `30s` or `5m`"
            ))),
        })
        .collect()
}

impl AlertSettings {
    /// How long the alert named `name` must hold before it fires: its `[alerts.for_rule]`
    /// entry, else `for`.
    pub fn pending_for(&self, name: &str) -> Duration {
        self.for_rule.get(name).copied().unwrap_or(self.pending_for)
    }

    /// The first invalid field and why.
    pub(crate) fn problem(&self) -> Option<(&'static str, &'static str)> {
        if self.interval < Duration::from_millis(100) {
            return Some(("alerts.interval", "must be at least 100ms"));
        }
        if self.for_rule.keys().any(|name| {
            !name.starts_with("Pulsecheck") || !name.chars().all(|c| c.is_ascii_alphanumeric())
        }) {
            return Some((
                "alerts.for_rule",
                "keys must be alert names such as PulsecheckDependencyDown",
            ));
        }
        // The task's timer adds the interval to `Instant::now()`, which panics on overflow.
        if self.interval > Duration::from_secs(24 * 3600) {
            return Some(("alerts.interval", "must be at most 1 day"));
        }
        if self.history == 0 || self.history > 100_000 {
            return Some(("alerts.history", "must be 1..=100000"));
        }
        let fraction = |v: f64| v > 0.0 && v <= 1.0;
        if !fraction(self.cpu_utilization) {
            return Some(("alerts.cpu_utilization", "must be in (0, 1]"));
        }
        if !fraction(self.host_memory_utilization) {
            return Some(("alerts.host_memory_utilization", "must be in (0, 1]"));
        }
        None
    }
}
