//! Prometheus recording and alerting rules from the budgets and SLOs of `pulsecheck.toml`, so
//! that a fleet gets from Prometheus the alerts one instance evaluates in-process.
//!
//! Everything is computed from the OpenTelemetry duration histogram as the Prometheus exporter
//! names it: `http_server_request_duration_seconds_{bucket,count}` with the labels
//! `http_response_status_code`, `http_route`, `job`.
//!
//! - **Budgets** (over `budgets.window`): p95 and p99 with `histogram_quantile`, the error ratio
//!   (statuses of `[errors]`), each a `warning` alert from `warn_ratio` of the limit and a
//!   `critical` one above it, held back under `min_requests` as in-process; per-route overrides
//!   get their own alerts. The memory budget has no Prometheus series and is left out.
//! - **SLOs**: the bad-request ratio over every window of [`TIERS`]
//!   (`pulsecheck:slo_errors:ratio_rate<w>`), then one alert per severity: `page` when 14.4×
//!   the sustainable rate burns over both 1 h and 5 m, or 6× over both 6 h and 30 m; `ticket` at
//!   1× over both 3 d and 6 h (the SRE workbook's multiwindow, multi-burn-rate alerts, as
//!   Sloth generates them). A latency SLO counts requests above its threshold, which must be a
//!   bucket boundary ([`DURATION_BOUNDARIES`]).
//!
//! # Example
//!
//! ```
//! use pulsecheck::budget::PulseConfig;
//! use pulsecheck::rules::{generate, RuleOptions};
//! let cfg = PulseConfig::from_toml_str(
//!     "[[slo]]\nname = \"availability\"\nobjective = 0.999\nkind = \"availability\"\n",
//! ).unwrap();
//! let yaml = generate(&cfg, &RuleOptions::default()).unwrap();
//! assert!(yaml.contains("alert: PulsecheckSloErrorBudgetBurn"));
//! assert!(yaml.contains("pulsecheck:slo_errors:ratio_rate1h{slo=\"availability\"} > (14.4 * 0.001)"));
//! ```

use std::fmt::Write as _;

use crate::budget::window_name;
use crate::budget::{PulseConfig, Severity, SloKind, TIERS};
use crate::layer::DURATION_BOUNDARIES;

/// The histogram the rules read.
pub const METRIC: &str = "http_server_request_duration_seconds";

/// How the rules select and group series.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleOptions {
    /// Extra label matchers, e.g. `job="academy-api"`. Defaults to none.
    pub selector: String,
    /// Labels kept when aggregating (one alert per value). Defaults to `job`.
    pub by: Vec<String>,
}

impl Default for RuleOptions {
    fn default() -> Self {
        Self {
            selector: String::new(),
            by: vec!["job".into()],
        }
    }
}

/// Why rules could not be generated.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum RulesError {
    /// A latency SLO's threshold is not a bucket boundary of the histogram.
    #[error(
        "slo `{slo}`: threshold {threshold_ms} ms is not a bucket boundary of {METRIC} ({bounds} s); Prometheus can only count requests under a boundary"
    )]
    Threshold {
        /// The SLO.
        slo: String,
        /// Its threshold, ms.
        threshold_ms: String,
        /// The boundaries.
        bounds: String,
    },
    /// A label name or selector is not valid PromQL.
    #[error("invalid {what}: `{value}`")]
    Invalid {
        /// `--by` or `--selector`.
        what: &'static str,
        /// The value.
        value: String,
    },
}

fn q(s: &str) -> String {
    // A JSON string is a valid YAML double-quoted scalar.
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

fn label_ok(l: &str) -> bool {
    let mut c = l.chars();
    c.next()
        .is_some_and(|f| f.is_ascii_alphabetic() || f == '_')
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
}

fn slug(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

struct Gen<'a> {
    by: String,
    sel: &'a str,
    out: String,
}

impl Gen<'_> {
    /// `{sel,extra}` or `{extra}` or empty.
    fn m(&self, extra: &str) -> String {
        let parts: Vec<&str> = [self.sel, extra]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect();
        if parts.is_empty() {
            String::new()
        } else {
            format!("{{{}}}", parts.join(", "))
        }
    }

    fn rate(&self, suffix: &str, extra: &str, w: &str, by_extra: &str) -> String {
        format!(
            "sum by ({}{by_extra}) (rate({METRIC}_{suffix}{}[{w}]))",
            self.by,
            self.m(extra)
        )
    }

    /// PromQL as a literal block scalar: read as written, no escaping.
    fn expr(&mut self, expr: &str) {
        let _ = writeln!(self.out, "        expr: |-");
        for line in expr.lines() {
            let _ = writeln!(self.out, "          {line}");
        }
    }

    fn record(&mut self, name: &str, expr: &str, labels: &[(&str, &str)]) {
        let _ = writeln!(self.out, "      - record: {name}");
        self.expr(expr);
        if !labels.is_empty() {
            let _ = writeln!(self.out, "        labels:");
            for (k, v) in labels {
                let _ = writeln!(self.out, "          {k}: {}", q(v));
            }
        }
    }

    fn alert(
        &mut self,
        name: &str,
        expr: &str,
        severity: &str,
        labels: &[(&str, &str)],
        summary: &str,
        description: &str,
    ) {
        let _ = writeln!(self.out, "      - alert: {name}");
        self.expr(expr);
        let _ = writeln!(self.out, "        labels:");
        let _ = writeln!(self.out, "          severity: {}", q(severity));
        for (k, v) in labels {
            let _ = writeln!(self.out, "          {k}: {}", q(v));
        }
        let _ = writeln!(self.out, "        annotations:");
        let _ = writeln!(self.out, "          summary: {}", q(summary));
        let _ = writeln!(self.out, "          description: {}", q(description));
    }
}

/// Budget limits of one scope (the service, or one route).
struct Scope<'a> {
    route: Option<&'a str>,
    p95_ms: f64,
    p99_ms: f64,
    error_rate: f64,
}

/// The rules as a Prometheus rule file (YAML).
pub fn generate(cfg: &PulseConfig, opts: &RuleOptions) -> Result<String, RulesError> {
    for l in &opts.by {
        if !label_ok(l) {
            return Err(RulesError::Invalid {
                what: "label in --by",
                value: l.clone(),
            });
        }
    }
    let sel = opts
        .selector
        .trim()
        .trim_start_matches('{')
        .trim_end_matches('}')
        .trim();
    if sel.contains('\n') || (!sel.is_empty() && !sel.contains('=')) {
        return Err(RulesError::Invalid {
            what: "selector",
            value: opts.selector.clone(),
        });
    }
    let mut g = Gen {
        by: opts.by.join(", "),
        sel,
        out: String::new(),
    };
    let b = &cfg.budgets;
    let on = format!("on ({})", g.by);
    let bad_status = {
        let mut alts: Vec<String> = cfg
            .errors
            .classes
            .iter()
            .map(|c| format!("{c}.."))
            .collect();
        alts.extend(cfg.errors.statuses.iter().map(u16::to_string));
        format!("http_response_status_code=~{}", q(&alts.join("|")))
    };

    let w = b.window.as_str();
    let secs = b.window.seconds();
    let _ = writeln!(
        g.out,
        "# Generated by `pulsecheck rules` from the budgets and SLOs of pulsecheck.toml:"
    );
    let _ = writeln!(
        g.out,
        "# the same limits the service evaluates in-process on /health/budget."
    );
    let _ = writeln!(
        g.out,
        "# Series: {METRIC}_{{bucket,count}} (OpenTelemetry http.server.request.duration)."
    );
    let _ = writeln!(g.out, "# Check with: promtool check rules <file>");
    let _ = writeln!(
        g.out,
        "# The memory budget ({} MiB) has no Prometheus series: evaluated in-process only.",
        b.memory_mib
    );
    let _ = writeln!(g.out, "groups:");
    let _ = writeln!(g.out, "  - name: pulsecheck-budgets");
    let _ = writeln!(g.out, "    rules:");

    let mut scopes = vec![Scope {
        route: None,
        p95_ms: b.p95_ms,
        p99_ms: b.p99_ms,
        error_rate: b.error_rate,
    }];
    for (route, r) in &b.routes {
        scopes.push(Scope {
            route: Some(route),
            p95_ms: r.p95_ms.unwrap_or(b.p95_ms),
            p99_ms: r.p99_ms.unwrap_or(b.p99_ms),
            error_rate: r.error_rate.unwrap_or(b.error_rate),
        });
    }
    let has_routes = scopes.len() > 1;
    // Recording rules: the service, and per route when a route has its own budget.
    let levels: &[(&str, &str)] = if has_routes {
        &[("", ""), ("route_", ", http_route")]
    } else {
        &[("", "")]
    };
    for (prefix, by_extra) in levels {
        let sel_extra = if by_extra.is_empty() {
            String::new()
        } else {
            let names: Vec<String> = b.routes.keys().map(|r| regex_escape(r)).collect();
            format!("http_route=~{}", q(&names.join("|")))
        };
        g.record(
            &format!("pulsecheck:http_{prefix}requests:rate{w}"),
            &g.rate("count", &sel_extra, w, by_extra),
            &[],
        );
        let errors_sel = if sel_extra.is_empty() {
            bad_status.clone()
        } else {
            format!("{sel_extra}, {bad_status}")
        };
        g.record(
            &format!("pulsecheck:http_{prefix}errors:ratio_rate{w}"),
            &format!(
                "{}\n/\n{}",
                g.rate("count", &errors_sel, w, by_extra),
                g.rate("count", &sel_extra, w, by_extra)
            ),
            &[],
        );
        for (qname, qv) in [("p95", 0.95), ("p99", 0.99)] {
            let by_le = format!("{by_extra}, le");
            g.record(
                &format!("pulsecheck:http_{prefix}latency_seconds:{qname}_{w}"),
                &format!(
                    "histogram_quantile({qv}, {})",
                    g.rate("bucket", &sel_extra, w, &by_le)
                ),
                &[],
            );
        }
    }
    // Alerts: warning from warn_ratio of a limit, critical above it; none under min_requests.
    for s in &scopes {
        let (prefix, rsel, what, name_part) = match s.route {
            None => (
                String::new(),
                String::new(),
                "the service".to_owned(),
                String::new(),
            ),
            Some(r) => (
                "route_".to_owned(),
                format!("{{http_route={}}}", q(r)),
                format!("route {r}"),
                "Route".to_owned(),
            ),
        };
        // Under min_requests in the window, budgets stay ok (as in-process).
        let enough = format!(
            "{on} (pulsecheck:http_{prefix}requests:rate{w}{rsel} * {secs} >= {})",
            b.min_requests
        );
        let lines = [
            (
                "LatencyP95",
                format!("pulsecheck:http_{prefix}latency_seconds:p95_{w}{rsel}"),
                s.p95_ms / 1e3,
                "P95 latency",
                "s",
            ),
            (
                "LatencyP99",
                format!("pulsecheck:http_{prefix}latency_seconds:p99_{w}{rsel}"),
                s.p99_ms / 1e3,
                "P99 latency",
                "s",
            ),
            (
                "ErrorRate",
                format!("pulsecheck:http_{prefix}errors:ratio_rate{w}{rsel}"),
                s.error_rate,
                "error rate",
                "ratio",
            ),
        ];
        for (name, series, limit, label, unit) in lines {
            let warn = limit * b.warn_ratio;
            let fmt = |v: f64| {
                if unit == "s" {
                    format!("{} ms", v * 1e3)
                } else {
                    format!("{} %", v * 100.0)
                }
            };
            g.alert(
                &format!("Pulsecheck{name_part}{name}Critical"),
                &format!("({series} > {limit}) and {enough}"),
                "critical",
                &[],
                &format!(
                    "{label} of {what} over its budget ({} over {w})",
                    fmt(limit)
                ),
                &format!(
                    "{label} over the last {w} is {{{{ $value }}}} ({unit}); the budget is {}.",
                    fmt(limit)
                ),
            );
            g.alert(
                &format!("Pulsecheck{name_part}{name}Warning"),
                &format!("({series} > {warn} <= {limit}) and {enough}"),
                "warning",
                &[],
                &format!("{label} of {what} above {:.0} % of its budget", b.warn_ratio * 100.0),
                &format!("{label} over the last {w} is {{{{ $value }}}} ({unit}); warning from {}, budget {}.", fmt(warn), fmt(limit)),
            );
        }
    }

    // SLOs.
    let mut windows: Vec<u64> = TIERS
        .iter()
        .flat_map(|t| [t.short_minutes, t.long_minutes])
        .collect();
    windows.sort_unstable();
    windows.dedup();
    for slo in cfg.slos() {
        let allowed = 1.0 - slo.objective;
        let allowed = (allowed * 1e9).round() / 1e9;
        // The bad-request ratio over a window: errors, or requests above the threshold.
        let (bad_sel, kind) = match slo.kind {
            SloKind::Availability => (None, "availability".to_owned()),
            SloKind::Latency { threshold } => {
                let threshold_ms = crate::num::clean(threshold.as_secs_f64() * 1e3);
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
                (
                    Some(format!("le={}", q(&le.to_string()))),
                    format!("latency under {threshold_ms} ms"),
                )
            }
        };
        let bad_expr = |g: &Gen<'_>, w: &str| match &bad_sel {
            None => format!(
                "{}\n/\n{}",
                g.rate("count", &bad_status, w, ""),
                g.rate("count", "", w, "")
            ),
            Some(le_sel) => format!(
                "1 - (\n{}\n/\n{}\n)",
                g.rate("bucket", le_sel, w, ""),
                g.rate("count", "", w, "")
            ),
        };
        let _ = writeln!(g.out, "  - name: pulsecheck-slo-{}", slug(&slo.name));
        let _ = writeln!(g.out, "    rules:");
        let labels = [("slo", slo.name.as_str())];
        for m in &windows {
            let wn = window_name(*m);
            let e = bad_expr(&g, &wn);
            g.record(
                &format!("pulsecheck:slo_errors:ratio_rate{wn}"),
                &e,
                &labels,
            );
        }
        let period = format!("{}d", slo.period_days);
        let e = bad_expr(&g, &period);
        g.record(
            &format!("pulsecheck:slo_errors:ratio_rate{period}"),
            &e,
            &labels,
        );
        g.record(
            "pulsecheck:slo_objective:ratio",
            &format!("vector({})", slo.objective),
            &labels,
        );
        g.record(
            "pulsecheck:slo_error_budget_remaining:ratio",
            &format!(
                "1 - pulsecheck:slo_errors:ratio_rate{period}{{slo={}}} / {allowed}",
                q(&slo.name)
            ),
            &labels,
        );
        let sq = q(&slo.name);
        for sev in [Severity::Page, Severity::Ticket] {
            let tiers: Vec<String> = TIERS
                .iter()
                .filter(|t| t.severity == sev)
                .map(|t| {
                    let (l, s) = (window_name(t.long_minutes), window_name(t.short_minutes));
                    format!(
                        "(\n  pulsecheck:slo_errors:ratio_rate{l}{{slo={sq}}} > ({} * {allowed})\nand {on}\n  pulsecheck:slo_errors:ratio_rate{s}{{slo={sq}}} > ({} * {allowed})\n)",
                        t.burn_rate, t.burn_rate
                    )
                })
                .collect();
            if tiers.is_empty() {
                continue;
            }
            let sev_name = match sev {
                Severity::Page => "page",
                Severity::Ticket => "ticket",
            };
            let desc: Vec<String> = TIERS
                .iter()
                .filter(|t| t.severity == sev)
                .map(|t| {
                    format!(
                        "{}x over {} and {}",
                        t.burn_rate,
                        window_name(t.long_minutes),
                        window_name(t.short_minutes)
                    )
                })
                .collect();
            g.alert(
                "PulsecheckSloErrorBudgetBurn",
                &tiers.join("\nor\n"),
                sev_name,
                &labels,
                &format!("SLO {} ({kind}, {} %) is burning its error budget", slo.name, slo.objective * 100.0),
                &format!(
                    "The {} error budget of SLO {} burns too fast: {}. At this rate it is gone before the {}-day period ends.",
                    sev_name,
                    slo.name,
                    desc.join(", or "),
                    slo.period_days
                ),
            );
        }
    }
    Ok(g.out)
}

fn regex_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            o.push('\\');
        }
        o.push(c);
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_slo_thresholds_must_be_bucket_boundaries() {
        let cfg = PulseConfig::from_toml_str(
            "[[slo]]\nname = \"fast\"\nobjective = 0.99\nkind = \"latency\"\nthreshold_ms = 300\n",
        )
        .unwrap();
        let e = generate(&cfg, &RuleOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("300 ms is not a bucket boundary"), "{e}");
        let cfg = PulseConfig::from_toml_str(
            "[[slo]]\nname = \"fast\"\nobjective = 0.99\nkind = \"latency\"\nthreshold_ms = 250\n",
        )
        .unwrap();
        let y = generate(&cfg, &RuleOptions::default()).unwrap();
        assert!(y.contains("le=\"0.25\""), "{y}");
    }

    #[test]
    fn selectors_and_labels_are_checked() {
        let cfg = PulseConfig::default();
        let bad = RuleOptions {
            selector: String::new(),
            by: vec!["job-name".into()],
        };
        assert!(generate(&cfg, &bad).is_err());
        let bad = RuleOptions {
            selector: "academy".into(),
            by: vec!["job".into()],
        };
        assert!(generate(&cfg, &bad).is_err());
        let ok = RuleOptions {
            selector: "{job=\"academy\"}".into(),
            by: vec!["job".into(), "instance".into()],
        };
        let y = generate(&cfg, &ok).unwrap();
        assert!(y.contains("sum by (job, instance) (rate(http_server_request_duration_seconds_count{job=\"academy\"}[5m]))"), "{y}");
    }
}
