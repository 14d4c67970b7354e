//! The SLO rules in pulsecheck's own names ([`Style::Pulsecheck`](super::Style)): per SLO a
//! group `pulsecheck-slo-<slug>` with the bad-request ratio over every tier window and the
//! period (`pulsecheck:slo_errors:ratio_rate<w>{slo}`), the objective and the error budget
//! left, then one [`SLO_BURN`] alert per severity: the `or` of its tiers, each burning on both
//! its windows.

use super::RulesError;
use super::series::Series;
use super::sli::{Sli, severity_label, tier_text, tier_windows, tiers};
use super::writer::{Gen, q, slug};
use crate::budget::{SLO_BURN, window_name};
use crate::config::{PulseConfig, Slo};
use crate::num::clean;
use crate::severity::Severity;

/// Appends the pulsecheck-style SLO groups to `g`.
pub(super) fn slos(g: &mut Gen, cfg: &PulseConfig, s: &Series) -> Result<(), RulesError> {
    let windows = tier_windows();
    for slo in cfg.slos() {
        let sli = Sli::of(slo)?;
        g.group(&format!("pulsecheck-slo-{}", slug(&slo.name)));
        recordings(g, slo, &sli, s, &windows);
        for severity in [Severity::Page, Severity::Ticket] {
            burn_alert(g, slo, &sli, s, severity);
        }
    }
    Ok(())
}

/// `pulsecheck:slo_errors:ratio_rate<w>`: the SLO's bad-request ratio over `w`.
fn ratio_rate(w: &str) -> String {
    format!("pulsecheck:slo_errors:ratio_rate{w}")
}

/// The share of requests the objective allows to be bad.
fn allowed(slo: &Slo) -> String {
    clean(1.0 - slo.objective)
}

/// The bad-request ratio over each window and the period, the objective, the budget left.
fn recordings(g: &mut Gen, slo: &Slo, sli: &Sli, s: &Series, windows: &[u64]) {
    let labels = [("slo", slo.name.as_str())];
    for m in windows {
        let w = window_name(*m);
        let e = sli.bad_ratio(g, s, &w);
        g.record(&ratio_rate(&w), &e, &labels);
    }
    let period = format!("{}d", slo.period_days);
    let e = sli.bad_ratio(g, s, &period);
    g.record(&ratio_rate(&period), &e, &labels);
    g.record(
        "pulsecheck:slo_objective:ratio",
        &format!("vector({})", clean(slo.objective)),
        &labels,
    );
    g.record(
        "pulsecheck:slo_error_budget_remaining:ratio",
        &format!(
            "1 - {}{{slo={}}} / {}",
            ratio_rate(&period),
            q(&slo.name),
            allowed(slo)
        ),
        &labels,
    );
}

/// The [`SLO_BURN`] alert of one severity, when it has tiers.
fn burn_alert(g: &mut Gen, slo: &Slo, sli: &Sli, s: &Series, severity: Severity) {
    let (sq, allowed) = (q(&slo.name), allowed(slo));
    let conditions: Vec<String> = tiers(severity)
        .map(|t| {
            let burn = clean(t.burn_rate);
            format!(
                "(\n  {}{{slo={sq}}} > ({burn} * {allowed})\nand {}\n  {}{{slo={sq}}} > ({burn} * {allowed})\n)",
                ratio_rate(&window_name(t.long_minutes)),
                s.on,
                ratio_rate(&window_name(t.short_minutes)),
            )
        })
        .collect();
    if conditions.is_empty() {
        return;
    }
    let label = severity_label(severity);
    let desc: Vec<String> = tiers(severity).map(tier_text).collect();
    g.alert(
        SLO_BURN,
        &conditions.join("\nor\n"),
        label,
        &[("slo", slo.name.as_str())],
        &format!(
            "SLO {} ({}, {} %) is burning its error budget",
            slo.name,
            sli.kind,
            clean(slo.objective * 100.0)
        ),
        &format!(
            "The {label} error budget of SLO {} burns too fast: {}. At this rate it is gone before the {}-day period ends.",
            slo.name,
            desc.join(", or "),
            slo.period_days
        ),
    );
}
