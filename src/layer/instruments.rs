//! The semantic-convention HTTP server metrics.

use opentelemetry::metrics::{Histogram, Meter, UpDownCounter};
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

#[derive(Clone, Debug)]
pub(crate) struct Instruments {
    duration: Histogram<f64>,
    active: UpDownCounter<i64>,
}

/// Attributes shared by both instruments, all static or reference-counted: no allocation.
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
        Self {
            duration: meter
                .f64_histogram(names::HTTP_SERVER_REQUEST_DURATION)
                .with_unit("s")
                .with_description("Duration of HTTP server requests.")
                .with_boundaries(DURATION_BOUNDARIES.to_vec())
                .build(),
            active: meter
                .i64_up_down_counter(names::HTTP_SERVER_ACTIVE_REQUESTS)
                .with_unit("{request}")
                .with_description("Number of active HTTP server requests.")
                .build(),
        }
    }

    pub(crate) fn request_started(&self, labels: &MetricLabels) {
        self.active.add(1, &Self::active_attrs(labels));
    }

    pub(crate) fn request_ended(&self, labels: &MetricLabels) {
        self.active.add(-1, &Self::active_attrs(labels));
    }

    fn active_attrs(labels: &MetricLabels) -> [KeyValue; 2] {
        [
            KeyValue::new(semconv::HTTP_REQUEST_METHOD, labels.method.as_str()),
            KeyValue::new(semconv::URL_SCHEME, labels.scheme),
        ]
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
