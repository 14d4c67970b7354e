//! A service that installs its own meter provider after `Pulse::build` (the
//! `without_telemetry` integration) still gets every pulsecheck metric: health and system
//! gauges, alert transitions and circuit breaker transitions, under the versioned
//! `pulsecheck` instrumentation scope. Bound at `build()`, they went to the no-op provider
//! installed then and stayed there.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::body::Body;
use axum::routing::get;
use http::Request;
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use pulsecheck::Pulse;
use pulsecheck::config::{AlertSettings, PulseConfig};
use pulsecheck::health::{
    BreakerConfig, BreakerWindow, Check, CheckError, CheckStatus, CircuitBreaker, Observation,
};
use tower::ServiceExt as _;

struct Dead;

impl Check for Dead {
    fn name(&self) -> std::borrow::Cow<'static, str> {
        "db".into()
    }

    async fn check(&self) -> Result<Observation, CheckError> {
        Err(CheckError::new("connection refused"))
    }
}

#[tokio::test]
async fn a_provider_installed_after_build_gets_health_system_alert_and_breaker_metrics() {
    let config = PulseConfig {
        alerts: AlertSettings {
            pending_for: Duration::ZERO,
            ..AlertSettings::default()
        },
        ..PulseConfig::default()
    };
    let pulse = Pulse::builder()
        .without_telemetry()
        .config(config)
        .check(pulsecheck::health::Registration::from(Dead).critical())
        .build()
        .unwrap();

    // Installed after `build()`.
    let exporter = InMemoryMetricExporter::default();
    let provider = SdkMeterProvider::builder()
        .with_reader(PeriodicReader::builder(exporter.clone()).build())
        .build();
    opentelemetry::global::set_meter_provider(provider.clone());

    let app = axum::Router::new()
        .route("/", get(|| async { "ok" }))
        .merge(pulse.routes())
        .layer(pulse.layer());
    let response = app
        .oneshot(Request::get("/").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    // A dead critical dependency: an alert fires at once (`for` is zero).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while pulse.health().cached_report().checks[0].status() != CheckStatus::Down {
        assert!(std::time::Instant::now() < deadline, "the check never ran");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The background evaluation may have seen it first: either way it fires now.
    pulse.alerts().evaluate_now();
    let snapshot = pulse.alerts().snapshot();
    assert!(
        snapshot
            .firing()
            .any(|a| a.name == "PulsecheckDependencyDown"),
        "{:?}",
        snapshot.alerts
    );
    // A breaker opening.
    let breaker = CircuitBreaker::new(
        "payments",
        BreakerConfig {
            window: BreakerWindow::Count(4),
            minimum_calls: 2,
            ..BreakerConfig::default()
        },
    );
    for _ in 0..4 {
        let _ = breaker.call(async { Err::<(), _>("refused") }).await;
    }

    provider.force_flush().unwrap();
    let mut scopes: BTreeMap<String, Option<String>> = BTreeMap::new();
    for rm in exporter.get_finished_metrics().unwrap() {
        for sm in rm.scope_metrics() {
            for m in sm.metrics() {
                scopes.insert(m.name().to_owned(), sm.scope().version().map(str::to_owned));
            }
        }
    }
    let mut expected = vec![
        "http.server.request.duration",
        "pulsecheck.health.status",
        "pulsecheck.alert.transitions",
        "pulsecheck.circuit_breaker.transitions",
    ];
    if cfg!(target_os = "linux") {
        expected.push("process.memory.usage");
    }
    for name in expected {
        assert_eq!(
            scopes.get(name),
            Some(&Some(env!("CARGO_PKG_VERSION").to_owned())),
            "{name} missing or unversioned; exported: {scopes:?}"
        );
    }
}
