//! A dead or hanging collector never reaches the requests: they succeed without waiting on
//! export, memory stays bounded, and shutdown returns within its bound.

use std::time::{Duration, Instant};

use support::academy::Academy;
use support::otlp::{dead_port, hanging_server};

/// Far below the export timeout we configure (3 s): a request that waited on an export would
/// take at least that long.
const REQUEST_BOUND: Duration = Duration::from_millis(1500);
/// The default shutdown bound (5 s) plus process exit.
const EXIT_BOUND: Duration = Duration::from_secs(8);

async fn hammer(app: &Academy, n: usize) -> Duration {
    let client = reqwest::Client::new();
    let mut slowest = Duration::ZERO;
    for i in 0..n {
        let path = if i % 2 == 0 {
            "/api/courses"
        } else {
            "/api/courses/3"
        };
        let start = Instant::now();
        let resp = client.get(app.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        slowest = slowest.max(start.elapsed());
    }
    slowest
}

async fn survives(endpoint: &str, protocol: &str, requests: usize) -> Academy {
    let app = Academy::spawn(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "3000"),
        ("OTEL_BSP_SCHEDULE_DELAY", "50"),
        ("OTEL_BLRP_SCHEDULE_DELAY", "50"),
        ("OTEL_METRIC_EXPORT_INTERVAL", "200"),
        ("OTEL_BSP_MAX_QUEUE_SIZE", "256"),
        ("OTEL_BLRP_MAX_QUEUE_SIZE", "256"),
    ]);
    let slowest = hammer(&app, requests).await;
    assert!(
        slowest < REQUEST_BOUND,
        "a request took {slowest:?}: requests must not wait on the collector"
    );
    app
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_collector_over_grpc_costs_requests_nothing() {
    let endpoint = format!("http://{}", dead_port());
    let mut app = survives(&endpoint, "grpc", 300).await;
    let (status, took) = app.terminate();
    assert!(status.success());
    assert!(took < EXIT_BOUND, "exit took {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_collector_over_http_costs_requests_nothing() {
    let endpoint = format!("http://{}", dead_port());
    let mut app = survives(&endpoint, "http/protobuf", 300).await;
    let (status, took) = app.terminate();
    assert!(status.success());
    assert!(took < EXIT_BOUND, "exit took {took:?}");
}

async fn hanging(protocol: &str) {
    let (addr, _server) = hanging_server().await;
    let endpoint = format!("http://{addr}");
    let app = survives(&endpoint, protocol, 200).await;
    // Memory: once warm, thousands more requests with nothing leaving the process must not
    // grow it beyond the bounded export queues.
    let before = app.rss_kib();
    hammer(&app, 3000).await;
    let after = app.rss_kib();
    assert!(
        after < before + 40 * 1024,
        "RSS grew from {before} KiB to {after} KiB with a hanging collector"
    );
    let mut app = app;
    let (status, took) = app.terminate();
    assert!(status.success());
    assert!(
        took < EXIT_BOUND,
        "exit with a hanging collector took {took:?}"
    );
    let lines = app.json_lines();
    assert!(
        lines.iter().any(|l| l["message"]
            .as_str()
            .is_some_and(|m| m.contains("shutdown signal received"))),
        "no shutdown line"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hanging_collector_over_grpc_bounded_memory_and_shutdown() {
    hanging("grpc").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hanging_collector_over_http_bounded_memory_and_shutdown() {
    hanging("http/protobuf").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_off_prints_no_errors_and_no_retries() {
    let mut app = Academy::spawn(&[]);
    hammer(&app, 50).await;
    let (status, _) = app.terminate();
    assert!(status.success());
    let lines = app.json_lines();
    assert!(lines.iter().any(|l| {
        l["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("OTLP export off"))
    }));
    let noisy: Vec<_> = lines
        .iter()
        .filter(|l| l["level"] == "WARN" || l["level"] == "ERROR")
        .collect();
    assert!(noisy.is_empty(), "warnings with export off: {noisy:?}");
    // Trace ids are still generated and logged.
    assert!(
        lines
            .iter()
            .any(|l| l["trace_id"].as_str().is_some_and(|t| t.len() == 32))
    );
}
