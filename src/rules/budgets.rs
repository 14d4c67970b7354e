//! The budget rules, over `budgets.window`: recording rules for the request rate, the error
//! ratio and p95/p99 latency, for the service and, when a route has its own budget, per
//! route; then for each scope and budget a `critical` alert above the limit and a `warning`
//! one from `warn_ratio` of it, held back under `min_requests` as in-process. The memory
//! budget has no Prometheus series and is left out.

use super::series::{Series, regex_escape};
use super::writer::{Gen, q};
use crate::budget::BudgetKind;
use crate::config::Budgets;
use crate::num::clean;

/// The `pulsecheck-budgets` group.
pub(super) fn rules(g: &mut Gen, b: &Budgets, s: &Series) {
    g.group("pulsecheck-budgets");
    recordings(g, b, s);
    for scope in scopes(b) {
        alerts(g, b, s, &scope);
    }
}

// --- Names. The recording rules' are read back by the alerts; the alerts' are the ones the
// in-process engine raises. ---

/// `pulsecheck:http_[route_]requests:rate<w>`.
fn requests_rate(prefix: &str, w: &str) -> String {
    format!("pulsecheck:http_{prefix}requests:rate{w}")
}

/// `pulsecheck:http_[route_]errors:ratio_rate<w>`.
fn errors_ratio(prefix: &str, w: &str) -> String {
    format!("pulsecheck:http_{prefix}errors:ratio_rate{w}")
}

/// `pulsecheck:http_[route_]latency_seconds:<p95|p99>_<w>`.
fn latency(prefix: &str, quantile: &str, w: &str) -> String {
    format!("pulsecheck:http_{prefix}latency_seconds:{quantile}_{w}")
}

/// The alert on `kind` of a route's own budget or the service's, critical or warning.
fn alert_name(kind: BudgetKind, route: bool, critical: bool) -> String {
    kind.alert_name(route, critical)
}

// --- Recording rules. ---

/// Who a set of recording rules aggregates: the service, or each route with its own budget.
struct Level {
    /// `route_` in the rule names of the per-route level.
    prefix: &'static str,
    /// `, http_route` in the per-route `by`.
    by: &'static str,
    /// The routes' matcher; empty for the service.
    routes: String,
}

/// The service, and per route when a route has its own budget.
fn levels(b: &Budgets) -> Vec<Level> {
    let mut levels = vec![Level {
        prefix: "",
        by: "",
        routes: String::new(),
    }];
    if !b.routes.is_empty() {
        let names: Vec<String> = b.routes.keys().map(|r| regex_escape(r)).collect();
        levels.push(Level {
            prefix: "route_",
            by: ", http_route",
            routes: format!("http_route=~{}", q(&names.join("|"))),
        });
    }
    levels
}

fn recordings(g: &mut Gen, b: &Budgets, s: &Series) {
    let w = b.window.as_str();
    for l in levels(b) {
        g.record(
            &requests_rate(l.prefix, w),
            &g.rate(s.requests, &l.routes, w, l.by),
            &[],
        );
        g.record(
            &errors_ratio(l.prefix, w),
            &format!(
                "{}\n/\n{}",
                g.error_rate(&s.errors, &l.routes, w, l.by),
                g.rate(s.requests, &l.routes, w, l.by)
            ),
            &[],
        );
        for (quantile, qv) in [("p95", 0.95), ("p99", 0.99)] {
            let by_le = format!("{}, le", l.by);
            g.record(
                &latency(l.prefix, quantile, w),
                &format!(
                    "histogram_quantile({qv}, {})",
                    g.rate(&s.bucket, &l.routes, w, &by_le)
                ),
                &[],
            );
        }
    }
}

// --- Alerts. ---

/// Budget limits of one scope (the service, or one route).
struct Scope<'a> {
    route: Option<&'a str>,
    p95_ms: f64,
    p99_ms: f64,
    error_rate: f64,
}

/// The service's limits, then each route's (a limit it does not set is the service's).
fn scopes(b: &Budgets) -> Vec<Scope<'_>> {
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
    scopes
}

/// One budget of a scope as its alerts read it.
struct Line {
    kind: BudgetKind,
    /// The recorded series, selected for the scope.
    series: String,
    /// In the series' unit.
    limit: f64,
    /// `P95 latency`, `error rate`.
    label: &'static str,
    /// `s` or `ratio`.
    unit: &'static str,
}

impl Line {
    /// The limit as the summaries say it: ms or %.
    fn show(&self, v: f64) -> String {
        if self.unit == "s" {
            format!("{} ms", clean(v * 1e3))
        } else {
            format!("{} %", clean(v * 100.0))
        }
    }
}

fn alerts(g: &mut Gen, b: &Budgets, s: &Series, scope: &Scope<'_>) {
    let w = b.window.as_str();
    let (prefix, rsel, what) = match scope.route {
        None => ("", String::new(), "the service".to_owned()),
        Some(r) => (
            "route_",
            format!("{{http_route={}}}", q(r)),
            format!("route {r}"),
        ),
    };
    // Under min_requests in the window, budgets stay ok (as in-process).
    let enough = format!(
        "{} ({}{rsel} * {} >= {})",
        s.on,
        requests_rate(prefix, w),
        b.window.seconds(),
        b.min_requests
    );
    let lines = [
        Line {
            kind: BudgetKind::LatencyP95,
            series: format!("{}{rsel}", latency(prefix, "p95", w)),
            limit: scope.p95_ms / 1e3,
            label: "P95 latency",
            unit: "s",
        },
        Line {
            kind: BudgetKind::LatencyP99,
            series: format!("{}{rsel}", latency(prefix, "p99", w)),
            limit: scope.p99_ms / 1e3,
            label: "P99 latency",
            unit: "s",
        },
        Line {
            kind: BudgetKind::ErrorRate,
            series: format!("{}{rsel}", errors_ratio(prefix, w)),
            limit: scope.error_rate,
            label: "error rate",
            unit: "ratio",
        },
    ];
    for line in &lines {
        let route = scope.route.is_some();
        critical(g, b, line, route, &what, &enough);
        warning(g, b, line, route, &what, &enough);
    }
}

/// Over the limit.
fn critical(g: &mut Gen, b: &Budgets, l: &Line, route: bool, what: &str, enough: &str) {
    let (w, label, unit) = (b.window.as_str(), l.label, l.unit);
    g.alert(
        &alert_name(l.kind, route, true),
        &format!("({} > {}) and {enough}", l.series, clean(l.limit)),
        "critical",
        &[],
        &format!(
            "{label} of {what} over its budget ({} over {w})",
            l.show(l.limit)
        ),
        &format!(
            "{label} over the last {w} is {{{{ $value }}}} ({unit}); the budget is {}.",
            l.show(l.limit)
        ),
    );
}

/// From `warn_ratio` of the limit up to the limit.
fn warning(g: &mut Gen, b: &Budgets, l: &Line, route: bool, what: &str, enough: &str) {
    let (w, label, unit) = (b.window.as_str(), l.label, l.unit);
    let warn = l.limit * b.warn_ratio;
    g.alert(
        &alert_name(l.kind, route, false),
        &format!(
            "({} > {} <= {}) and {enough}",
            l.series,
            clean(warn),
            clean(l.limit)
        ),
        "warning",
        &[],
        &format!(
            "{label} of {what} above {} % of its budget",
            clean(b.warn_ratio * 100.0)
        ),
        &format!(
            "{label} over the last {w} is {{{{ $value }}}} ({unit}); warning from {}, budget {}.",
            l.show(warn),
            l.show(l.limit)
        ),
    );
}
