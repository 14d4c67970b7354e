//! How urgent an alert is: one scale for the budget, health and resource alerts and the SLO
//! burn-rate tiers, read by the alert engine, the notifiers and the generated Prometheus rules.

use serde::Serialize;

/// How urgent an alert is. Budgets, health and resources use `warning`/`critical`; SLO
/// burn-rate alerts use `page`/`ticket` (Google SRE workbook, ch. 5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Look at it soon; nobody is woken.
    Warning,
    /// Something users notice is broken.
    Critical,
    /// An SLO burns its error budget slowly: open a ticket.
    Ticket,
    /// An SLO burns its error budget fast: wake someone up.
    Page,
}

impl Severity {
    /// `warning`, `critical`, `ticket` or `page`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Warning => "warning",
            Self::Critical => "critical",
            Self::Ticket => "ticket",
            Self::Page => "page",
        }
    }

    /// Whether a human should be paged (critical or page).
    pub fn is_urgent(self) -> bool {
        matches!(self, Self::Critical | Self::Page)
    }
}
