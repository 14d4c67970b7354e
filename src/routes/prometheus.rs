//! `GET /metrics`: the Prometheus text exposition format (0.0.4), or OpenMetrics 1.0.0 when
//! the `Accept` header prefers it ([`Format::negotiate`]), rendered from snapshots
//! (aggregator windows, cached health, the latest system sample); nothing is probed or
//! recomputed from raw requests. A render is reused for up to a second ([`RENDER_TTL`]).
//!
//! The two formats carry the same series. OpenMetrics adds what 0.0.4 cannot say: `# UNIT`,
//! the build info as an `info` family, and exemplars on the request-duration buckets, the
//! latest sampled request's `trace_id` per bucket, so that a latency panel links to traces.
//!
//! Request figures come twice: all-time counters for `rate()` and `histogram_quantile()`
//! (`pulsecheck_http_server_request_duration_seconds` by route and method on the
//! semantic-convention buckets, `pulsecheck_http_server_requests_total` by route, method and
//! status code), and gauges over the aggregator's sliding windows (`window` label `1m`, `5m`,
//! `1h`): counts, error ratio and latency percentiles, for the service and per route template.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use axum::body::Bytes;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::RouteState;
use super::openmetrics::Format;
use crate::budget::{BudgetStatus, evaluate};
use crate::health::{BreakerState, CheckStatus, HealthStatus};
use crate::layer::DURATION_BOUNDARIES;
use crate::window::{BucketExemplar, DURATION_BUCKETS, RouteMethodTotals, Snapshot, Window};

/// How long a rendered exposition is served again: the aggregator folds once a second, so a
/// newer render could not show newer request figures.
pub(crate) const RENDER_TTL: Duration = Duration::from_secs(1);

/// The latest rendered exposition of each format. Scrapes within [`RENDER_TTL`] share it,
/// and concurrent scrapes of a stale one wait for a single render, so hammering `/metrics`
/// costs a lock and a reference count, not a render each.
#[derive(Default)]
pub(crate) struct RenderCache {
    slot: tokio::sync::Mutex<[Option<(Instant, Bytes)>; Format::ALL.len()]>,
}

pub(super) async fn metrics(State(st): State<RouteState>, headers: HeaderMap) -> Response {
    let format = Format::negotiate(&headers);
    let body = {
        let mut slots = st.metrics_cache.slot.lock().await;
        let slot = &mut slots[format.index()];
        match &*slot {
            Some((at, body)) if at.elapsed() < RENDER_TTL => body.clone(),
            _ => {
                let body = Bytes::from(render(&st, format));
                *slot = Some((Instant::now(), body.clone()));
                body
            }
        }
    };
    let mut r = (StatusCode::OK, body).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    h.insert(header::VARY, HeaderValue::from_static("accept"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

#[derive(Clone, Copy)]
enum Kind {
    Gauge,
    Counter,
    Histogram,
    /// A constant 1 whose labels are the information (`*_info`): a gauge in 0.0.4.
    Info,
}

/// Writes families one after the other: HELP and TYPE once, before the family's first
/// sample (a family without samples writes nothing), label values escaped, and a repeated
/// series dropped. Sample names are the same in both formats; OpenMetrics names a family
/// without its `_total` (counters) or `_info` suffix, adds `# UNIT` for names ending in a
/// unit, exemplars, and `# EOF` ([`Exposition::finish`]).
struct Exposition {
    out: String,
    format: Format,
    pending: Option<(&'static str, Kind, &'static str)>,
    current: &'static str,
    series: HashSet<String>,
}

/// Units OpenMetrics' `# UNIT` names, as name suffixes.
const UNITS: [&str; 3] = ["seconds", "bytes", "ratio"];

impl Exposition {
    fn new(format: Format) -> Self {
        Self {
            out: String::with_capacity(16 * 1024),
            format,
            pending: None,
            current: "",
            series: HashSet::new(),
        }
    }

    /// The exposition, terminated as its format requires.
    fn finish(mut self) -> String {
        if self.format == Format::OpenMetrics {
            self.out.push_str("# EOF\n");
        }
        self.out
    }

    fn family(&mut self, name: &'static str, kind: Kind, help: &'static str) {
        self.pending = Some((name, kind, help));
        self.current = name;
    }

    fn sample(&mut self, labels: &[(&str, &str)], value: f64) {
        let mut line = String::with_capacity(64);
        line.push_str(self.current);
        if !labels.is_empty() {
            line.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    line.push(',');
                }
                line.push_str(k);
                line.push_str("=\"");
                escape_label_value(&mut line, v);
                line.push('"');
            }
            line.push('}');
        }
        if !self.series.insert(line.clone()) {
            tracing::debug!(target: "pulsecheck", series = %line, "duplicate series left out of /metrics");
            return;
        }
        self.header();
        self.out.push_str(&line);
        self.out.push(' ');
        push_value(&mut self.out, value);
        self.out.push('\n');
    }

    /// The family's HELP and TYPE (and UNIT in OpenMetrics), before its first sample.
    fn header(&mut self) {
        let Some((name, kind, help)) = self.pending.take() else {
            return;
        };
        if self.format == Format::Text {
            let kind = match kind {
                Kind::Gauge | Kind::Info => "gauge",
                Kind::Counter => "counter",
                Kind::Histogram => "histogram",
            };
            let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            return;
        }
        let (family, kind) = match kind {
            Kind::Gauge => (name, "gauge"),
            Kind::Counter => (name.strip_suffix("_total").unwrap_or(name), "counter"),
            Kind::Histogram => (name, "histogram"),
            Kind::Info => (name.strip_suffix("_info").unwrap_or(name), "info"),
        };
        let _ = write!(self.out, "# HELP {family} ");
        escape_label_value(&mut self.out, help);
        let _ = writeln!(self.out, "\n# TYPE {family} {kind}");
        if let Some(unit) = UNITS
            .iter()
            .find(|u| family.strip_suffix(*u).is_some_and(|f| f.ends_with('_')))
        {
            let _ = writeln!(self.out, "# UNIT {family} {unit}");
        }
    }

    /// One histogram series: a cumulative `_bucket` per `le`, `_sum` and `_count`. The labels
    /// are escaped once for all its lines, and the series checked for repeats once. In
    /// OpenMetrics, a bucket with an exemplar carries it: `# {trace_id="…"} seconds unix-time`.
    fn histogram(
        &mut self,
        labels: &[(&str, &str)],
        les: &[String],
        buckets: &[u64],
        sum: f64,
        exemplars: &[Option<BucketExemplar>],
    ) {
        let mut l = String::with_capacity(96);
        for (k, v) in labels {
            l.push_str(k);
            l.push_str("=\"");
            escape_label_value(&mut l, v);
            l.push_str("\",");
        }
        let key = format!("{}{{{l}}}", self.current);
        if !self.series.insert(key) {
            tracing::debug!(target: "pulsecheck", series = %l, "duplicate histogram left out of /metrics");
            return;
        }
        self.header();
        let name = self.current;
        let mut cumulative = 0;
        for (i, (le, n)) in les.iter().zip(buckets).enumerate() {
            cumulative += n;
            let _ = write!(self.out, "{name}_bucket{{{l}le=\"{le}\"}} {cumulative}");
            if self.format == Format::OpenMetrics
                && let Some(x) = exemplars.get(i).copied().flatten()
            {
                push_exemplar(&mut self.out, &x);
            }
            self.out.push('\n');
        }
        l.pop();
        let _ = write!(self.out, "{name}_sum{{{l}}} ");
        push_value(&mut self.out, sum);
        let _ = writeln!(self.out, "\n{name}_count{{{l}}} {cumulative}");
    }

    fn opt(&mut self, labels: &[(&str, &str)], value: Option<f64>) {
        if let Some(v) = value {
            self.sample(labels, v);
        }
    }
}

/// Escapes `\`, `"` and newline, as the text format requires in label values.
pub(crate) fn escape_label_value(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// ` # {trace_id="<32 hex>"} <duration s> <unix s with ms>`, OpenMetrics' exemplar syntax.
fn push_exemplar(out: &mut String, x: &BucketExemplar) {
    let _ = write!(out, " # {{trace_id=\"{}\"}} ", x.trace_id);
    push_value(out, x.duration_ns as f64 / 1e9);
    let _ = write!(out, " {}.{:03}", x.unix_ms / 1000, x.unix_ms % 1000);
}

fn push_value(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else {
        let _ = write!(out, "{v}");
    }
}

fn flag(b: bool) -> f64 {
    if b { 1.0 } else { 0.0 }
}

/// Percentile labels (`quantile` is reserved for summaries, whose counts are cumulative).
type Pick = fn(&crate::window::Latency) -> f64;

const SERVICE_PERCENTILES: [(&str, Pick); 5] = [
    ("p50", |l| l.p50),
    ("p90", |l| l.p90),
    ("p95", |l| l.p95),
    ("p99", |l| l.p99),
    ("p999", |l| l.p999),
];

/// `le` label values, the semantic-convention boundaries formatted once.
fn le_labels() -> &'static [String; DURATION_BUCKETS] {
    static LABELS: OnceLock<[String; DURATION_BUCKETS]> = OnceLock::new();
    LABELS.get_or_init(|| {
        std::array::from_fn(|i| match DURATION_BOUNDARIES.get(i) {
            Some(b) => {
                let mut s = String::new();
                push_value(&mut s, *b);
                s
            }
            None => "+Inf".to_owned(),
        })
    })
}

/// The all-time families: a histogram per route and method (status left out: route ×
/// method × 15 buckets is already the largest family), and a counter per route, method and
/// status code.
fn cumulative(e: &mut Exposition, totals: &[RouteMethodTotals]) {
    e.family(
        "pulsecheck_http_server_request_duration_seconds",
        Kind::Histogram,
        "Duration of HTTP server requests since the process started, by route template and method.",
    );
    let les = le_labels();
    for t in totals {
        e.histogram(
            &[
                ("http_route", &t.route),
                ("http_request_method", t.method.as_str()),
            ],
            les,
            &t.totals.buckets,
            t.totals.sum_seconds(),
            &t.totals.exemplars,
        );
    }
    e.family(
        "pulsecheck_http_server_requests_total",
        Kind::Counter,
        "HTTP server requests since the process started, by route template, method and status code (a class such as `4xx` for rare codes past a route's first 16).",
    );
    let mut code = String::with_capacity(4);
    for t in totals {
        for (status, n) in &t.totals.status_codes {
            code.clear();
            let _ = write!(code, "{status}");
            e.sample(
                &[
                    ("http_route", &t.route),
                    ("http_request_method", t.method.as_str()),
                    ("http_response_status_code", &code),
                ],
                *n as f64,
            );
        }
    }
}

/// The whole exposition, in `format`.
pub(crate) fn render(st: &RouteState, format: Format) -> String {
    let mut e = Exposition::new(format);
    let snaps: Vec<_> = Window::ALL
        .iter()
        .map(|w| st.aggregator.snapshot(*w))
        .collect();
    let sample = st.system.latest();

    e.family(
        "pulsecheck_build_info",
        Kind::Info,
        "Always 1; labels give the service and pulsecheck versions.",
    );
    e.sample(
        &[
            ("version", st.version.as_deref().unwrap_or("")),
            ("pulsecheck_version", env!("CARGO_PKG_VERSION")),
        ],
        1.0,
    );
    e.family(
        "pulsecheck_uptime_seconds",
        Kind::Gauge,
        "Seconds since the aggregator started.",
    );
    e.sample(&[], st.aggregator.uptime_s() as f64);

    cumulative(&mut e, &st.aggregator.totals());

    // --- The service over each window. ---
    e.family(
        "pulsecheck_window_requests",
        Kind::Gauge,
        "Requests in the sliding window.",
    );
    for s in &snaps {
        e.sample(&[("window", s.window.as_str())], s.service.requests as f64);
    }
    e.family(
        "pulsecheck_window_errors",
        Kind::Gauge,
        "Requests counted as errors in the sliding window (5xx unless configured otherwise).",
    );
    for s in &snaps {
        e.sample(&[("window", s.window.as_str())], s.service.errors as f64);
    }
    e.family(
        "pulsecheck_window_error_ratio",
        Kind::Gauge,
        "Errors divided by requests in the sliding window (0 without requests).",
    );
    for s in &snaps {
        e.sample(&[("window", s.window.as_str())], s.service.error_rate);
    }
    e.family(
        "pulsecheck_window_covered_seconds",
        Kind::Gauge,
        "Seconds of data the window covers (less than its length while the process is young).",
    );
    for s in &snaps {
        e.sample(&[("window", s.window.as_str())], s.service.window_s as f64);
    }
    e.family(
        "pulsecheck_window_request_duration_seconds",
        Kind::Gauge,
        "Request duration percentiles (label `percentile`: p50 .. p999) over the sliding window (absent without requests).",
    );
    for s in &snaps {
        if let Some(l) = &s.service.latency_ms {
            for (p, f) in SERVICE_PERCENTILES {
                e.sample(
                    &[("window", s.window.as_str()), ("percentile", p)],
                    f(l) / 1e3,
                );
            }
        }
    }
    e.family(
        "pulsecheck_window_request_duration_max_seconds",
        Kind::Gauge,
        "Slowest request in the sliding window.",
    );
    for s in &snaps {
        if let Some(l) = &s.service.latency_ms {
            e.sample(&[("window", s.window.as_str())], l.max / 1e3);
        }
    }
    e.family(
        "pulsecheck_window_responses",
        Kind::Gauge,
        "Requests in the sliding window by response status code.",
    );
    for s in &snaps {
        for (code, n) in &s.service.status_codes {
            e.sample(&[("window", s.window.as_str()), ("code", code)], *n as f64);
        }
    }

    // --- Each route template over each window (bounded by the layer's route cap). ---
    let routes = |f: &mut dyn FnMut(&mut Exposition, &str, &str, &Snapshot), e: &mut Exposition| {
        for s in &snaps {
            for (route, r) in &s.routes {
                f(e, s.window.as_str(), route, r);
            }
        }
    };
    e.family(
        "pulsecheck_route_window_requests",
        Kind::Gauge,
        "Requests per route template in the sliding window.",
    );
    routes(
        &mut |e, w, route, r| e.sample(&[("window", w), ("route", route)], r.requests as f64),
        &mut e,
    );
    e.family(
        "pulsecheck_route_window_errors",
        Kind::Gauge,
        "Errors per route template in the sliding window.",
    );
    routes(
        &mut |e, w, route, r| e.sample(&[("window", w), ("route", route)], r.errors as f64),
        &mut e,
    );
    e.family(
        "pulsecheck_route_window_error_ratio",
        Kind::Gauge,
        "Errors divided by requests per route template in the sliding window.",
    );
    routes(
        &mut |e, w, route, r| e.sample(&[("window", w), ("route", route)], r.error_rate),
        &mut e,
    );
    e.family(
        "pulsecheck_route_window_request_duration_seconds",
        Kind::Gauge,
        "Request duration percentiles (p50, p95, p99) per route template over the sliding window.",
    );
    routes(
        &mut |e, w, route, r| {
            if let Some(l) = &r.latency_ms {
                for (p, v) in [("p50", l.p50), ("p95", l.p95), ("p99", l.p99)] {
                    e.sample(
                        &[("window", w), ("route", route), ("percentile", p)],
                        v / 1e3,
                    );
                }
            }
        },
        &mut e,
    );
    e.family(
        "pulsecheck_route_window_responses",
        Kind::Gauge,
        "Requests per route template in the sliding window by status class (2xx, 4xx, ...).",
    );
    routes(
        &mut |e, w, route, r| {
            for (class, n) in &r.status_classes {
                e.sample(
                    &[("window", w), ("route", route), ("class", class)],
                    *n as f64,
                );
            }
        },
        &mut e,
    );

    // --- Budgets, on the budget window's snapshot and the sampled RSS. ---
    let budgets = &st.config.budgets;
    if let Some(snap) = snaps.iter().find(|s| s.window == budgets.window) {
        let report = evaluate(budgets, snap, sample.process.rss_bytes);
        let labels = |l: &crate::budget::BudgetLine| -> Vec<(&'static str, String)> {
            let mut v = vec![("budget", l.name.as_str().to_owned())];
            if let Some(r) = &l.route {
                v.push(("route", r.clone()));
            }
            v
        };
        type Value = fn(&crate::budget::BudgetLine) -> Option<f64>;
        let families: [(&'static str, &'static str, Value); 4] = [
            (
                "pulsecheck_budget_limit",
                "Each budget's limit, in the budget's unit (ms, ratio or MiB).",
                |l| Some(l.limit),
            ),
            (
                "pulsecheck_budget_value",
                "Each budget's measured value, in the budget's unit (absent when nothing is measured).",
                |l| l.value,
            ),
            (
                "pulsecheck_budget_utilization_ratio",
                "Each budget's value divided by its limit (over 1 is over budget).",
                |l| l.utilization,
            ),
            (
                "pulsecheck_budget_status",
                "Each budget's status: 0 ok, 1 warning, 2 critical.",
                |l| {
                    Some(match l.status {
                        BudgetStatus::Ok => 0.0,
                        BudgetStatus::Warning => 1.0,
                        BudgetStatus::Critical => 2.0,
                    })
                },
            ),
        ];
        for (name, help, value) in families {
            e.family(name, Kind::Gauge, help);
            for l in &report.budgets {
                let owned = labels(l);
                let refs: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
                e.opt(&refs, value(l));
            }
        }
    }

    // --- Health, from the cached report (never a probe). ---
    let report = st.health.cached_report();
    e.family(
        "pulsecheck_health_status",
        Kind::Gauge,
        "1 for the service's current health status, 0 for the others.",
    );
    for s in [
        HealthStatus::Healthy,
        HealthStatus::Degraded,
        HealthStatus::Unhealthy,
    ] {
        e.sample(&[("status", s.as_str())], flag(report.status == s));
    }
    e.family(
        "pulsecheck_ready",
        Kind::Gauge,
        "1 when the service is ready (critical checks pass, not shutting down).",
    );
    e.sample(&[], flag(report.ready));
    e.family(
        "pulsecheck_health_check_status",
        Kind::Gauge,
        "1 for each check's current status, 0 for the others.",
    );
    for c in &report.checks {
        let critical = if c.critical { "true" } else { "false" };
        for s in [
            CheckStatus::Up,
            CheckStatus::Warn,
            CheckStatus::Down,
            CheckStatus::Unknown,
        ] {
            e.sample(
                &[
                    ("check", &c.name),
                    ("critical", critical),
                    ("status", s.as_str()),
                ],
                flag(c.status() == s),
            );
        }
    }
    e.family(
        "pulsecheck_health_check_duration_seconds",
        Kind::Gauge,
        "Duration of each check's latest probe.",
    );
    for c in &report.checks {
        if let Some(r) = &c.result {
            e.sample(&[("check", &c.name)], r.latency.as_secs_f64());
        }
    }
    e.family(
        "pulsecheck_health_check_age_seconds",
        Kind::Gauge,
        "Age of each check's cached result.",
    );
    for c in &report.checks {
        if let Some(r) = &c.result {
            e.sample(&[("check", &c.name)], r.age().as_secs_f64());
        }
    }
    e.family(
        "pulsecheck_circuit_breaker_state",
        Kind::Gauge,
        "1 for each circuit breaker's current state, 0 for the others.",
    );
    for (name, b) in st.health.breakers() {
        let state = b.state();
        for s in [
            BreakerState::Closed,
            BreakerState::Open,
            BreakerState::HalfOpen,
        ] {
            e.sample(
                &[("breaker", name), ("state", s.as_str())],
                flag(state == s),
            );
        }
    }
    e.family(
        "pulsecheck_alerts",
        Kind::Gauge,
        "1 for each pending or firing alert of the in-process engine (like Prometheus' ALERTS).",
    );
    let alerts = st.alerts.snapshot();
    for a in alerts
        .alerts
        .iter()
        .filter(|a| a.status != crate::alert::AlertState::Resolved)
    {
        let state = if a.status == crate::alert::AlertState::Firing {
            "firing"
        } else {
            "pending"
        };
        let mut labels: Vec<(&str, &str)> = vec![
            ("alertname", &a.name),
            ("alertstate", state),
            ("severity", a.severity.as_str()),
        ];
        // Rule labels (route, check, slo...) are fixed, valid names that never collide with
        // the three above.
        labels.extend(a.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        e.sample(&labels, 1.0);
    }
    let pools = super::system::pools(&report);
    e.family(
        "pulsecheck_pool_size",
        Kind::Gauge,
        "Maximum connections of each pool a health check reports (e.g. PostgreSQL).",
    );
    for (check, p) in &pools {
        e.opt(&[("check", check)], p.pool_size.map(|v| v as f64));
    }
    e.family(
        "pulsecheck_pool_connections",
        Kind::Gauge,
        "Connections of each pool a health check reports, by state (idle, in_use).",
    );
    for (check, p) in &pools {
        e.opt(
            &[("check", check), ("state", "idle")],
            p.idle.map(|v| v as f64),
        );
        e.opt(
            &[("check", check), ("state", "in_use")],
            p.in_use.map(|v| v as f64),
        );
    }

    // --- Process and host, from the latest system sample. ---
    let (p, h) = (&sample.process, &sample.host);
    e.family(
        "pulsecheck_process_resident_memory_bytes",
        Kind::Gauge,
        "Resident set size of the process.",
    );
    e.opt(&[], p.rss_bytes.map(|v| v as f64));
    e.family(
        "pulsecheck_process_cpu_seconds_total",
        Kind::Counter,
        "CPU time used by the process, by mode.",
    );
    e.opt(&[("mode", "user")], p.cpu_user_s);
    e.opt(&[("mode", "system")], p.cpu_system_s);
    e.family("pulsecheck_process_cpu_utilization_ratio", Kind::Gauge, "CPU used by the process over the last sampling interval, divided by the CPUs available (0..1).");
    e.opt(&[], p.cpu_utilization);
    e.family(
        "pulsecheck_process_threads",
        Kind::Gauge,
        "Threads of the process.",
    );
    e.opt(&[], p.threads.map(|v| v as f64));
    e.family(
        "pulsecheck_process_open_fds",
        Kind::Gauge,
        "Open file descriptors of the process.",
    );
    e.opt(&[], p.open_fds.map(|v| v as f64));
    e.family(
        "pulsecheck_process_uptime_seconds",
        Kind::Gauge,
        "Seconds since the process started.",
    );
    e.opt(&[], p.uptime_s);
    e.family(
        "pulsecheck_host_cpus",
        Kind::Gauge,
        "CPUs available to the process.",
    );
    e.opt(&[], h.cpus.map(|v| v as f64));
    e.family(
        "pulsecheck_host_memory_total_bytes",
        Kind::Gauge,
        "Total host memory (MemTotal).",
    );
    e.opt(&[], h.memory_total_bytes.map(|v| v as f64));
    e.family(
        "pulsecheck_host_memory_available_bytes",
        Kind::Gauge,
        "Host memory available without swapping (MemAvailable).",
    );
    e.opt(&[], h.memory_available_bytes.map(|v| v as f64));
    e.family(
        "pulsecheck_host_load_average",
        Kind::Gauge,
        "Host load average, per period (1m, 5m, 15m).",
    );
    e.opt(&[("period", "1m")], h.load_1m);
    e.opt(&[("period", "5m")], h.load_5m);
    e.opt(&[("period", "15m")], h.load_15m);
    e.family(
        "pulsecheck_system_sample_timestamp_seconds",
        Kind::Gauge,
        "Unix time of the latest process and host sample.",
    );
    e.opt(
        &[],
        sample
            .sampled_at
            .duration_since(std::time::UNIX_EPOCH)
            .ok()
            .map(|d| d.as_secs_f64()),
    );

    // --- The log writer (when pulsecheck installed the subscriber). ---
    e.family(
        "pulsecheck_log_lines_dropped_total",
        Kind::Counter,
        "Log lines dropped because stdout was not keeping up (a stalled log consumer).",
    );
    e.opt(&[], crate::telemetry::log_lines_dropped().map(|n| n as f64));
    e.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative_with_inf_sum_and_count() {
        use crate::layer::HttpMethod;
        use crate::window::{RequestTotals, StatusLabel};
        let mut t = RequestTotals::default();
        t.buckets[0] = 2;
        t.buckets[3] = 1;
        t.buckets[DURATION_BUCKETS - 1] = 1;
        t.sum_us = 12_500_000;
        t.status_codes.insert(StatusLabel::Code(200), 3);
        t.status_codes.insert(StatusLabel::Class(5), 1);
        let mut e = Exposition::new(Format::Text);
        cumulative(
            &mut e,
            &[RouteMethodTotals {
                route: "/a/\"{id}\"".into(),
                method: HttpMethod::Get,
                totals: t,
            }],
        );
        let h = "pulsecheck_http_server_request_duration_seconds";
        let l = r#"http_route="/a/\"{id}\"",http_request_method="GET""#;
        for line in [
            format!("# TYPE {h} histogram\n"),
            format!("{h}_bucket{{{l},le=\"0.005\"}} 2\n"),
            format!("{h}_bucket{{{l},le=\"0.025\"}} 2\n"),
            format!("{h}_bucket{{{l},le=\"0.05\"}} 3\n"),
            format!("{h}_bucket{{{l},le=\"10\"}} 3\n"),
            format!("{h}_bucket{{{l},le=\"+Inf\"}} 4\n"),
            format!("{h}_sum{{{l}}} 12.5\n"),
            format!("{h}_count{{{l}}} 4\n"),
            "# TYPE pulsecheck_http_server_requests_total counter\n".to_owned(),
            format!(
                "pulsecheck_http_server_requests_total{{{l},http_response_status_code=\"200\"}} 3\n"
            ),
            format!(
                "pulsecheck_http_server_requests_total{{{l},http_response_status_code=\"5xx\"}} 1\n"
            ),
        ] {
            assert!(e.out.contains(&line), "missing {line:?} in\n{}", e.out);
        }
        assert_eq!(e.out.matches("_bucket{").count(), DURATION_BUCKETS);
    }

    #[test]
    fn openmetrics_names_families_without_total_adds_units_exemplars_and_eof() {
        use crate::layer::HttpMethod;
        use crate::window::{RequestTotals, StatusLabel};
        use opentelemetry::trace::TraceId;
        let mut t = RequestTotals::default();
        t.buckets[3] = 2;
        t.sum_us = 80_000;
        t.status_codes.insert(StatusLabel::Code(200), 2);
        let trace = TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").unwrap();
        t.exemplars[3] = Some(BucketExemplar {
            trace_id: trace,
            duration_ns: 40_000_000,
            unix_ms: 1_733_356_800_042,
        });
        let totals = [RouteMethodTotals {
            route: "/a".into(),
            method: HttpMethod::Get,
            totals: t,
        }];
        let mut e = Exposition::new(Format::OpenMetrics);
        e.family("x_info", Kind::Info, "a \"quoted\" help");
        e.sample(&[("v", "1")], 1.0);
        cumulative(&mut e, &totals);
        let om = e.finish();
        let h = "pulsecheck_http_server_request_duration_seconds";
        let l = r#"http_route="/a",http_request_method="GET""#;
        for line in [
            "# HELP x a \\\"quoted\\\" help\n# TYPE x info\nx_info{v=\"1\"} 1\n".to_owned(),
            format!("# TYPE {h} histogram\n# UNIT {h} seconds\n"),
            format!("{h}_bucket{{{l},le=\"0.025\"}} 0\n"),
            format!(
                "{h}_bucket{{{l},le=\"0.05\"}} 2 # {{trace_id=\"0af7651916cd43dd8448eb211c80319c\"}} 0.04 1733356800.042\n"
            ),
            format!("{h}_bucket{{{l},le=\"+Inf\"}} 2\n"),
            "# TYPE pulsecheck_http_server_requests counter\n".to_owned(),
            format!(
                "pulsecheck_http_server_requests_total{{{l},http_response_status_code=\"200\"}} 2\n"
            ),
        ] {
            assert!(om.contains(&line), "missing {line:?} in\n{om}");
        }
        assert!(om.ends_with("\n# EOF\n"), "{om}");
        assert_eq!(om.matches(" # {").count(), 1, "{om}");

        // The text format: same samples, no exemplar, no UNIT, no EOF.
        let mut e = Exposition::new(Format::Text);
        cumulative(&mut e, &totals);
        let text = e.finish();
        assert!(!text.contains(" # {"), "{text}");
        assert!(
            !text.contains("# UNIT") && !text.contains("# EOF"),
            "{text}"
        );
        assert!(text.contains("# TYPE pulsecheck_http_server_requests_total counter\n"));
        assert!(text.contains(&format!("{h}_bucket{{{l},le=\"0.05\"}} 2\n")));
    }

    #[test]
    fn label_values_escape_backslash_quote_and_newline() {
        let mut s = String::new();
        escape_label_value(&mut s, "/a\\b\"c\nd/{id}");
        assert_eq!(s, "/a\\\\b\\\"c\\nd/{id}");
    }

    #[test]
    fn repeated_series_are_written_once_and_empty_families_not_at_all() {
        let mut e = Exposition::new(Format::Text);
        e.family("x_empty", Kind::Gauge, "nothing");
        e.family("x", Kind::Counter, "help");
        e.sample(&[("a", "1")], 1.0);
        e.sample(&[("a", "1")], 2.0);
        e.sample(&[("a", "2")], f64::INFINITY);
        assert_eq!(
            e.out,
            "# HELP x help\n# TYPE x counter\nx{a=\"1\"} 1\nx{a=\"2\"} +Inf\n"
        );
    }
}
