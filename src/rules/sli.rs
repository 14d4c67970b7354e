//! What both SLO styles share: the SLI (which requests are bad, and their ratio over a
//! range) and the burn-rate tiers of [`TIERS`] as windows and as words.

use super::RulesError;
use super::series::Series;
use super::writer::{Gen, q};
use crate::budget::{TIERS, Tier, window_name};
use crate::config::SloKind;
use crate::layer::DURATION_BOUNDARIES;
use crate::num::clean;
use crate::severity::Severity;

/// Every window a tier reads, in minutes, shortest first, once each.
pub(super) fn tier_windows() -> Vec<u64> {
    let mut windows: Vec<u64> = TIERS
        .iter()
        .flat_map(|t| [t.short_minutes, t.long_minutes])
        .collect();
    windows.sort_unstable();
    windows.dedup();
    windows
}

/// The tiers of `severity`.
pub(super) fn tiers(severity: Severity) -> impl Iterator<Item = &'static Tier> {
    TIERS.iter().filter(move |t| t.severity == severity)
}

/// `page` or `ticket`, the alerts' `severity` label.
pub(super) fn severity_label(severity: Severity) -> &'static str {
    severity.as_str()
}

/// A burn-rate tier as the alerts describe it: `14.4x over 1h and 5m`.
pub(super) fn tier_text(t: &Tier) -> String {
    format!(
        "{}x over {} and {}",
        clean(t.burn_rate),
        window_name(t.long_minutes),
        window_name(t.short_minutes)
    )
}

/// What an SLO counts as bad: errors, or requests above a latency threshold.
pub(super) struct Sli {
    /// `le="<bound>"` of a latency SLO; none for availability.
    pub(super) le: Option<String>,
    /// For alert summaries, e.g. `latency under 250 ms`.
    pub(super) kind: String,
}

impl Sli {
    /// A latency SLO's threshold must be a bucket boundary for Prometheus to count under it.
    pub(super) fn of(slo: &crate::config::Slo) -> Result<Self, RulesError> {
        match slo.kind {
            SloKind::Availability => Ok(Self {
                le: None,
                kind: "availability".to_owned(),
            }),
            SloKind::Latency { threshold } => {
                let threshold_ms = clean(threshold.as_secs_f64() * 1e3);
                let Some(le) = DURATION_BOUNDARIES
                    .iter()
                    .find(|b| (**b * 1e9).round() as u128 == threshold.as_nanos())
                else {
                    return Err(RulesError::Threshold {
                        slo: slo.name.clone(),
                        threshold_ms,
                        bounds: DURATION_BOUNDARIES.map(|b| b.to_string()).join(", "),
                    });
                };
                Ok(Self {
                    le: Some(format!("le={}", q(&le.to_string()))),
                    kind: format!("latency under {threshold_ms} ms"),
                })
            }
        }
    }

    /// The bad-request ratio over the range `w`.
    pub(super) fn bad_ratio(&self, g: &Gen, s: &Series, w: &str) -> String {
        match &self.le {
            None => format!(
                "{}\n/\n{}",
                g.error_rate(&s.errors, "", w, ""),
                g.rate(s.requests, "", w, "")
            ),
            Some(le_sel) => format!(
                "1 - (\n{}\n/\n{}\n)",
                g.rate(&s.bucket, le_sel, w, ""),
                g.rate(&s.count, "", w, "")
            ),
        }
    }
}
