//! The SLO rules in Sloth's conventions (`pulsecheck rules --style sloth`), so that the Sloth
//! Grafana dashboards and whatever else reads Sloth's series work on a pulsecheck service
//! without a Sloth spec or run.
//!
//! Per SLO, with `sloth_id` = `<service>-<slo>`, three groups named as Sloth names them:
//!
//! - `sloth-slo-sli-recordings-<id>`: `slo:sli_error:ratio_rate<w>` over every window of
//!   [`TIERS`] (5m, 30m, 1h, 2h, 6h, 1d, 3d) from the same error and latency series as the
//!   pulsecheck style, and `slo:sli_error:ratio_rate<period>` as Sloth computes it: the mean
//!   of the 5m ratio over the period. Labels `sloth_id`, `sloth_service`, `sloth_slo`,
//!   `sloth_window`.
//! - `sloth-slo-meta-recordings-<id>`: `slo:objective:ratio`, `slo:error_budget:ratio`,
//!   `slo:time_period:days`, `slo:current_burn_rate:ratio`, `slo:period_burn_rate:ratio`,
//!   `slo:period_error_budget_remaining:ratio`, `sloth_slo_info`.
//! - `sloth-slo-alerts-<id>`: [`SLO_BURN`] with `severity`/`sloth_severity` `page` and
//!   `ticket`, each the `or` of its [`TIERS`] (both windows above the burn rate, compared with
//!   `>` like the in-process evaluation), written as Sloth writes them
//!   (`max(... > (14.4 * 0.001)) without (sloth_window)`).
//!
//! [`TIERS`]: crate::budget::TIERS

use super::RulesError;
use super::series::Series;
use super::sli::{Sli, severity_label, tier_text, tier_windows, tiers};
use super::writer::{Gen, q};
use crate::budget::{SLO_BURN, window_name};
use crate::config::{PulseConfig, Slo};
use crate::num::clean;
use crate::severity::Severity;

/// Appends the Sloth-style SLO groups for `service` to `g`.
pub(super) fn slos(
    g: &mut Gen,
    cfg: &PulseConfig,
    s: &Series,
    service: &str,
) -> Result<(), RulesError> {
    let windows = tier_windows();
    for slo in cfg.slos() {
        let sli = Sli::of(slo)?;
        let ids = Ids::new(service, slo);
        sli_recordings(g, slo, &sli, s, &ids, &windows);
        meta_recordings(g, slo, &ids);
        g.group(&q(&format!("sloth-slo-alerts-{}", ids.id)));
        for severity in [Severity::Page, Severity::Ticket] {
            burn_alert(g, slo, &sli, &ids, severity);
        }
    }
    Ok(())
}

/// How Sloth identifies an SLO: `sloth_id` (`<service>-<slo>`), `sloth_service`, `sloth_slo`.
struct Ids<'a> {
    id: String,
    service: &'a str,
    slo: &'a str,
    /// The three as a selector, `{sloth_id="…", sloth_service="…", sloth_slo="…"}`.
    sel: String,
}

impl<'a> Ids<'a> {
    fn new(service: &'a str, slo: &'a Slo) -> Self {
        let id = format!("{service}-{}", slo.name);
        let sel = format!(
            "{{sloth_id={}, sloth_service={}, sloth_slo={}}}",
            q(&id),
            q(service),
            q(&slo.name)
        );
        Self {
            id,
            service,
            slo: &slo.name,
            sel,
        }
    }

    /// The three as labels.
    fn labels(&self) -> Vec<(&'static str, String)> {
        vec![
            ("sloth_id", self.id.clone()),
            ("sloth_service", self.service.to_owned()),
            ("sloth_slo", self.slo.to_owned()),
        ]
    }

    /// The three and `sloth_window`.
    fn with_window(&self, w: &str) -> Vec<(&'static str, String)> {
        let mut labels = self.labels();
        labels.push(("sloth_window", w.to_owned()));
        labels
    }
}

/// `sloth-slo-sli-recordings-<id>`: the bad-request ratio over each tier window, and over
/// the period as Sloth computes it (the mean of the 5m ratio).
fn sli_recordings(g: &mut Gen, slo: &Slo, sli: &Sli, s: &Series, ids: &Ids<'_>, windows: &[u64]) {
    g.group(&q(&format!("sloth-slo-sli-recordings-{}", ids.id)));
    for m in windows {
        let w = window_name(*m);
        let e = sli.bad_ratio(g, s, &w);
        record(
            g,
            &format!("slo:sli_error:ratio_rate{w}"),
            &e,
            &ids.with_window(&w),
        );
    }
    let (period, sel) = (period_name(slo.period_days), &ids.sel);
    record(
        g,
        &format!("slo:sli_error:ratio_rate{period}"),
        &format!(
            "sum_over_time(slo:sli_error:ratio_rate5m{sel}[{period}])\n/ ignoring (sloth_window)\ncount_over_time(slo:sli_error:ratio_rate5m{sel}[{period}])"
        ),
        &ids.with_window(&period),
    );
}

/// `sloth-slo-meta-recordings-<id>`: objective, error budget, period, burn rates, budget
/// left, and `sloth_slo_info`.
fn meta_recordings(g: &mut Gen, slo: &Slo, ids: &Ids<'_>) {
    let (period, sel) = (period_name(slo.period_days), &ids.sel);
    let plain = ids.labels();
    let per_budget = "/ on(sloth_id, sloth_slo, sloth_service) group_left";
    g.group(&q(&format!("sloth-slo-meta-recordings-{}", ids.id)));
    let meta = [
        (
            "slo:objective:ratio",
            format!("vector({})", clean(slo.objective)),
        ),
        (
            "slo:error_budget:ratio",
            format!("vector(1-{})", clean(slo.objective)),
        ),
        (
            "slo:time_period:days",
            format!("vector({})", slo.period_days),
        ),
        (
            "slo:current_burn_rate:ratio",
            format!("slo:sli_error:ratio_rate5m{sel}\n{per_budget}\nslo:error_budget:ratio{sel}"),
        ),
        (
            "slo:period_burn_rate:ratio",
            format!(
                "slo:sli_error:ratio_rate{period}{sel}\n{per_budget}\nslo:error_budget:ratio{sel}"
            ),
        ),
        (
            "slo:period_error_budget_remaining:ratio",
            format!("1 - slo:period_burn_rate:ratio{sel}"),
        ),
    ];
    for (name, expr) in &meta {
        record(g, name, expr, &plain);
    }
    let mut info = plain;
    info.extend([
        ("sloth_mode", "pulsecheck-rules".to_owned()),
        ("sloth_objective", clean(slo.objective * 100.0)),
        ("sloth_spec", "prometheus/v1".to_owned()),
        (
            "sloth_version",
            format!("pulsecheck-{}", env!("CARGO_PKG_VERSION")),
        ),
    ]);
    info.sort_unstable();
    record(g, "sloth_slo_info", "vector(1)", &info);
}

/// The [`SLO_BURN`] alert of one severity, when it has tiers, written as Sloth writes it.
fn burn_alert(g: &mut Gen, slo: &Slo, sli: &Sli, ids: &Ids<'_>, severity: Severity) {
    let label = severity_label(severity);
    let (sel, allowed) = (&ids.sel, clean(1.0 - slo.objective));
    let over = |minutes: u64, burn: f64| {
        format!(
            "    max(slo:sli_error:ratio_rate{}{sel} > ({} * {allowed})) without (sloth_window)",
            window_name(minutes),
            clean(burn)
        )
    };
    let expr: Vec<String> = tiers(severity)
        .map(|t| {
            format!(
                "(\n{}\n    and\n{}\n)",
                over(t.short_minutes, t.burn_rate),
                over(t.long_minutes, t.burn_rate)
            )
        })
        .collect();
    if expr.is_empty() {
        return;
    }
    let desc: Vec<String> = tiers(severity).map(tier_text).collect();
    let service = ids.service;
    g.alert(
        SLO_BURN,
        &expr.join("\nor\n"),
        label,
        // The SLO's ids as static labels too (they are the series' anyway): two SLOs'
        // alerts share a name and must not be duplicate rules.
        &[
            ("sloth_id", &ids.id),
            ("sloth_service", service),
            ("sloth_slo", &slo.name),
            ("sloth_severity", label),
        ],
        &format!(
            "SLO {} of {service} ({}, {} %) is burning its error budget",
            slo.name,
            sli.kind,
            clean(slo.objective * 100.0)
        ),
        &format!(
            "The {label} error budget of SLO {} of {service} burns too fast: {}. At this rate it is gone before the {}-day period ends.",
            slo.name,
            desc.join(", or "),
            slo.period_days
        ),
    );
}

/// The period as Prometheus (and so Sloth) writes a duration: years and weeks only when
/// exact, so 30 days is `30d` and 28 days `4w` (`slo:sli_error:ratio_rate4w`).
fn period_name(days: u64) -> String {
    if days.is_multiple_of(365) {
        format!("{}y", days / 365)
    } else if days.is_multiple_of(7) {
        format!("{}w", days / 7)
    } else {
        format!("{days}d")
    }
}

fn record(g: &mut Gen, name: &str, expr: &str, labels: &[(&str, String)]) {
    let labels: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
    g.record(name, expr, &labels);
}

#[cfg(test)]
mod tests {
    use super::super::{RuleOptions, Style, generate};
    use crate::budget::TIERS;
    use crate::config::PulseConfig;
    use crate::severity::Severity;

    fn sloth(toml: &str, service: &str) -> Result<String, super::RulesError> {
        let cfg = PulseConfig::from_toml_str(toml).unwrap();
        generate(
            &cfg,
            &RuleOptions {
                style: Style::Sloth,
                service: service.into(),
                ..RuleOptions::default()
            },
        )
    }

    /// Sloth's four tiers for a 30-day SLO are the in-process ones, so the two alert alike.
    #[test]
    fn the_in_process_tiers_are_sloths() {
        let got: Vec<(Severity, u64, u64, f64)> = TIERS
            .iter()
            .map(|t| (t.severity, t.long_minutes, t.short_minutes, t.burn_rate))
            .collect();
        assert_eq!(
            got,
            [
                (Severity::Page, 60, 5, 14.4),
                (Severity::Page, 360, 30, 6.0),
                (Severity::Ticket, 1440, 120, 3.0),
                (Severity::Ticket, 4320, 360, 1.0),
            ]
        );
    }

    #[test]
    fn a_latency_slo_gets_sloth_ids_and_counts_slow_requests() {
        let y = sloth(
            "[[slo]]\nname = \"fast\"\nobjective = 0.99\nkind = \"latency\"\nthreshold_ms = 250\nperiod_days = 28\n",
            "shop",
        )
        .unwrap();
        for want in [
            "- name: \"sloth-slo-sli-recordings-shop-fast\"",
            "- name: \"sloth-slo-meta-recordings-shop-fast\"",
            "- name: \"sloth-slo-alerts-shop-fast\"",
            "sloth_id: \"shop-fast\"",
            "le=\"0.25\"",
            // Sloth names a 28-day period as Prometheus prints it.
            "- record: slo:sli_error:ratio_rate4w",
            "sloth_window: \"4w\"",
            "vector(28)",
            "vector(1-0.99)",
            "sloth_objective: \"99\"",
            "ratio_rate2h{sloth_id=\"shop-fast\", sloth_service=\"shop\", sloth_slo=\"fast\"} > (3 * 0.01)) without (sloth_window)",
        ] {
            assert!(y.contains(want), "missing {want}:\n{y}");
        }
    }

    #[test]
    fn a_blank_service_is_an_error_naming_the_flag() {
        let e = sloth("", "  ").unwrap_err().to_string();
        assert!(e.contains("--service"), "{e}");
    }
}
