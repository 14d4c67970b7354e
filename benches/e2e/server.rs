//! The server of the end-to-end benchmark (`benches/e2e/run.sh`): one route,
//! `GET /api/courses/{id}` answering a small JSON body, served over a real socket with the
//! instrumentation named by the first argument, every variant exporting OTLP/HTTP through the
//! SDK's batch processors to whatever `OTEL_EXPORTER_OTLP_ENDPOINT` names.
//!
//! | argument | what wraps the router |
//! |---|---|
//! | `bare` | nothing |
//! | `tracelayer` | tower-http `TraceLayer::new_for_http()` into tracing-opentelemetry, SDK tracer with the batch span processor, OTLP/HTTP |
//! | `axum_tracing_otel` | axum-tracing-opentelemetry 0.42 (`OtelAxumLayer` + `OtelInResponseLayer`), the same SDK pipeline |
//! | `pulsecheck` | `Pulse::builder().build()` and `pulse.layer()`, served by `pulse.serve`, as the README integrates it; its switches (`OTEL_LOGS_EXPORTER`, `RUST_LOG`, `OTEL_SDK_DISABLED`) come from the environment |
//!
//! Listens on `127.0.0.1:$PORT` and prints `listening on ADDR` once it accepts. Runs until
//! killed.

use axum::Router;
use axum::extract::Path;
use axum::routing::get;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, SpanExporter, WithExportConfig as _};
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt as _;

const VARIANTS: &str = "bare, tracelayer, axum_tracing_otel, pulsecheck";

async fn course(Path(id): Path<u32>) -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({
        "id": id,
        "title": "Distributed systems",
        "seats": 40,
    }))
}

fn router() -> Router {
    Router::new().route("/api/courses/{id}", get(course))
}

/// What the baselines use: the SDK tracer provider with the batch span processor (default
/// delay, queue and batch size) and the OTLP/HTTP exporter, which reads its endpoint from
/// `OTEL_EXPORTER_OTLP_ENDPOINT` as pulsecheck's does.
fn sdk_tracer() -> Result<SdkTracerProvider, Box<dyn std::error::Error>> {
    let exporter = SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .build()?;
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .build())
}

/// Installs tracing-opentelemetry over `provider` as the global `tracing` subscriber.
fn tracing_to_otel(provider: &SdkTracerProvider) {
    let otel = tracing_opentelemetry::layer().with_tracer(provider.tracer("e2e"));
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(otel))
        .expect("no subscriber installed yet");
}

async fn listen() -> std::io::Result<tokio::net::TcpListener> {
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(8098);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening on {}", listener.local_addr()?);
    Ok(listener)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let variant = std::env::args().nth(1).unwrap_or_default();
    match variant.as_str() {
        "bare" => axum::serve(listen().await?, router()).await?,
        "tracelayer" => {
            let provider = sdk_tracer()?;
            tracing_to_otel(&provider);
            let app = router().layer(tower_http::trace::TraceLayer::new_for_http());
            axum::serve(listen().await?, app).await?;
        }
        "axum_tracing_otel" => {
            let provider = sdk_tracer()?;
            tracing_to_otel(&provider);
            let app = router()
                .layer(axum_tracing_opentelemetry::middleware::OtelInResponseLayer)
                .layer(axum_tracing_opentelemetry::middleware::OtelAxumLayer::default());
            axum::serve(listen().await?, app).await?;
        }
        "pulsecheck" => {
            let pulse = pulsecheck::Pulse::builder().service_name("e2e").build()?;
            let app = router().layer(pulse.layer());
            pulse.serve(listen().await?, app).await?;
        }
        other => return Err(format!("unknown variant {other:?}; one of: {VARIANTS}").into()),
    }
    Ok(())
}
