//! The semantic-convention HTTP server metrics.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, OnceLock};

use opentelemetry::metrics::{BoundHistogram, Histogram, Meter, ObservableUpDownCounter};
use opentelemetry::{KeyValue, Value};
use opentelemetry_semantic_conventions::attribute as semconv;
use opentelemetry_semantic_conventions::metric as names;
use smallvec::SmallVec;

use super::method::HttpMethod;
use super::route::{RouteId, RouteTable};

/// Bucket boundaries of `http.server.request.duration`, in seconds, from the HTTP semantic
/// conventions.
pub const DURATION_BOUNDARIES: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

const SCHEMES: [&str; 2] = ["http", "https"];

/// In-flight requests per (method, scheme). Counted with plain atomics and reported by an
/// observable instrument at collection time: an SDK up-down counter would hash its attributes
/// twice per request.
#[derive(Debug, Default)]
pub(crate) struct ActiveCounts {
    counts: [[AtomicI64; 2]; HttpMethod::COUNT],
    seen: [[AtomicBool; 2]; HttpMethod::COUNT],
}

impl ActiveCounts {
    fn slot(&self, labels: &MetricLabels) -> (usize, usize) {
        (labels.method.index(), usize::from(labels.scheme == "https"))
    }

    fn add(&self, (m, s): (usize, usize), delta: i64) {
        self.counts[m][s].fetch_add(delta, Ordering::Relaxed);
        if !self.seen[m][s].load(Ordering::Relaxed) {
            self.seen[m][s].store(true, Ordering::Relaxed);
        }
    }

    fn observe(&self, report: &mut dyn FnMut(i64, [KeyValue; 2])) {
        for (m, method) in HttpMethod::ALL.iter().enumerate() {
            for (s, scheme) in SCHEMES.iter().enumerate() {
                if self.seen[m][s].load(Ordering::Relaxed) {
                    report(
                        self.counts[m][s].load(Ordering::Relaxed),
                        [
                            KeyValue::new(semconv::HTTP_REQUEST_METHOD, method.as_str()),
                            KeyValue::new(semconv::URL_SCHEME, *scheme),
                        ],
                    );
                }
            }
        }
    }
}

/// Status codes with a bound-instrument slot; others take the (correct, slower) unbound path.
const BOUND_STATUSES: [u16; 32] = [
    200, 201, 202, 204, 206, 301, 302, 303, 304, 307, 308, 400, 401, 403, 404, 405, 406, 408, 409,
    410, 412, 413, 415, 422, 429, 499, 500, 501, 502, 503, 504, 505,
];
const BOUND_PER_ROUTE: usize = HttpMethod::COUNT * BOUND_STATUSES.len() * 2 * 2;

fn status_slot(code: u16) -> Option<usize> {
    BOUND_STATUSES.binary_search(&code).ok()
}

/// Bound duration histograms, one per (method, status, scheme, protocol version) of a route,
/// created on first use. Recording through a bound instrument skips the SDK's per-record
/// attribute lookup (sorting and hashing every attribute), its largest per-request cost.
type BoundTable = Box<[OnceLock<BoundHistogram<f64>>]>;

#[derive(Clone)]
pub(crate) struct Instruments {
    duration: Histogram<f64>,
    /// Indexed by series: 0 unmatched, 1 overflow, 2 + route id. Each table is allocated on
    /// the route's first request.
    bound: Arc<[OnceLock<BoundTable>]>,
    active: Arc<ActiveCounts>,
    _active_instrument: Arc<ObservableUpDownCounter<i64>>,
}

impl std::fmt::Debug for Instruments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Instruments").finish_non_exhaustive()
    }
}

/// Attributes shared by both instruments, all static: no allocation.
/// Counts its request in `http.server.active_requests` until dropped, so a request whose
/// client went away is not counted forever. Holds the one counter it needs rather than a
/// clone of every instrument.
pub(crate) struct ActiveRequest {
    counts: Arc<ActiveCounts>,
    slot: (usize, usize),
}

impl Drop for ActiveRequest {
    fn drop(&mut self) {
        self.counts.add(self.slot, -1);
    }
}

#[derive(Clone, Copy)]
pub(crate) struct MetricLabels {
    pub(crate) method: HttpMethod,
    pub(crate) scheme: &'static str,
    pub(crate) protocol_version: Option<&'static str>,
}

impl Instruments {
    pub(crate) fn from_global(routes: usize) -> Self {
        Self::new(&crate::instrumentation::meter(), routes)
    }

    pub(crate) fn new(meter: &Meter, routes: usize) -> Self {
        let active = Arc::new(ActiveCounts::default());
        let observed = Arc::clone(&active);
        let active_instrument = meter
            .i64_observable_up_down_counter(names::HTTP_SERVER_ACTIVE_REQUESTS)
            .with_unit("{request}")
            .with_description("Number of active HTTP server requests.")
            .with_callback(move |o| observed.observe(&mut |v, attrs| o.observe(v, &attrs)))
            .build();
        Self {
            duration: meter
                .f64_histogram(names::HTTP_SERVER_REQUEST_DURATION)
                .with_unit("s")
                .with_description("Duration of HTTP server requests.")
                .with_boundaries(DURATION_BOUNDARIES.to_vec())
                .build(),
            bound: (0..routes + 2).map(|_| OnceLock::new()).collect(),
            active,
            _active_instrument: Arc::new(active_instrument),
        }
    }

    /// Counts a request in `http.server.active_requests` until the returned guard drops.
    pub(crate) fn start_request(&self, labels: &MetricLabels) -> ActiveRequest {
        let slot = self.active.slot(labels);
        self.active.add(slot, 1);
        ActiveRequest {
            counts: Arc::clone(&self.active),
            slot,
        }
    }

    pub(crate) fn record_duration(
        &self,
        seconds: f64,
        labels: &MetricLabels,
        status: Option<u16>,
        route: Option<(RouteId, &opentelemetry::StringValue)>,
    ) {
        let series = match route {
            None => Some(0),
            Some((RouteTable::OVERFLOW, _)) => Some(1),
            Some((RouteId(i), _)) => Some(i as usize + 2),
        };
        let version = match labels.protocol_version {
            Some("1.1") => Some(0),
            Some("2") => Some(1),
            _ => None,
        };
        let slot = match (series, status.and_then(status_slot), version) {
            (Some(series), Some(st), Some(v)) if series < self.bound.len() => {
                let scheme = usize::from(labels.scheme == "https");
                Some((
                    series,
                    ((labels.method.index() * BOUND_STATUSES.len() + st) * 2 + scheme) * 2 + v,
                ))
            }
            _ => None,
        };
        match slot {
            Some((series, key)) => {
                let table = self.bound[series]
                    .get_or_init(|| (0..BOUND_PER_ROUTE).map(|_| OnceLock::new()).collect());
                table[key]
                    .get_or_init(|| {
                        self.duration.bind(&Self::duration_attrs(
                            labels,
                            status,
                            route.map(|r| r.1),
                        ))
                    })
                    .record(seconds);
            }
            None => self.duration.record(
                seconds,
                &Self::duration_attrs(labels, status, route.map(|r| r.1)),
            ),
        }
    }

    fn duration_attrs(
        labels: &MetricLabels,
        status: Option<u16>,
        route: Option<&opentelemetry::StringValue>,
    ) -> SmallVec<[KeyValue; 6]> {
        let mut attrs: SmallVec<[KeyValue; 6]> = SmallVec::new();
        attrs.push(KeyValue::new(
            semconv::HTTP_REQUEST_METHOD,
            labels.method.as_str(),
        ));
        attrs.push(KeyValue::new(semconv::URL_SCHEME, labels.scheme));
        if let Some(status) = status {
            attrs.push(KeyValue::new(
                semconv::HTTP_RESPONSE_STATUS_CODE,
                i64::from(status),
            ));
        }
        if let Some(v) = labels.protocol_version {
            attrs.push(KeyValue::new(semconv::NETWORK_PROTOCOL_VERSION, v));
        }
        if let Some(route) = route {
            attrs.push(KeyValue::new(semconv::HTTP_ROUTE, route.clone()));
        }
        match status {
            // As on the span: the status code as a string (semantic conventions).
            Some(status @ 500..600) => {
                let text: Value = http::StatusCode::from_u16(status)
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_else(|_| status.to_string())
                    .into();
                attrs.push(KeyValue::new(semconv::ERROR_TYPE, text));
            }
            Some(_) => {}
            None => attrs.push(KeyValue::new(
                semconv::ERROR_TYPE,
                super::CANCELLED_ERROR_TYPE,
            )),
        }
        attrs
    }
}
