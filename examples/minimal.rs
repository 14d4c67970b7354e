//! The shortest real integration: traces, metrics and JSON logs with request ids.
//!
//! Run with: `cargo run --example minimal`, then `curl -i localhost:8080/hello/you` and
//! `curl -s localhost:8080/health`.
//! Export with `OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318`.

use axum::{Router, extract::Path, routing::get};
use pulsecheck::Pulse;

async fn hello(Path(name): Path<String>) -> String {
    tracing::info!(%name, "greeting");
    format!("hello, {name}\n")
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let pulse = Pulse::builder().service_name("minimal").build()?;
    let app = Router::new()
        .route("/hello/{name}", get(hello))
        .merge(pulse.routes())
        .layer(pulse.layer());
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(8080);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    tracing::info!(addr = %listener.local_addr()?, "listening");
    // Until SIGTERM or Ctrl-C; then drain, close what is left, flush. All bounded.
    pulse.serve(listener, app).await?;
    Ok(())
}
