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

use std::fmt::Write as _;

use super::{Gen, RulesError, Sli, SloSeries, q, tier_text};
use crate::budget::SLO_BURN;
use crate::budget::{TIERS, window_name};
use crate::config::PulseConfig;
use crate::num::clean;
use crate::severity::Severity;

/// Appends the Sloth-style SLO groups for `service` to `g`.
pub(super) fn slos(
    g: &mut Gen,
    cfg: &PulseConfig,
    s: &SloSeries<'_>,
    service: &str,
) -> Result<(), RulesError> {
    let mut windows: Vec<u64> = TIERS
        .iter()
        .flat_map(|t| [t.short_minutes, t.long_minutes])
        .collect();
    windows.sort_unstable();
    windows.dedup();
    for slo in cfg.slos() {
        let sli = Sli::of(slo)?;
        let id = format!("{service}-{}", slo.name);
        let ids: [(&str, &str); 3] = [
            ("sloth_id", &id),
            ("sloth_service", service),
            ("sloth_slo", &slo.name),
        ];
        let sel = format!(
            "{{sloth_id={}, sloth_service={}, sloth_slo={}}}",
            q(&id),
            q(service),
            q(&slo.name)
        );
        let with_window = |w: &str| -> Vec<(&str, String)> {
            ids.iter()
                .map(|(k, v)| (*k, (*v).to_owned()))
                .chain([("sloth_window", w.to_owned())])
                .collect()
        };

        let _ = writeln!(
            g.out,
            "  - name: {}",
            q(&format!("sloth-slo-sli-recordings-{id}"))
        );
        let _ = writeln!(g.out, "    rules:");
        for m in &windows {
            let w = window_name(*m);
            let e = sli.bad_ratio(g, s, &w);
            record(
                g,
                &format!("slo:sli_error:ratio_rate{w}"),
                &e,
                &with_window(&w),
            );
        }
        let period = period_name(slo.period_days);
        record(
            g,
            &format!("slo:sli_error:ratio_rate{period}"),
            &format!(
                "sum_over_time(slo:sli_error:ratio_rate5m{sel}[{period}])\n/ ignoring (sloth_window)\ncount_over_time(slo:sli_error:ratio_rate5m{sel}[{period}])"
            ),
            &with_window(&period),
        );

        let allowed = clean(1.0 - slo.objective);
        let plain: Vec<(&str, String)> = ids.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
        let per_budget = "/ on(sloth_id, sloth_slo, sloth_service) group_left";
        let _ = writeln!(
            g.out,
            "  - name: {}",
            q(&format!("sloth-slo-meta-recordings-{id}"))
        );
        let _ = writeln!(g.out, "    rules:");
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
                format!(
                    "slo:sli_error:ratio_rate5m{sel}\n{per_budget}\nslo:error_budget:ratio{sel}"
                ),
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
        let mut info = plain.clone();
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

        let _ = writeln!(g.out, "  - name: {}", q(&format!("sloth-slo-alerts-{id}")));
        let _ = writeln!(g.out, "    rules:");
        for sev in [Severity::Page, Severity::Ticket] {
            let sev_name = sev.as_str();
            let tiers: Vec<_> = TIERS.iter().filter(|t| t.severity == sev).collect();
            if tiers.is_empty() {
                continue;
            }
            let over = |minutes: u64, burn: f64| {
                format!(
                    "    max(slo:sli_error:ratio_rate{}{sel} > ({} * {allowed})) without (sloth_window)",
                    window_name(minutes),
                    clean(burn)
                )
            };
            let expr: Vec<String> = tiers
                .iter()
                .map(|t| {
                    format!(
                        "(\n{}\n    and\n{}\n)",
                        over(t.short_minutes, t.burn_rate),
                        over(t.long_minutes, t.burn_rate)
                    )
                })
                .collect();
            let desc: Vec<String> = tiers.iter().copied().map(tier_text).collect();
            g.alert(
                SLO_BURN,
                &expr.join("\nor\n"),
                sev_name,
                // The SLO's ids as static labels too (they are the series' anyway): two SLOs'
                // alerts share a name and must not be duplicate rules.
                &[
                    ("sloth_id", &id),
                    ("sloth_service", service),
                    ("sloth_slo", &slo.name),
                    ("sloth_severity", sev_name),
                ],
                &format!(
                    "SLO {} of {service} ({}, {} %) is burning its error budget",
                    slo.name,
                    sli.kind,
                    clean(slo.objective * 100.0)
                ),
                &format!(
                    "The {sev_name} error budget of SLO {} of {service} burns too fast: {}. At this rate it is gone before the {}-day period ends.",
                    slo.name,
                    desc.join(", or "),
                    slo.period_days
                ),
            );
        }
    }
    Ok(())
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
