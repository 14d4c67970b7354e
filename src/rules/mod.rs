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
//! - **SLOs**: the bad-request ratio over every window of the burn-rate tiers of [`budget`](crate::budget)
//!   (`pulsecheck:slo_errors:ratio_rate<w>`), then one alert per severity: `page` when 14.4×
//!   the sustainable rate burns over both 1 h and 5 m, or 6× over both 6 h and 30 m; `ticket` at
//!   3× over both 1 d and 2 h, or 1× over both 3 d and 6 h (the SRE workbook's multiwindow,
//!   multi-burn-rate alerts, as Sloth generates them, and as evaluated in-process). A latency
//!   SLO counts requests above its threshold, which must be a bucket boundary
//!   ([`DURATION_BOUNDARIES`]). With [`Style::Sloth`] the SLO rules follow Sloth's names and
//!   labels instead (see `sloth.rs`), for the dashboards built on them.
//!
//! The file is written in steps, one module each: the series to read (`series.rs`), the
//! budget group (`budgets.rs`), the SLO groups in either style (`slo.rs`, `sloth.rs`, sharing
//! the SLI of `sli.rs`), through one YAML and PromQL writer (`writer.rs`).
//!
//! [`DURATION_BOUNDARIES`]: crate::layer::DURATION_BOUNDARIES
//!
//! # Example
//!
//! ```
//! use pulsecheck::config::PulseConfig;
//! use pulsecheck::rules::{generate, RuleOptions};
//! let cfg = PulseConfig::from_toml_str(
//!     "[[slo]]\nname = \"availability\"\nobjective = 0.999\nkind = \"availability\"\n",
//! ).unwrap();
//! let yaml = generate(&cfg, &RuleOptions::default()).unwrap();
//! assert!(yaml.contains("alert: PulsecheckSloErrorBudgetBurn"));
//! assert!(yaml.contains("pulsecheck:slo_errors:ratio_rate1h{slo=\"availability\"} > (14.4 * 0.001)"));
//! ```

use std::fmt::Write as _;

use crate::config::PulseConfig;

mod budgets;
mod series;
mod sli;
mod slo;
mod sloth;
mod writer;

use series::{Series, label_ok, monitoring_matcher};
use writer::Gen;

/// The histogram the collector's Prometheus exporter makes from `http.server.request.duration`.
pub const METRIC: &str = "http_server_request_duration_seconds";

/// Where Prometheus gets the request series from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
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
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
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

/// The rules as a Prometheus rule file (YAML): a header, the budget group, the SLO groups.
pub fn generate(cfg: &PulseConfig, opts: &RuleOptions) -> Result<String, RulesError> {
    let selector = validate(opts)?;
    let own = monitoring_matcher(cfg);
    let mut g = Gen::new(&opts.by, &[selector, own.as_deref().unwrap_or("")]);
    let series = Series::new(cfg, opts.source, &g);
    header(&mut g, cfg, opts.source, own.as_deref());
    budgets::rules(&mut g, &cfg.budgets, &series);
    match opts.style {
        Style::Pulsecheck => slo::slos(&mut g, cfg, &series)?,
        Style::Sloth => sloth::slos(&mut g, cfg, &series, opts.service.trim())?,
    }
    Ok(g.out)
}

/// The options' problems, or the selector's matchers without braces.
fn validate(opts: &RuleOptions) -> Result<&str, RulesError> {
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
    Ok(sel)
}

/// What the file is, from which series, and how to check it; then `groups:`.
fn header(g: &mut Gen, cfg: &PulseConfig, src: Source, own: Option<&str>) {
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
        "# Series ({}): {}, {}_{{bucket,count}}.",
        match src {
            Source::Scrape => "a direct scrape of the service's /metrics",
            Source::Collector => "the OpenTelemetry Collector's Prometheus exporter",
        },
        src.requests(),
        src.histogram()
    );
    let _ = match own {
        Some(m) => writeln!(g.out, "# Monitoring traffic is left out: {m}."),
        None => writeln!(g.out, "# Monitoring traffic is counted (count_monitoring)."),
    };
    let _ = writeln!(g.out, "# Check with: promtool check rules <file>");
    let _ = writeln!(
        g.out,
        "# The memory budget ({} MiB) has no Prometheus series: evaluated in-process only.",
        cfg.budgets.memory_mib
    );
    let _ = writeln!(g.out, "groups:");
}

#[cfg(test)]
mod tests {
    use super::series::{error_status_regex, regex_escape};
    use super::writer::q;
    use super::*;
    use crate::budget::SLO_BURN;

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
