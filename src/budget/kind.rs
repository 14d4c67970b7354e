//! What a budget line limits, and the names it goes by: its name in `/health/budget`, and the
//! name of its alert, one source for the in-process alerts and the Prometheus rules
//! `pulsecheck rules` generates, so that an alert means the same thing in both places.

use serde::Serialize;

/// What a budget line limits.
///
/// ```
/// use pulsecheck::budget::BudgetKind;
/// assert_eq!(BudgetKind::LatencyP95.as_str(), "latency_p95_ms");
/// assert_eq!(BudgetKind::ErrorRate.alert_name(true, false), "PulsecheckRouteErrorRateWarning");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BudgetKind {
    /// `latency_p95_ms`.
    #[serde(rename = "latency_p95_ms")]
    LatencyP95,
    /// `latency_p99_ms`.
    #[serde(rename = "latency_p99_ms")]
    LatencyP99,
    /// `error_rate`.
    ErrorRate,
    /// `memory_mib` (in-process only: Prometheus has no series for it).
    #[serde(rename = "memory_mib")]
    Memory,
}

impl BudgetKind {
    /// Every kind.
    pub const ALL: [Self; 4] = [
        Self::LatencyP95,
        Self::LatencyP99,
        Self::ErrorRate,
        Self::Memory,
    ];

    /// The budget line's name in `/health/budget`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::LatencyP95 => "latency_p95_ms",
            Self::LatencyP99 => "latency_p99_ms",
            Self::ErrorRate => "error_rate",
            Self::Memory => "memory_mib",
        }
    }

    /// `Pulsecheck[Route]<Stem>{Warning,Critical}`: the alert for this budget, for a route's
    /// own budget or the service's, at warning or critical.
    pub fn alert_name(self, route: bool, critical: bool) -> String {
        let stem = match self {
            Self::LatencyP95 => "LatencyP95",
            Self::LatencyP99 => "LatencyP99",
            Self::ErrorRate => "ErrorRate",
            Self::Memory => "Memory",
        };
        format!(
            "Pulsecheck{}{stem}{}",
            if route { "Route" } else { "" },
            if critical { "Critical" } else { "Warning" }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_json_name_is_the_line_name() {
        for kind in BudgetKind::ALL {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
    }
}
