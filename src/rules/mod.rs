//! Prometheus recording and alerting rules from the budgets and SLOs of `pulsecheck.toml`, so
//! that a fleet gets from Prometheus the alerts one instance evaluates in-process.
//!
//! Two setups, chosen by [`Source`] (`pulsecheck rules --source`):
//!
//! - **`scrape`** (default): Prometheus scrapes the service's `/metrics`. Request and error
//!   rates come from the counter `pulsecheck_http_server_requests_total` (labels `http_route`,
//!   `http_request_method`, `http_response_status_code`), latency from the histogram
//!   `pulsecheck_http_server_request_duration_seconds_{bucket,count}`.
//! - **`collector`**: the service exports OTLP to an OpenTelemetry Collector whose Prometheus
//!   exporter Prometheus scrapes: everything from `http_server_request_duration_seconds_{bucket,count}`
//!   with the labels `http_response_status_code`, `http_route`, `job`.
//!
//! Either way pulsecheck's own endpoints (`/health`, `/health/*` with the dashboard, `/metrics`)
//! are left out by a route matcher (the `[monitoring]` list), as the in-process figures leave them out:
//! a scraper or a kubelet probe must not dilute the service's error rate.
//!
//! - **Budgets** (over `budgets.window`): p95 and p99 with `histogram_quantile`, the error ratio
//!   (statuses of `[errors]`), each a `warning` alert from `warn_ratio` of the limit and a
//!   `critical` one above it, held back under `min_requests` as in-process; per-route overrides
//!   get their own alerts. The memory budget has no Prometheus series and is left out.
//! - **SLOs**: the bad-request ratio over every window of [`TIERS`]
//!   (`pulsecheck:slo_errors:ratio_rate<w>`), then one alert per severity: `page` when 14.4×
//!   the sustainable rate burns over both 1 h and 5 m, or 6× over both 6 h and 30 m; `ticket` at
//!   3× over both 1 d and 2 h, or 1× over both 3 d and 6 h (the SRE workbook's multiwindow,
//!   multi-burn-rate alerts, as Sloth generates them, and as evaluated in-process). A latency
//!   SLO counts requests above its threshold, which must be a bucket boundary
//!   ([`DURATION_BOUNDARIES`]). With [`Style::Sloth`] the SLO rules follow Sloth's names and
//!   labels instead (see `sloth.rs`), for the dashboards built on them.
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
use crate::budget::{BudgetKind, SLO_BURN};
use crate::budget::{TIERS, Tier};
use crate::config::{PulseConfig, SloKind};
use crate::layer::DURATION_BOUNDARIES;
use crate::num::clean;
use crate::severity::Severity;

mod sloth;

/// The histogram the collector's Prometheus exporter makes from `http.server.request.duration`.
pub const METRIC: &str = "http_server_request_duration_seconds";

/// The `http_route` matcher that leaves monitoring traffic out of every rule: the routes the
/// aggregator leaves out of service-wide figures ([`Monitoring::excluded_routes`], pulsecheck's
/// own endpoints plus `[monitoring] exclude`), or none when `count_monitoring` counts them, so
/// Prometheus and `/health/budget` judge the same requests.
///
/// [`Monitoring::excluded_routes`]: crate::budget::Monitoring::excluded_routes
fn monitoring_matcher(cfg: &PulseConfig) -> Option<String> {
    let routes = cfg.monitoring.excluded_routes();
    if routes.is_empty() {
        return None;
    }
    let alternatives: Vec<String> = routes.iter().map(|r| regex_escape(r)).collect();
    Some(format!("http_route!~{}", q(&alternatives.join("|"))))
}

/// A burn-rate tier as the alerts describe it: `14.4x over 1h and 5m`.
fn tier_text(t: &Tier) -> String {
    format!(
        "{}x over {} and {}",
        clean(t.burn_rate),
        window_name(t.long_minutes),
        window_name(t.short_minutes)
    )
}

/// Where the error counts of [`Gen::error_rate`] come from.
struct ErrorSeries<'a> {
    source: Source,
    requests: &'a str,
    bad_status: &'a str,
    cancelled: bool,
}

/// The status codes counted as errors, as an `http_response_status_code` regular expression:
/// `[errors]` classes and statuses, and 499 (a request the client abandoned) decided by
/// `count_cancelled` as in-process, whatever the classes say.
fn error_status_regex(cfg: &PulseConfig) -> String {
    const CANCELLED: u16 = crate::layer::CANCELLED_STATUS;
    let e = &cfg.errors;
    let mut alts: Vec<String> = e
        .classes
        .iter()
        .map(|&c| {
            if !e.count_cancelled && c == CANCELLED / 100 {
                // Every 4xx but 499.
                format!("{c}[0-8].|{c}9[0-8]")
            } else {
                format!("{c}..")
            }
        })
        .collect();
    alts.extend(
        e.statuses
            .iter()
            .filter(|&&s| s != CANCELLED || e.count_cancelled)
            .map(u16::to_string),
    );
    let covered = e.classes.contains(&(CANCELLED / 100)) || e.statuses.contains(&CANCELLED);
    if e.count_cancelled && !covered {
        alts.push(CANCELLED.to_string());
    }
    alts.join("|")
}

/// Where Prometheus gets the request series from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Source {
    /// A direct scrape of the service's `/metrics`.
    #[default]
    Scrape,
    /// The OpenTelemetry Collector's Prometheus exporter (names made from OTLP).
    Collector,
}

impl Source {
    /// The latency histogram's name (without `_bucket`/`_count`).
    pub fn histogram(self) -> &'static str {
        match self {
            Self::Scrape => "pulsecheck_http_server_request_duration_seconds",
            Self::Collector => METRIC,
        }
    }

    /// A counter of requests with an `http_response_status_code` label, for request and error
    /// rates. `/metrics` keeps status codes on a counter, not on its histogram.
    pub fn requests(self) -> &'static str {
        match self {
            Self::Scrape => "pulsecheck_http_server_requests_total",
            Self::Collector => "http_server_request_duration_seconds_count",
        }
    }
}

/// The naming conventions of the SLO rules (`pulsecheck rules --style`). Budgets are the
/// same either way.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Style {
    /// `pulsecheck:slo_errors:ratio_rate<w>{slo}` and `PulsecheckSloErrorBudgetBurn`.
    #[default]
    Pulsecheck,
    /// Sloth's recording rules (`slo:sli_error:ratio_rate<w>`, `slo:objective:ratio`, ...) and
    /// `sloth_*` labels, which the common Sloth Grafana dashboards read.
    Sloth,
}

/// How the rules select and group series.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleOptions {
    /// Extra label matchers, e.g. `job="academy-api"`. Defaults to none.
    pub selector: String,
    /// Labels kept when aggregating (one alert per value). Defaults to `job`.
    pub by: Vec<String>,
    /// Where the series come from. Defaults to [`Source::Scrape`].
    pub source: Source,
    /// Naming conventions of the SLO rules. Defaults to [`Style::Pulsecheck`].
    pub style: Style,
    /// The service name, `sloth_service` in [`Style::Sloth`] (required there).
    pub service: String,
}

impl Default for RuleOptions {
    fn default() -> Self {
        Self {
            selector: String::new(),
            by: vec!["job".into()],
            source: Source::Scrape,
            style: Style::Pulsecheck,
            service: String::new(),
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

struct Gen {
    by: String,
    sel: String,
    out: String,
}

impl Gen {
    /// `{sel,extra}` or `{extra}` or empty.
    fn m(&self, extra: &str) -> String {
        let parts: Vec<&str> = [self.sel.as_str(), extra]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect();
        if parts.is_empty() {
            String::new()
        } else {
            format!("{{{}}}", parts.join(", "))
        }
    }

    /// The rate of requests counted as errors. A direct scrape counts a request the client
    /// abandoned under status 499; the collector's OTLP-derived series carries it with
    /// `error_type="cancelled"` and no status code (the semantic conventions give a request
    /// with no response none), so with `count_cancelled` those series are added with `or`.
    fn error_rate(&self, e: &ErrorSeries<'_>, extra: &str, w: &str, by_extra: &str) -> String {
        let join = |a: &str, b: &str| {
            [a, b]
                .into_iter()
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let series = e.requests;
        let status = self.m(&join(extra, e.bad_status));
        if e.source == Source::Collector && e.cancelled {
            let cancelled = self.m(&join(extra, "error_type=\"cancelled\""));
            format!(
                "sum by ({}{by_extra}) (rate({series}{status}[{w}]) or rate({series}{cancelled}[{w}]))",
                self.by
            )
        } else {
            format!(
                "sum by ({}{by_extra}) (rate({series}{status}[{w}]))",
                self.by
            )
        }
    }

    fn rate(&self, series: &str, extra: &str, w: &str, by_extra: &str) -> String {
        format!(
            "sum by ({}{by_extra}) (rate({series}{}[{w}]))",
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

/// The series an SLO's bad-request ratio is computed from, for either style.
struct SloSeries<'a> {
    errors: ErrorSeries<'a>,
    requests: &'a str,
    bucket: String,
    count: String,
    /// `on (<by>)`, to match the windows of one group in an alert.
    on: String,
}

/// What an SLO counts as bad: errors, or requests above a latency threshold.
struct Sli {
    /// `le="<bound>"` of a latency SLO; none for availability.
    le: Option<String>,
    /// For alert summaries, e.g. `latency under 250 ms`.
    kind: String,
}

impl Sli {
    /// A latency SLO's threshold must be a bucket boundary for Prometheus to count under it.
    fn of(slo: &crate::config::Slo) -> Result<Self, RulesError> {
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
    fn bad_ratio(&self, g: &Gen, s: &SloSeries<'_>, w: &str) -> String {
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
    if opts.style == Style::Sloth && opts.service.trim().is_empty() {
        return Err(RulesError::Invalid {
            what: "service name for --style sloth (set --service or OTEL_SERVICE_NAME)",
            value: opts.service.clone(),
        });
    }
    let own = monitoring_matcher(cfg);
    let mut g = Gen {
        by: opts.by.join(", "),
        sel: [Some(sel.to_string()).filter(|s| !s.is_empty()), own.clone()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(", "),
        out: String::new(),
    };
    let src = opts.source;
    let requests = src.requests();
    let bucket = format!("{}_bucket", src.histogram());
    let count = format!("{}_count", src.histogram());
    let b = &cfg.budgets;
    let on = format!("on ({})", g.by);
    let bad_status = format!("http_response_status_code=~{}", q(&error_status_regex(cfg)));
    let errors = ErrorSeries {
        source: src,
        requests,
        bad_status: &bad_status,
        cancelled: cfg.errors.count_cancelled,
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
        "# Series ({}): {requests}, {}_{{bucket,count}}.",
        match src {
            Source::Scrape => "a direct scrape of the service's /metrics",
            Source::Collector => "the OpenTelemetry Collector's Prometheus exporter",
        },
        src.histogram()
    );
    let _ = match &own {
        Some(m) => writeln!(g.out, "# Monitoring traffic is left out: {m}."),
        None => writeln!(g.out, "# Monitoring traffic is counted (count_monitoring)."),
    };
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
            &g.rate(requests, &sel_extra, w, by_extra),
            &[],
        );
        g.record(
            &format!("pulsecheck:http_{prefix}errors:ratio_rate{w}"),
            &format!(
                "{}\n/\n{}",
                g.error_rate(&errors, &sel_extra, w, by_extra),
                g.rate(requests, &sel_extra, w, by_extra)
            ),
            &[],
        );
        for (qname, qv) in [("p95", 0.95), ("p99", 0.99)] {
            let by_le = format!("{by_extra}, le");
            g.record(
                &format!("pulsecheck:http_{prefix}latency_seconds:{qname}_{w}"),
                &format!(
                    "histogram_quantile({qv}, {})",
                    g.rate(&bucket, &sel_extra, w, &by_le)
                ),
                &[],
            );
        }
    }
    // Alerts: warning from warn_ratio of a limit, critical above it; none under min_requests.
    for s in &scopes {
        let (prefix, rsel, what) = match s.route {
            None => (String::new(), String::new(), "the service".to_owned()),
            Some(r) => (
                "route_".to_owned(),
                format!("{{http_route={}}}", q(r)),
                format!("route {r}"),
            ),
        };
        // Under min_requests in the window, budgets stay ok (as in-process).
        let enough = format!(
            "{on} (pulsecheck:http_{prefix}requests:rate{w}{rsel} * {secs} >= {})",
            b.min_requests
        );
        let lines = [
            (
                BudgetKind::LatencyP95,
                format!("pulsecheck:http_{prefix}latency_seconds:p95_{w}{rsel}"),
                s.p95_ms / 1e3,
                "P95 latency",
                "s",
            ),
            (
                BudgetKind::LatencyP99,
                format!("pulsecheck:http_{prefix}latency_seconds:p99_{w}{rsel}"),
                s.p99_ms / 1e3,
                "P99 latency",
                "s",
            ),
            (
                BudgetKind::ErrorRate,
                format!("pulsecheck:http_{prefix}errors:ratio_rate{w}{rsel}"),
                s.error_rate,
                "error rate",
                "ratio",
            ),
        ];
        for (kind, series, limit, label, unit) in lines {
            let warn = limit * b.warn_ratio;
            let fmt = |v: f64| {
                if unit == "s" {
                    format!("{} ms", clean(v * 1e3))
                } else {
                    format!("{} %", clean(v * 100.0))
                }
            };
            let (limit_s, warn_s) = (clean(limit), clean(warn));
            g.alert(
                &kind.alert_name(s.route.is_some(), true),
                &format!("({series} > {limit_s}) and {enough}"),
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
                &kind.alert_name(s.route.is_some(), false),
                &format!("({series} > {warn_s} <= {limit_s}) and {enough}"),
                "warning",
                &[],
                &format!("{label} of {what} above {} % of its budget", clean(b.warn_ratio * 100.0)),
                &format!("{label} over the last {w} is {{{{ $value }}}} ({unit}); warning from {}, budget {}.", fmt(warn), fmt(limit)),
            );
        }
    }

    // SLOs.
    let series = SloSeries {
        errors,
        requests,
        bucket,
        count,
        on,
    };
    match opts.style {
        Style::Pulsecheck => pulsecheck_slos(&mut g, cfg, &series)?,
        Style::Sloth => sloth::slos(&mut g, cfg, &series, opts.service.trim())?,
    }
    Ok(g.out)
}

/// The pulsecheck-style SLO groups: `pulsecheck:slo_errors:ratio_rate<w>{slo}` over every
/// window of [`TIERS`] and the period, and one [`SLO_BURN`] alert per severity.
fn pulsecheck_slos(g: &mut Gen, cfg: &PulseConfig, s: &SloSeries<'_>) -> Result<(), RulesError> {
    let mut windows: Vec<u64> = TIERS
        .iter()
        .flat_map(|t| [t.short_minutes, t.long_minutes])
        .collect();
    windows.sort_unstable();
    windows.dedup();
    for slo in cfg.slos() {
        let allowed = clean(1.0 - slo.objective);
        let sli = Sli::of(slo)?;
        let kind = &sli.kind;
        let bad_expr = |g: &Gen, w: &str| sli.bad_ratio(g, s, w);

        let _ = writeln!(g.out, "  - name: pulsecheck-slo-{}", slug(&slo.name));
        let _ = writeln!(g.out, "    rules:");
        let labels = [("slo", slo.name.as_str())];
        for m in &windows {
            let wn = window_name(*m);
            let e = bad_expr(g, &wn);
            g.record(
                &format!("pulsecheck:slo_errors:ratio_rate{wn}"),
                &e,
                &labels,
            );
        }
        let period = format!("{}d", slo.period_days);
        let e = bad_expr(g, &period);
        g.record(
            &format!("pulsecheck:slo_errors:ratio_rate{period}"),
            &e,
            &labels,
        );
        g.record(
            "pulsecheck:slo_objective:ratio",
            &format!("vector({})", clean(slo.objective)),
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
                    let (l, short) = (window_name(t.long_minutes), window_name(t.short_minutes));
                    format!(
                        "(\n  pulsecheck:slo_errors:ratio_rate{l}{{slo={sq}}} > ({} * {allowed})\nand {}\n  pulsecheck:slo_errors:ratio_rate{short}{{slo={sq}}} > ({} * {allowed})\n)",
                        clean(t.burn_rate), s.on, clean(t.burn_rate)
                    )
                })
                .collect();
            if tiers.is_empty() {
                continue;
            }
            let sev_name = sev.as_str();
            let desc: Vec<String> = TIERS
                .iter()
                .filter(|t| t.severity == sev)
                .map(tier_text)
                .collect();
            g.alert(
                SLO_BURN,
                &tiers.join("\nor\n"),
                sev_name,
                &labels,
                &format!("SLO {} ({kind}, {} %) is burning its error budget", slo.name, clean(slo.objective * 100.0)),
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
    Ok(())
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
    fn cancelled_requests_count_in_the_error_ratio_as_in_process() {
        let re = |toml: &str| error_status_regex(&PulseConfig::from_toml_str(toml).unwrap());
        assert_eq!(re(""), "5..|499");
        assert_eq!(re("[errors]\ncount_cancelled = false\n"), "5..");
        assert_eq!(re("[errors]\nclasses = [4, 5]\n"), "4..|5..");
        assert_eq!(
            re("[errors]\nclasses = [4, 5]\ncount_cancelled = false\n"),
            "4[0-8].|49[0-8]|5.."
        );
        assert_eq!(re("[errors]\nstatuses = [429, 499]\n"), "5..|429|499");
    }

    #[test]
    fn the_monitoring_matcher_is_the_aggregators_list() {
        let m = |toml: &str| monitoring_matcher(&PulseConfig::from_toml_str(toml).unwrap());
        let own = m("").expect("own endpoints left out by default");
        for path in crate::endpoints::OWN_PATHS {
            // As written in the double-quoted PromQL string: backslashes escaped.
            let quoted = q(&regex_escape(path));
            assert!(own.contains(quoted.trim_matches('"')), "{path} in {own}");
        }
        let with_user = m("[monitoring]\nexclude = [\"/ping/{id}\"]\n").unwrap();
        assert!(with_user.contains(r"/ping/\\{id\\}"), "{with_user}");
        assert_eq!(m("[monitoring]\ncount_monitoring = true\n"), None);
    }

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
            by: vec!["job-name".into()],
            ..RuleOptions::default()
        };
        assert!(generate(&cfg, &bad).is_err());
        let bad = RuleOptions {
            selector: "academy".into(),
            ..RuleOptions::default()
        };
        assert!(generate(&cfg, &bad).is_err());
        let ok = RuleOptions {
            selector: "{job=\"academy\"}".into(),
            by: vec!["job".into(), "instance".into()],
            ..RuleOptions::default()
        };
        let y = generate(&cfg, &ok).unwrap();
        let own = monitoring_matcher(&cfg).unwrap();
        let want = format!(
            "sum by (job, instance) (rate(pulsecheck_http_server_requests_total{{job=\"academy\", {own}}}[5m]))"
        );
        assert!(y.contains(&want), "{y}");
    }

    #[test]
    fn each_source_reads_the_series_it_has() {
        let cfg = PulseConfig::from_toml_str(
            "[[slo]]\nname = \"fast\"\nobjective = 0.99\nkind = \"latency\"\nthreshold_ms = 250\n",
        )
        .unwrap();
        let scrape = generate(&cfg, &RuleOptions::default()).unwrap();
        // /metrics: status codes on the counter, latency on the prefixed histogram.
        let own = monitoring_matcher(&cfg).unwrap();
        let want = format!(
            "rate(pulsecheck_http_server_requests_total{{{own}, http_response_status_code=~\"5..|499\"}}[5m])"
        );
        assert!(scrape.contains(&want), "{scrape}");
        assert!(
            scrape.contains("rate(pulsecheck_http_server_request_duration_seconds_bucket{"),
            "{scrape}"
        );
        assert!(
            !scrape.contains("(rate(http_server_request_duration_seconds"),
            "{scrape}"
        );
        let collector = generate(
            &cfg,
            &RuleOptions {
                source: Source::Collector,
                ..RuleOptions::default()
            },
        )
        .unwrap();
        let own = monitoring_matcher(&cfg).unwrap();
        let want = format!(
            "(rate(http_server_request_duration_seconds_count{{{own}, http_response_status_code=~\"5..|499\"}}[5m]) or rate(http_server_request_duration_seconds_count{{{own}, error_type=\"cancelled\"}}[5m]))"
        );
        assert!(collector.contains(&want), "{collector}");
        assert!(!collector.contains("pulsecheck_http_server"), "{collector}");
    }

    #[test]
    fn numbers_are_printed_without_float_noise() {
        let cfg = PulseConfig::from_toml_str("[budgets]\nerror_rate = 0.1\n").unwrap();
        let y = generate(&cfg, &RuleOptions::default()).unwrap();
        assert!(y.contains("> 0.08 <= 0.1)"), "{y}");
        let cfg = PulseConfig::default();
        let y = generate(&cfg, &RuleOptions::default()).unwrap();
        assert!(y.contains("warning from 4 %, budget 5 %"), "{y}");
        assert!(y.contains("> (14.4 * 0.001)"), "{y}");
        assert!(y.contains("vector(0.999)"), "{y}");
        for line in y.lines() {
            assert!(!line.contains("0000000"), "float noise: {line}");
        }
    }

    /// The alerts the service raises in-process are the alerts the generated rules define:
    /// every budget and SLO alert firing in-process (the memory budget aside, which has no
    /// Prometheus series) has a rule of the same name.
    #[test]
    fn in_process_alert_names_match_the_generated_rules() {
        use crate::alert::{AlertSources, Alerts};
        use crate::config::AlertSettings;
        use crate::layer::{HttpMethod, RequestRecord, RouteTable};
        use crate::window::{Aggregator, AggregatorConfig, ManualClock};
        use std::sync::Arc;
        use std::time::Duration;

        let mut cfg = PulseConfig::from_toml_str(
            "[budgets]\nmin_requests = 1\nwindow = \"1m\"\n[budgets.routes.\"/api/x\"]\np95_ms = 10\n",
        )
        .unwrap();
        cfg.alerts = AlertSettings {
            pending_for: Duration::ZERO,
            ..AlertSettings::default()
        };
        let routes = Arc::new(RouteTable::new(8));
        let route = routes.resolve("/api/x");
        let clock = ManualClock::new(1_000_000);
        let agg = Aggregator::with_clock(AggregatorConfig::default(), routes, clock.clone());
        for _ in 0..50 {
            agg.record(&RequestRecord {
                method: HttpMethod::Get,
                route: Some(route),
                status: 500,
                duration: Duration::from_millis(3000),
                trace_id: None,
            });
        }
        clock.advance(1);
        agg.tick();
        let alerts = Alerts::builder(AlertSources {
            config: Arc::new(cfg.clone()),
            aggregator: agg,
            health: crate::health::Health::builder().build(),
            system: crate::system::SystemMonitor::start(Duration::from_secs(3600)).unwrap(),
            service: "names".into(),
        })
        .build();
        alerts.evaluate_now();
        let fired: Vec<String> = alerts
            .snapshot()
            .firing()
            .map(|a| a.name.clone())
            // Resource alerts have no Prometheus rule: no series for them.
            .filter(|n| !["Memory", "Cpu"].iter().any(|r| n.contains(r)))
            .collect();
        for expected in [
            "PulsecheckLatencyP95Critical",
            "PulsecheckLatencyP99Critical",
            "PulsecheckErrorRateCritical",
            "PulsecheckRouteLatencyP95Critical",
            "PulsecheckRouteErrorRateCritical",
            SLO_BURN,
        ] {
            assert!(
                fired.iter().any(|n| n == expected),
                "{expected} not raised in-process: {fired:?}"
            );
        }
        for source in [Source::Scrape, Source::Collector] {
            let y = generate(
                &cfg,
                &RuleOptions {
                    source,
                    ..RuleOptions::default()
                },
            )
            .unwrap();
            for name in &fired {
                assert!(
                    y.contains(&format!("- alert: {name}\n")),
                    "in-process alert {name} has no generated rule ({source:?})"
                );
            }
        }
    }
}
