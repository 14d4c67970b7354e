//! SLO evaluation with multiwindow, multi-burn-rate alerting (Google SRE workbook, ch. 5):
//! page when 14.4× the sustainable error rate is burnt over both 1 h and 5 m, or 6× over both
//! 6 h and 30 m; open a ticket at 3× over both 1 d and 2 h, or 1× over both 3 d and 6 h.
//! These are the four tiers Sloth generates for a 30-day SLO, so `pulsecheck rules --style sloth`
//! and the in-process evaluation alert on the same burn rates.
//!
//! Burn rate = error ratio / (1 − objective). Windows come from the aggregator's long history:
//! minute slots for up to 3 days and hour slots beyond (see
//! [`Aggregator::long_counts`](crate::window::Aggregator::long_counts)), each including the
//! current partial slot, so a 5 m window covers between 4 and 5 minutes of data.

use serde::Serialize;

use crate::config::{Slo, SloKind};
use crate::severity::Severity;
use crate::window::{Aggregator, LongCounts};

/// The alert an SLO tier raises while it burns on both its windows (`severity` page or
/// ticket), in-process and in the generated Prometheus rules.
pub(crate) const SLO_BURN: &str = "PulsecheckSloErrorBudgetBurn";

/// A tier's definition: both windows must burn faster than `burn_rate`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Tier {
    /// Severity when it fires: [`Severity::Page`] or [`Severity::Ticket`].
    pub(crate) severity: Severity,
    /// Long window, minutes.
    pub(crate) long_minutes: u64,
    /// Short window, minutes.
    pub(crate) short_minutes: u64,
    /// Burn-rate threshold.
    pub(crate) burn_rate: f64,
}

/// The SRE workbook's tiers for a 30-day SLO (2 % of the budget in 1 h, 5 % in 6 h, 10 % in
/// 1 d, 10 % in 3 d), as Sloth generates them; the Prometheus rules read the same table.
pub(crate) const TIERS: [Tier; 4] = [
    Tier {
        severity: Severity::Page,
        long_minutes: 60,
        short_minutes: 5,
        burn_rate: 14.4,
    },
    Tier {
        severity: Severity::Page,
        long_minutes: 360,
        short_minutes: 30,
        burn_rate: 6.0,
    },
    Tier {
        severity: Severity::Ticket,
        long_minutes: 24 * 60,
        short_minutes: 120,
        burn_rate: 3.0,
    },
    Tier {
        severity: Severity::Ticket,
        long_minutes: 3 * 24 * 60,
        short_minutes: 360,
        burn_rate: 1.0,
    },
];

/// One tier evaluated.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TierReport {
    /// `page` or `ticket`.
    pub severity: Severity,
    /// Long window, e.g. `1h`.
    pub long_window: String,
    /// Short window, e.g. `5m`.
    pub short_window: String,
    /// Threshold.
    pub burn_rate_threshold: f64,
    /// Burn rate over the long window (absent without enough requests).
    pub long_burn_rate: Option<f64>,
    /// Burn rate over the short window.
    pub short_burn_rate: Option<f64>,
    /// Both windows over the threshold, with enough requests.
    pub firing: bool,
}

/// One SLO evaluated.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SloReport {
    /// Its name.
    pub name: String,
    /// `availability` or `latency`.
    pub kind: &'static str,
    /// Target good fraction.
    pub objective: f64,
    /// Period, days.
    pub period_days: u64,
    /// Requests in the period so far.
    pub requests: u64,
    /// Good fraction over the period so far (absent without requests).
    pub sli: Option<f64>,
    /// Fraction of the period's error budget left (1 = untouched, negative = overspent).
    pub error_budget_remaining: Option<f64>,
    /// The tiers.
    pub tiers: Vec<TierReport>,
    /// The most severe firing tier, if any.
    pub alert: Option<Severity>,
}

/// `5m`, `6h`, `3d`: the largest whole unit, as Prometheus writes ranges.
pub(crate) fn window_name(minutes: u64) -> String {
    if minutes.is_multiple_of(24 * 60) {
        format!("{}d", minutes / (24 * 60))
    } else if minutes.is_multiple_of(60) {
        format!("{}h", minutes / 60)
    } else {
        format!("{minutes}m")
    }
}

/// Why an SLO could not be evaluated.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SloError {
    /// The aggregator keeps no slow-request count for this latency SLO's threshold (it was
    /// built without it, see [`PulseConfig::latency_thresholds`](crate::config::PulseConfig::latency_thresholds)).
    /// Reported as such, never judged by errors instead.
    #[error(
        "slo `{slo}`: the aggregator counts no requests slower than {threshold_ns} ns (it tracks {tracked_ns:?} ns); build it from PulseConfig::latency_thresholds"
    )]
    UntrackedThreshold {
        /// The SLO.
        slo: String,
        /// Its threshold, ns.
        threshold_ns: u128,
        /// The thresholds the aggregator tracks, ns.
        tracked_ns: Vec<u64>,
    },
}

/// Evaluates `slo` on the aggregator's history. A window with fewer than `min_requests`
/// requests has no burn rate and cannot fire. A latency SLO whose threshold the aggregator
/// does not track is an error: it is never silently judged as an availability SLO.
pub fn evaluate_slo(slo: &Slo, agg: &Aggregator, min_requests: u64) -> Result<SloReport, SloError> {
    let slow_index = match slo.kind {
        SloKind::Availability => None,
        SloKind::Latency { threshold } => {
            let ns = threshold.as_nanos();
            let tracked = agg.latency_thresholds_ns();
            Some(
                tracked
                    .iter()
                    .position(|t| u128::from(*t) == ns)
                    .ok_or_else(|| SloError::UntrackedThreshold {
                        slo: slo.name.clone(),
                        threshold_ns: ns,
                        tracked_ns: tracked.to_vec(),
                    })?,
            )
        }
    };
    let bad = |c: &LongCounts| match slow_index {
        None => c.errors,
        Some(i) => c.slow[i],
    };
    let allowed = 1.0 - slo.objective;
    let burn = |minutes: u64| {
        let c = agg.long_counts(minutes);
        (c.total >= min_requests.max(1)).then(|| bad(&c) as f64 / c.total as f64 / allowed)
    };
    let tiers: Vec<TierReport> = TIERS
        .iter()
        .map(|t| {
            let long = burn(t.long_minutes);
            let short = burn(t.short_minutes);
            TierReport {
                severity: t.severity,
                long_window: window_name(t.long_minutes),
                short_window: window_name(t.short_minutes),
                burn_rate_threshold: t.burn_rate,
                firing: long.is_some_and(|l| l > t.burn_rate)
                    && short.is_some_and(|s| s > t.burn_rate),
                long_burn_rate: long,
                short_burn_rate: short,
            }
        })
        .collect();
    let period = agg.long_counts(slo.period_days * 24 * 60);
    let sli = (period.total > 0).then(|| 1.0 - bad(&period) as f64 / period.total as f64);
    let alert = if tiers
        .iter()
        .any(|t| t.firing && t.severity == Severity::Page)
    {
        Some(Severity::Page)
    } else if tiers.iter().any(|t| t.firing) {
        Some(Severity::Ticket)
    } else {
        None
    };
    Ok(SloReport {
        name: slo.name.clone(),
        kind: match slo.kind {
            SloKind::Availability => "availability",
            SloKind::Latency { .. } => "latency",
        },
        objective: slo.objective,
        period_days: slo.period_days,
        requests: period.total,
        error_budget_remaining: sli.map(|s| 1.0 - (1.0 - s) / allowed),
        sli,
        tiers,
        alert,
    })
}
