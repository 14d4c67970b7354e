//! The figures of a finished (or interrupted) run; serialises to the `--json` shape the
//! README's `pulsecheck load URL` section documents.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use super::error::ErrorKind;
use super::histogram::LatencyHistogram;
use super::stats::Stats;

/// A latency spectrum in milliseconds.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LatencyMs {
    /// Fastest.
    pub min: f64,
    /// Mean.
    pub mean: f64,
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
    /// Slowest (exact).
    pub max: f64,
}

impl LatencyMs {
    /// The spectrum of a histogram; `None` when empty.
    pub fn of(h: &LatencyHistogram) -> Option<Self> {
        let ms = |d: Option<Duration>| d.map_or(0.0, |d| d.as_secs_f64() * 1e3);
        (!h.is_empty()).then(|| Self {
            min: ms(h.min()),
            mean: ms(h.mean()),
            p50: ms(h.quantile(0.50)),
            p90: ms(h.quantile(0.90)),
            p95: ms(h.quantile(0.95)),
            p99: ms(h.quantile(0.99)),
            p999: ms(h.quantile(0.999)),
            max: ms(h.max()),
        })
    }
}

/// One of the slowest requests.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SlowRequest {
    /// Its latency.
    pub latency_ms: f64,
    /// Its status.
    pub status: u16,
    /// When it completed, seconds after measurement started.
    pub at_s: f64,
    /// Its W3C trace id (with `--trace`), to look it up in the tracing backend.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    /// Its `x-request-id` (with `--trace`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// Open-model figures: how well the schedule was kept.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Schedule {
    /// Target rate, requests/s.
    pub rate: f64,
    /// Requests due during the measured period.
    pub scheduled: u64,
    /// Requests sent more than 1 ms after their intended time (every connection was busy).
    pub late_sends: u64,
    /// Requests due but never sent before the run ended.
    pub dropped_sends: u64,
    /// Worst delay between a request's intended and actual send time.
    pub max_send_lag_ms: f64,
    /// Latency from the actual send time, as a closed-model tool would report it (coordinated
    /// omission not corrected), for comparison with `latency_ms`.
    pub service_time_ms: Option<LatencyMs>,
}

/// The result of a run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LoadReport {
    /// Target URL.
    pub url: String,
    /// Method.
    pub method: String,
    /// `HTTP/1.1` or `HTTP/2`.
    pub http_version: &'static str,
    /// `closed` (each connection sends as soon as the previous answer arrives) or `open`
    /// (requests on a fixed schedule, `--rate`).
    pub model: &'static str,
    /// Connections.
    pub connections: usize,
    /// Requests completed in the measured period (answers and failures).
    pub requests: u64,
    /// Measured period, seconds.
    pub duration_s: f64,
    /// `requests / duration_s`.
    pub rps: f64,
    /// Failed requests (timeouts, connection errors) plus 5xx answers.
    pub errors: u64,
    /// `errors / requests`.
    pub error_rate: f64,
    /// Latency of answered requests (any status); from the intended send time in the open model.
    pub latency_ms: Option<LatencyMs>,
    /// Answers per status code.
    pub status_codes: BTreeMap<String, u64>,
    /// Answers per status class (`2xx`, ...).
    pub status_classes: BTreeMap<String, u64>,
    /// Failed requests per kind (timeout, refused, reset, dns, tls, connect, protocol, other).
    pub errors_by_kind: BTreeMap<&'static str, u64>,
    /// The first message seen for each kind of failure.
    pub error_samples: BTreeMap<&'static str, String>,
    /// Response body bytes received.
    pub bytes_received: u64,
    /// Connections opened (reconnects included).
    pub connects: u64,
    /// Requests cut off when the run ended (neither answered nor failed).
    pub aborted: u64,
    /// Requests during the warm-up, not counted.
    pub warmup_requests: u64,
    /// The run was stopped early (Ctrl-C); figures are for what ran.
    pub interrupted: bool,
    /// Open model only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule: Option<Schedule>,
    /// The slowest answered requests, slowest first.
    pub slowest: Vec<SlowRequest>,
}

pub(crate) struct Meta {
    pub(crate) url: String,
    pub(crate) method: String,
    pub(crate) http2: bool,
    pub(crate) connections: usize,
    pub(crate) rate: Option<f64>,
    pub(crate) duration: Duration,
    pub(crate) aborted: u64,
    pub(crate) interrupted: bool,
}

impl LoadReport {
    pub(crate) fn build(s: &Stats, m: Meta) -> Self {
        let requests = s.requests();
        let failed: u64 = s.errors.iter().sum();
        let errors = failed + s.server_errors();
        let duration_s = m.duration.as_secs_f64();
        let mut status_classes = BTreeMap::new();
        for (code, n) in &s.statuses {
            *status_classes
                .entry(format!("{}xx", code / 100))
                .or_insert(0) += n;
        }
        let errors_by_kind = ErrorKind::ALL
            .iter()
            .filter(|k| s.errors[k.index()] > 0)
            .map(|k| (k.name(), s.errors[k.index()]))
            .collect();
        let error_samples = ErrorKind::ALL
            .iter()
            .filter_map(|k| Some((k.name(), s.samples[k.index()].clone()?)))
            .collect();
        let schedule = m.rate.map(|rate| {
            let scheduled = (rate * duration_s).floor() as u64;
            Schedule {
                rate,
                scheduled,
                late_sends: s.late,
                dropped_sends: scheduled.saturating_sub(s.sent),
                max_send_lag_ms: s.max_lag.as_secs_f64() * 1e3,
                service_time_ms: LatencyMs::of(&s.service),
            }
        });
        Self {
            url: m.url,
            method: m.method,
            http_version: if m.http2 { "HTTP/2" } else { "HTTP/1.1" },
            model: if m.rate.is_some() { "open" } else { "closed" },
            connections: m.connections,
            requests,
            duration_s,
            rps: if duration_s > 0.0 {
                requests as f64 / duration_s
            } else {
                0.0
            },
            errors,
            error_rate: if requests > 0 {
                errors as f64 / requests as f64
            } else {
                0.0
            },
            latency_ms: LatencyMs::of(&s.latency),
            status_codes: s
                .statuses
                .iter()
                .map(|(c, n)| (c.to_string(), *n))
                .collect(),
            status_classes,
            errors_by_kind,
            error_samples,
            bytes_received: s.bytes,
            connects: s.connects,
            aborted: m.aborted,
            warmup_requests: s.warmup,
            interrupted: m.interrupted,
            schedule,
            slowest: s
                .slowest
                .iter()
                .map(|x| SlowRequest {
                    latency_ms: x.latency.as_secs_f64() * 1e3,
                    status: x.status,
                    at_s: x.at.as_secs_f64(),
                    trace_id: x.trace.map(|(t, _)| format!("{t:032x}")),
                    request_id: x.trace.map(|(t, _)| uuid::Uuid::from_u128(t).to_string()),
                })
                .collect(),
        }
    }

    /// Answered requests (any status).
    pub fn answered(&self) -> u64 {
        self.status_codes.values().sum()
    }
}
