//! Adding pulsecheck to a service that already set up OpenTelemetry and owns `/health`.
//!
//! The service keeps its tracer provider and subscriber; pulsecheck installs nothing global
//! (`without_telemetry`), its layer replaces the service's own server-span middleware
//! (tower-http's `TraceLayer`, `OtelAxumLayer`: one SERVER span per request, not two), and
//! its endpoints are nested under `/ops` because the service already answers `/health`.
//!
//! Run with: `cargo run --example existing_otel`, then `curl -s localhost:8080/ops/health`.

use axum::{Router, routing::get};
use pulsecheck::Pulse;
use pulsecheck::config::Monitoring;
// The OpenTelemetry crates pulsecheck was built against: one `opentelemetry` version in the
// build, so the service's provider and pulsecheck's layer share one global.
use pulsecheck::otel::{opentelemetry, opentelemetry_sdk, tracing_opentelemetry};
use pulsecheck::telemetry::{LogFormat, log_layer};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// Where pulsecheck's endpoints are served; `/health` is the service's own.
const PREFIX: &str = "/ops";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The service's existing set-up: its provider (an OTLP exporter in real life), installed
    // globally, and its subscriber with the tracing bridge.
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
    opentelemetry::global::set_tracer_provider(provider.clone());
    let tracer = opentelemetry::trace::TracerProvider::tracer(&provider, "existing");
    tracing_subscriber::registry()
        .with(tracing_subscriber::EnvFilter::new("info"))
        .with(tracing_opentelemetry::layer().with_tracer(tracer))
        // pulsecheck's log lines: trace, span and request ids on each line.
        .with(log_layer(LogFormat::Json, std::io::stdout))
        .init();

    // pulsecheck's routes nested under a prefix have prefixed templates, which are not in its
    // list of monitoring routes: name them, or probes count as the service's traffic.
    let mut builder = Pulse::builder().without_telemetry();
    for own in Monitoring::default().routes() {
        builder = builder.monitoring_route(format!("{PREFIX}{own}"));
    }
    let pulse = builder.build()?;

    let app = Router::new()
        .route("/health", get(|| async { "the service's own health\n" }))
        .route("/hello", get(|| async { "hello\n" }))
        .nest(PREFIX, pulse.routes())
        // In place of the service's `TraceLayer`/`OtelAxumLayer`, not beside it.
        .layer(pulse.layer());

    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(8080);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    tracing::info!(addr = %listener.local_addr()?, "listening");

    // Shutdown order: `serve` drains the requests, then stops pulsecheck (it flushes nothing
    // of the service's telemetry); only then flush and stop the service's own provider, so
    // the spans of the requests served during the drain are exported too.
    pulse.serve(listener, app).await?;
    provider.shutdown()?;
    Ok(())
}
