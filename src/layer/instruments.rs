//! The semantic-convention HTTP server metrics.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use opentelemetry::metrics::{Histogram, Meter, ObservableUpDownCounter};
use opentelemetry::{InstrumentationScope, KeyValue, Value};
use opentelemetry_semantic_conventions::attribute as semconv;
use opentelemetry_semantic_conventions::metric as names;
use smallvec::SmallVec;

use super::method::HttpMethod;

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

    fn add(&self, labels: &MetricLabels, delta: i64) {
        let (m, s) = self.slot(labels);
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

#[derive(Clone)]
pub(crate) struct Instruments {
    duration: Histogram<f64>,
    active: Arc<ActiveCounts>,
    _active_instrument: Arc<ObservableUpDownCounter<i64>>,
}

impl std::fmt::Debug for Instruments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Instruments").finish_non_exhaustive()
    }
}

/// Attributes shared by both instruments, all static: no allocation.
pub(crate) struct MetricLabels {
    pub(crate) method: HttpMethod,
    pub(crate) scheme: &'static str,
    pub(crate) protocol_version: Option<&'static str>,
}

impl Instruments {
    pub(crate) fn from_global() -> Self {
        let scope = InstrumentationScope::builder("pulsecheck")
            .with_version(env!("CARGO_PKG_VERSION"))
            .with_schema_url(opentelemetry_semantic_conventions::SCHEMA_URL)
            .build();
        Self::new(&opentelemetry::global::meter_with_scope(scope))
    }

    pub(crate) fn new(meter: &Meter) -> Self {
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
            active,
            _active_instrument: Arc::new(active_instrument),
        }
    }

    pub(crate) fn request_started(&self, labels: &MetricLabels) {
        self.active.add(labels, 1);
    }

    pub(crate) fn request_ended(&self, labels: &MetricLabels) {
        self.active.add(labels, -1);
    }

    pub(crate) fn record_duration(
        &self,
        seconds: f64,
        labels: &MetricLabels,
        status: u16,
        route: Option<&opentelemetry::StringValue>,
        error_type: Option<Value>,
    ) {
        let mut attrs: SmallVec<[KeyValue; 6]> = SmallVec::new();
        attrs.push(KeyValue::new(
            semconv::HTTP_REQUEST_METHOD,
            labels.method.as_str(),
        ));
        attrs.push(KeyValue::new(semconv::URL_SCHEME, labels.scheme));
        attrs.push(KeyValue::new(
            semconv::HTTP_RESPONSE_STATUS_CODE,
            i64::from(status),
        ));
        if let Some(v) = labels.protocol_version {
            attrs.push(KeyValue::new(semconv::NETWORK_PROTOCOL_VERSION, v));
        }
        if let Some(route) = route {
            attrs.push(KeyValue::new(semconv::HTTP_ROUTE, route.clone()));
        }
        if let Some(e) = error_type {
            attrs.push(KeyValue::new(semconv::ERROR_TYPE, e));
        }
        self.duration.record(seconds, &attrs);
    }
}
