//! `[[slo]]`: service level objectives.

use std::sync::LazyLock;
use std::time::Duration;

use serde::Deserialize;

/// What an SLO measures.
#[derive(Clone, Debug, PartialEq)]
pub enum SloKind {
    /// Good = not an error.
    Availability,
    /// Good = answered within `threshold`.
    Latency {
        /// The latency threshold, in whole nanoseconds: the one representation the aggregator
        /// counts slow requests by and [`evaluate_slo`](crate::budget::evaluate_slo) looks up, so the
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
pub(super) fn threshold_range() -> String {
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
