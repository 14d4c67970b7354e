//! Alert names, one source for the in-process alerts ([`super::rules`]) and the Prometheus
//! rules `pulsecheck rules` generates, so that an alert means the same thing in both places.

/// A budget line that alerts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BudgetKind {
    /// `latency_p95_ms`.
    LatencyP95,
    /// `latency_p99_ms`.
    LatencyP99,
    /// `error_rate`.
    ErrorRate,
    /// `memory_mib` (in-process only: Prometheus has no series for it).
    Memory,
}

impl BudgetKind {
    /// Every kind.
    pub(crate) const ALL: [Self; 4] = [
        Self::LatencyP95,
        Self::LatencyP99,
        Self::ErrorRate,
        Self::Memory,
    ];

    /// The kind of a [`BudgetLine`](crate::budget::BudgetLine) by its name.
    pub(crate) fn of_line(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.line_name() == name)
    }

    /// The budget line's name in `/health/budget`.
    pub(crate) fn line_name(self) -> &'static str {
        match self {
            Self::LatencyP95 => "latency_p95_ms",
            Self::LatencyP99 => "latency_p99_ms",
            Self::ErrorRate => "error_rate",
            Self::Memory => "memory_mib",
        }
    }

    /// `Pulsecheck[Route]<Stem>{Warning,Critical}`: the alert for this budget, for a route's
    /// own budget or the service's, at warning or critical.
    pub(crate) fn alert_name(self, route: bool, critical: bool) -> String {
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

/// An SLO tier burning on both its windows (`severity` page or ticket).
pub(crate) const SLO_BURN: &str = "PulsecheckSloErrorBudgetBurn";
