//! The router and layer variants both layer benchmarks measure.
#![allow(dead_code)]

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::Request;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use pulsecheck::layer::PulseLayer;
use tracing_subscriber::layer::SubscriberExt;

pub const VARIANTS: [&str; 6] = [
    "bare",
    "axum_tracing_opentelemetry/sampled",
    "layer/no_tracer",
    "layer/not_sampled",
    "layer/sampled",
    "layer/sampled_json_log",
];

pub fn router() -> Router {
    Router::new().route("/users/{id}", get(|| async { "user" }))
}

pub fn request() -> Request<Body> {
    Request::builder()
        .uri("/users/42")
        .header("host", "localhost:8080")
        .header("user-agent", "bench/1")
        .body(Body::empty())
        .unwrap()
}

/// What must stay alive while a variant runs.
pub struct Setup {
    pub app: Router,
    _meters: Option<SdkMeterProvider>,
    _tracer: Option<SdkTracerProvider>,
    _subscriber: Option<tracing::subscriber::DefaultGuard>,
}

fn metered_layer() -> (PulseLayer, SdkMeterProvider) {
    let meters = SdkMeterProvider::builder()
        .with_reader(PeriodicReader::builder(InMemoryMetricExporter::default()).build())
        .build();
    let meter = opentelemetry::metrics::MeterProvider::meter(&meters, "bench");
    (PulseLayer::new().meter(&meter), meters)
}

/// Builds a variant and installs its subscriber as the thread default.
pub fn setup(variant: &str) -> Setup {
    if variant == "bare" {
        return Setup {
            app: router(),
            _meters: None,
            _tracer: None,
            _subscriber: None,
        };
    }
    if variant == "axum_tracing_opentelemetry/sampled" {
        // The competitor on the same terms: an SDK tracer (always on) through
        // tracing-opentelemetry, trace id returned in the response.
        let tracer = SdkTracerProvider::builder()
            .with_sampler(Sampler::AlwaysOn)
            .build();
        let otel = tracing_opentelemetry::layer().with_tracer(tracer.tracer("bench"));
        let guard = tracing::subscriber::set_default(tracing_subscriber::registry().with(otel));
        let app = router()
            .layer(axum_tracing_opentelemetry::middleware::OtelInResponseLayer)
            .layer(axum_tracing_opentelemetry::middleware::OtelAxumLayer::default());
        return Setup {
            app,
            _meters: None,
            _tracer: Some(tracer),
            _subscriber: Some(guard),
        };
    }
    let (layer, meters) = metered_layer();
    let sampler = match variant {
        "layer/no_tracer" => {
            let app = router().layer(layer);
            return Setup {
                app,
                _meters: Some(meters),
                _tracer: None,
                _subscriber: None,
            };
        }
        "layer/not_sampled" => Sampler::AlwaysOff,
        _ => Sampler::AlwaysOn,
    };
    let tracer = SdkTracerProvider::builder().with_sampler(sampler).build();
    let app = router().layer(layer.tracer(tracer.tracer("pulsecheck")));
    // The handler's own spans, if it had any, would go through tracing-opentelemetry.
    let otel = tracing_opentelemetry::layer().with_tracer(tracer.tracer("bench"));
    let guard = if variant == "layer/sampled_json_log" {
        tracing::subscriber::set_default(tracing_subscriber::registry().with(otel).with(
            pulsecheck::telemetry::log_layer(pulsecheck::telemetry::LogFormat::Json, std::io::sink),
        ))
    } else {
        tracing::subscriber::set_default(tracing_subscriber::registry().with(otel))
    };
    Setup {
        app,
        _meters: Some(meters),
        _tracer: Some(tracer),
        _subscriber: Some(guard),
    }
}
