//! Breaker and health state reach OpenTelemetry: span events on the active span at each
//! breaker transition, and observable gauges for check and breaker states.

use std::borrow::Cow;
use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::trace::{
    FutureExt as _, TraceContextExt as _, Tracer as _, TracerProvider as _,
};
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData, ResourceMetrics};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use pulsecheck::Pulse;
use pulsecheck::health::{
    BreakerConfig, BreakerError, Check, CheckError, CheckExt, CircuitBreaker, HealthConfig,
    Observation, Refresh,
};

#[tokio::test]
async fn breaker_transitions_are_events_on_the_active_span() {
    let spans = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(spans.clone())
        .build();
    let tracer = provider.tracer("test");
    let breaker = CircuitBreaker::new(
        "payments",
        BreakerConfig {
            minimum_calls: 2,
            ..BreakerConfig::default()
        },
    );
    let span = tracer.start("POST /api/enrollments");
    let cx = opentelemetry::Context::current_with_span(span);
    async {
        for _ in 0..3 {
            let r = breaker.call(async { Err::<(), _>("declined") }).await;
            assert!(matches!(
                r,
                Err(BreakerError::Inner(_)) | Err(BreakerError::Open(_))
            ));
        }
    }
    .with_context(cx.clone())
    .await;
    cx.span().end();
    let finished = spans.get_finished_spans().expect("spans");
    let events: Vec<_> = finished[0]
        .events
        .iter()
        .filter(|e| e.name == "circuit_breaker.state_change")
        .collect();
    assert_eq!(events.len(), 1, "{:?}", finished[0].events);
    let attrs = &events[0].attributes;
    assert!(attrs.contains(&KeyValue::new("breaker.name", "payments")));
    assert!(attrs.contains(&KeyValue::new("breaker.state", "open")));
    assert!(attrs.contains(&KeyValue::new("breaker.state.from", "closed")));
}

struct Down;
impl Check for Down {
    fn name(&self) -> Cow<'static, str> {
        "ledger".into()
    }
    async fn check(&self) -> Result<Observation, CheckError> {
        Err(CheckError::new("refused"))
    }
}

fn gauge_points(metrics: &[ResourceMetrics], name: &str) -> Vec<(Vec<KeyValue>, i64)> {
    let mut out = Vec::new();
    for rm in metrics {
        for sm in rm.scope_metrics() {
            for m in sm.metrics() {
                if m.name() != name {
                    continue;
                }
                if let AggregatedMetrics::I64(MetricData::Gauge(g)) = m.data() {
                    for p in g.data_points() {
                        out.push((p.attributes().cloned().collect(), p.value()));
                    }
                }
            }
        }
    }
    out
}

#[tokio::test]
async fn check_and_breaker_states_are_exported_as_gauges() {
    let exporter = InMemoryMetricExporter::default();
    let provider = SdkMeterProvider::builder()
        .with_reader(PeriodicReader::builder(exporter.clone()).build())
        .build();
    opentelemetry::global::set_meter_provider(provider.clone());
    let pulse = Pulse::builder()
        .without_telemetry()
        .health_config(HealthConfig {
            refresh: Refresh::OnDemand,
            ..HealthConfig::default()
        })
        .check(
            Down.critical()
                .failure_ttl(Duration::ZERO)
                .breaker(CircuitBreaker::new(
                    "ledger",
                    BreakerConfig {
                        minimum_calls: 2,
                        ..BreakerConfig::default()
                    },
                )),
        )
        .build()
        .expect("pulse");
    for _ in 0..3 {
        pulse.health().report().await;
    }
    provider.force_flush().expect("flush");
    let metrics = exporter.get_finished_metrics().expect("metrics");
    let breaker = gauge_points(&metrics, "pulsecheck.circuit_breaker.state");
    assert!(
        breaker.contains(&(vec![KeyValue::new("breaker.name", "ledger")], 1)),
        "{breaker:?}"
    );
    let status = gauge_points(&metrics, "pulsecheck.health.status");
    let down = status
        .iter()
        .find(|(attrs, _)| attrs.contains(&KeyValue::new("health.status", "down")))
        .expect("a down point");
    assert_eq!(down.1, 1);
    assert!(down.0.contains(&KeyValue::new("health.check", "ledger")));
    let up = status
        .iter()
        .find(|(attrs, _)| attrs.contains(&KeyValue::new("health.status", "up")))
        .expect("an up point");
    assert_eq!(up.1, 0);
}
