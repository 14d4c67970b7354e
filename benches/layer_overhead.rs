//! Per-request cost the pulsecheck layer adds to a bare axum router.
//!
//! Run with: `cargo bench --bench layer_overhead`
//!
//! Variants, all driving the same router in-process (no socket) on a current_thread runtime:
//! - `bare`: the router alone (the baseline);
//! - `layer/no_subscriber`: the layer with no tracing subscriber (span disabled), metrics on
//!   an SDK meter provider;
//! - `layer/not_sampled`: tracing-opentelemetry installed, sampler `always_off`;
//! - `layer/sampled`: sampler `always_on`, spans ended into a batch processor with no export;
//! - `layer/sampled_json_log`: as `sampled`, plus pulsecheck's JSON access-log line (with
//!   trace, span and request ids) written to a sink.
//!
//! Results and the machine they came from are in BENCHMARKS.md.

use std::hint::black_box;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use criterion::{Criterion, criterion_group, criterion_main};
use http::Request;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use pulsecheck::layer::PulseLayer;
use tower::ServiceExt;
use tracing_subscriber::layer::SubscriberExt;

fn router() -> Router {
    Router::new().route("/users/{id}", get(|| async { "user" }))
}

fn request() -> Request<Body> {
    Request::builder()
        .uri("/users/42")
        .header("host", "localhost:8080")
        .header("user-agent", "bench/1")
        .body(Body::empty())
        .unwrap()
}

fn run(c: &mut Criterion, name: &str, app: Router) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    c.bench_function(name, |b| {
        b.to_async(&rt).iter(|| {
            let app = app.clone();
            async move { black_box(app.oneshot(request()).await.unwrap()) }
        })
    });
}

fn metered_layer() -> (PulseLayer, SdkMeterProvider) {
    let meters = SdkMeterProvider::builder()
        .with_reader(PeriodicReader::builder(InMemoryMetricExporter::default()).build())
        .build();
    let meter = opentelemetry::metrics::MeterProvider::meter(&meters, "bench");
    (PulseLayer::new().meter(&meter), meters)
}

fn tracer(sampler: Sampler) -> SdkTracerProvider {
    SdkTracerProvider::builder().with_sampler(sampler).build()
}

fn layer_overhead(c: &mut Criterion) {
    run(c, "bare", router());

    let (layer, _meters) = metered_layer();
    run(c, "layer/no_subscriber", router().layer(layer));

    for (name, sampler) in [
        ("layer/not_sampled", Sampler::AlwaysOff),
        ("layer/sampled", Sampler::AlwaysOn),
    ] {
        let provider = tracer(sampler);
        let subscriber = tracing_subscriber::registry().with(
            tracing_opentelemetry::layer().with_tracer(provider.tracer("bench")),
        );
        let _guard = tracing::subscriber::set_default(subscriber);
        let (layer, _meters) = metered_layer();
        run(c, name, router().layer(layer));
    }

    let provider = tracer(Sampler::AlwaysOn);
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("bench")))
        .with(pulsecheck::telemetry::log_layer(
            pulsecheck::telemetry::LogFormat::Json,
            std::io::sink,
        ));
    let _guard = tracing::subscriber::set_default(subscriber);
    let (layer, _meters) = metered_layer();
    run(c, "layer/sampled_json_log", router().layer(layer));
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .sample_size(50);
    targets = layer_overhead
}
criterion_main!(benches);
