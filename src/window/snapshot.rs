//! Read-only summaries of a window, as served by `/health/metrics`.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use super::buckets;
use super::rings::{History, Ring, SeriesWindows};
use super::slot::{SLOWEST_EXEMPLARS, Slot, Totals, Traced};

/// A sliding window the aggregator keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum Window {
    /// The last 60 seconds, in 1 s slots.
    #[serde(rename = "1m")]
    OneMinute,
    /// The last 5 minutes, in 10 s slots.
    #[serde(rename = "5m")]
    FiveMinutes,
    /// The last hour, in 1 min slots.
    #[serde(rename = "1h")]
    OneHour,
}

impl Window {
    /// All windows.
    pub const ALL: [Window; 3] = [Self::OneMinute, Self::FiveMinutes, Self::OneHour];

    /// Parses `1m`, `5m` or `1h`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "1m" => Some(Self::OneMinute),
            "5m" => Some(Self::FiveMinutes),
            "1h" => Some(Self::OneHour),
            _ => None,
        }
    }

    /// The window's nominal length in seconds.
    pub fn seconds(self) -> u64 {
        match self {
            Self::OneMinute => 60,
            Self::FiveMinutes => 300,
            Self::OneHour => 3600,
        }
    }

    /// `1m`, `5m` or `1h`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OneMinute => "1m",
            Self::FiveMinutes => "5m",
            Self::OneHour => "1h",
        }
    }
}

/// Latency figures in milliseconds.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Latency {
    /// Mean.
    pub avg: f64,
    /// Fastest request.
    pub min: f64,
    /// Slowest request.
    pub max: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
}

/// A request pointed at by its trace.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Exemplar {
    /// The W3C trace id.
    pub trace_id: String,
    /// Its duration in milliseconds.
    pub duration_ms: f64,
    /// Its route template.
    pub route: String,
    /// Its response status.
    pub status: u16,
    /// When it was recorded, to the second.
    #[serde(serialize_with = "crate::rfc3339::serialize")]
    pub at: SystemTime,
}

impl Exemplar {
    fn of(e: &Traced, route: &dyn Fn(u32) -> String) -> Self {
        Self {
            trace_id: e.trace.to_string(),
            duration_ms: e.ns as f64 / 1e6,
            route: route(e.series),
            status: e.status,
            at: UNIX_EPOCH + Duration::from_secs(e.at_s),
        }
    }
}

/// One series over one window.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Snapshot {
    /// Seconds of data the figures cover (less than the window while the process is young).
    pub window_s: u64,
    /// Requests.
    pub requests: u64,
    /// Requests counted as errors (5xx unless configured otherwise).
    pub errors: u64,
    /// `errors / requests`, 0 without requests.
    pub error_rate: f64,
    /// Requests dropped before their response (the client hung up), recorded with status
    /// [`CANCELLED_STATUS`](crate::layer::CANCELLED_STATUS); included in `requests`, the
    /// latency figures and, by default, `errors`.
    pub cancelled: u64,
    /// Requests per minute over the covered time.
    pub throughput_rpm: f64,
    /// Change in requests against the previous window, in percent; absent until two full
    /// windows have passed or when the previous one had none.
    pub throughput_trend_pct: Option<f64>,
    /// Latency, absent without requests.
    pub latency_ms: Option<Latency>,
    /// Requests by status code.
    pub status_codes: BTreeMap<String, u64>,
    /// Requests by status class (`2xx` ...).
    pub status_classes: BTreeMap<String, u64>,
    /// Latencies outside 1 µs..100 s, clamped into range.
    pub clamped: u64,
    /// The slowest requests of the window.
    pub slowest: Vec<Exemplar>,
    /// Trace ids of recent failed requests.
    pub recent_failures: Vec<String>,
    /// The same recent failed requests, with route, status, duration and time.
    pub failures: Vec<Exemplar>,
    /// A monitoring route (a probe, a scrape, the dashboard): not in the service-wide figures
    /// unless they count monitoring. Serialised only when true.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub monitoring: bool,
}

impl Snapshot {
    /// `route` names a series index (an exemplar's route).
    pub(crate) fn of(
        series: &SeriesWindows,
        window: Window,
        route: &dyn Fn(u32) -> String,
    ) -> Self {
        match window {
            Window::OneMinute => {
                Self::build(&series.seconds, None, 0, 1, &series.seconds_history, route)
            }
            Window::FiveMinutes => Self::build(
                &series.tens,
                Some(&series.tens_pending),
                series.tens_fill,
                10,
                &series.tens_history,
                route,
            ),
            Window::OneHour => Self::build(
                &series.minutes,
                Some(&series.minutes_pending),
                series.minutes_fill,
                60,
                &series.minutes_history,
                route,
            ),
        }
    }

    fn build(
        ring: &Ring,
        pending: Option<&Slot>,
        pending_s: u64,
        slot_s: u64,
        history: &History,
        route: &dyn Fn(u32) -> String,
    ) -> Self {
        let mut totals: Totals = ring.totals.clone();
        let slots = ring.slots.iter().chain(pending);
        let mut min = u64::MAX;
        let mut max = 0;
        let mut slowest: Vec<Traced> = Vec::with_capacity(SLOWEST_EXEMPLARS + 1);
        let mut failures: Vec<Traced> = Vec::new();
        for s in slots {
            if s.count == 0 {
                continue;
            }
            min = min.min(s.min_ns);
            max = max.max(s.max_ns);
            for &e in &s.slowest {
                // Keep the top few as we go: no sort of every slot's exemplars.
                if slowest.len() < SLOWEST_EXEMPLARS || e.ns > slowest[slowest.len() - 1].ns {
                    let at = slowest.partition_point(|x| x.ns >= e.ns);
                    slowest.insert(at, e);
                    slowest.truncate(SLOWEST_EXEMPLARS);
                }
            }
            failures.extend_from_slice(&s.failures);
        }
        if let Some(p) = pending {
            totals.add(p);
        }
        // Only the most recent failures are formatted.
        let failures: Vec<Exemplar> = failures[failures.len().saturating_sub(10)..]
            .iter()
            .map(|e| Exemplar::of(e, route))
            .collect();

        let window_s = (ring.slots.len() as u64 * slot_s + pending_s).max(1);
        let n = totals.count;
        let ms = |ns: f64| ns / 1e6;
        // Quantiles are of the clamped values (the histogram's range), so bound them by the
        // clamped extremes.
        let (qmin, qmax) = (
            min.clamp(buckets::MIN_NS, buckets::MAX_NS),
            max.clamp(buckets::MIN_NS, buckets::MAX_NS),
        );
        // A quantile is never stood in for by 0: without one, latency is absent.
        let q = |p: f64| buckets::quantile(&totals.buckets, n, p, qmin, qmax).map(ms);
        let latency_ms = (|| {
            (n > 0).then_some(())?;
            Some(Latency {
                avg: ms(totals.sum_ns as f64 / n as f64),
                min: ms(min as f64),
                max: ms(max as f64),
                p50: q(0.50)?,
                p90: q(0.90)?,
                p95: q(0.95)?,
                p99: q(0.99)?,
                p999: q(0.999)?,
            })
        })();
        let mut status_classes = BTreeMap::new();
        for (code, c) in &totals.status {
            *status_classes
                .entry(format!("{}xx", code / 100))
                .or_insert(0) += c;
        }
        let throughput_trend_pct = history
            .this_and_previous()
            .filter(|(_, prev)| *prev > 0)
            .map(|(this, prev)| (this as f64 - prev as f64) / prev as f64 * 100.0);
        Self {
            window_s,
            requests: n,
            errors: totals.errors,
            cancelled: totals
                .status
                .get(&crate::layer::CANCELLED_STATUS)
                .copied()
                .unwrap_or(0),
            // Bounded: at a slot edge a racing request's status can be counted a slot before
            // its latency.
            error_rate: if n == 0 {
                0.0
            } else {
                (totals.errors as f64 / n as f64).min(1.0)
            },
            throughput_rpm: n as f64 * 60.0 / window_s as f64,
            throughput_trend_pct,
            latency_ms,
            status_codes: totals
                .status
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect(),
            status_classes,
            clamped: totals.clamped,
            slowest: slowest.iter().map(|e| Exemplar::of(e, route)).collect(),
            recent_failures: failures.iter().map(|e| e.trace_id.clone()).collect(),
            failures,
            monitoring: false,
        }
    }
}

/// The service and its routes over one window.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ServiceSnapshot {
    /// Which window.
    pub window: Window,
    /// The whole service.
    #[serde(flatten)]
    pub service: Snapshot,
    /// Per route template (`(unmatched)` for requests that matched no route, `_OTHER` for
    /// routes past the cap). Monitoring routes are here too, marked `monitoring`.
    pub routes: BTreeMap<String, Snapshot>,
    /// Requests to monitoring routes in the window.
    pub monitoring_requests: u64,
    /// Whether the service-wide figures include the monitoring routes
    /// (`count_monitoring`); by default they do not.
    pub monitoring_counted: bool,
}
