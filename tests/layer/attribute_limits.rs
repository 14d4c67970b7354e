//! Values copied from requests into spans and log lines are bounded in bytes: a huge
//! User-Agent, path, query, Host or method costs a few KiB per span, not hundreds, so a hung
//! collector (the export queues full) cannot take the service's memory, and the
//! `OTEL_*ATTRIBUTE_VALUE_LENGTH_LIMIT` variables are honoured. Against the academy example as
//! a real process.

use std::sync::Arc;
use std::time::Duration;

use opentelemetry_proto::tonic::trace::v1::Span;
use support::academy::Academy;
use support::otlp::{Receiver, attr_str, hanging_server, wait_for};

const WAIT: Duration = Duration::from_secs(20);

/// 2400 requests, each with a 300 KB User-Agent, 8 at a time, with the OTLP exporter stuck on
/// a collector that accepts and never answers: every request answers, and RSS grows by less
/// than 64 MiB (it grew by hundreds when each span kept the whole header).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_collector_and_huge_user_agents_keep_memory_bounded() {
    const REQUESTS: usize = 2400;
    const CONCURRENCY: usize = 8;
    const UA_BYTES: usize = 300 * 1024;
    let (collector, _hung) = hanging_server().await;
    let endpoint = format!("http://{collector}");
    let app = Academy::spawn(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
    ]);
    let client = reqwest::Client::new();
    let url = app.url("/api/simulate?latency_ms=0");
    // Warm up: pools, buffers and lazily built state exist before the baseline.
    for _ in 0..100 {
        let r = client.get(&url).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }
    let before = app.rss_kib();

    let user_agent = Arc::new("A".repeat(UA_BYTES));
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let workers: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let (client, url, ua, next) = (
                client.clone(),
                url.clone(),
                Arc::clone(&user_agent),
                Arc::clone(&next),
            );
            tokio::spawn(async move {
                let mut answered = 0;
                while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < REQUESTS {
                    let r = client
                        .get(&url)
                        .header("user-agent", ua.as_str())
                        .timeout(Duration::from_secs(30))
                        .send()
                        .await
                        .expect("every request answers");
                    assert_eq!(r.status(), 200);
                    answered += 1;
                }
                answered
            })
        })
        .collect();
    let mut answered = 0;
    for w in workers {
        answered += w.await.unwrap();
    }
    assert_eq!(answered, REQUESTS);
    let after = app.rss_kib();
    eprintln!(
        "RSS before {before} KiB, after {after} KiB: grew {} KiB over {REQUESTS} requests with a {UA_BYTES}-byte User-Agent",
        after.saturating_sub(before)
    );
    assert!(
        after < before + 64 * 1024,
        "RSS grew from {before} KiB to {after} KiB with a hung collector"
    );
}

fn server_span<'a>(spans: &'a [Span], path_prefix: &str) -> Option<&'a Span> {
    spans
        .iter()
        .find(|s| attr_str(&s.attributes, "url.path").is_some_and(|p| p.starts_with(path_prefix)))
}

/// The span limit wins over the general one for span attributes, the log-record limit applies
/// to log fields, and a value is cut to at most the limit in bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_otel_value_length_limits_are_honoured() {
    let rx = Receiver::start().await;
    let endpoint = rx.endpoint("grpc");
    let app = Academy::spawn(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ("OTEL_BLRP_SCHEDULE_DELAY", "100"),
        ("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "100"),
        ("OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", "64"),
        ("OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT", "40"),
    ]);
    let client = reqwest::Client::new();
    let long_path = format!("/nowhere/{}", "p".repeat(5000));
    let long_query = format!("q={}", "v".repeat(5000));
    let host = format!("{}.example", "h".repeat(5000));
    let method = http::Method::from_bytes("PROPFINDX".repeat(400).as_bytes()).unwrap();
    let r = client
        .request(method, app.url(&format!("{long_path}?{long_query}")))
        .header("user-agent", "u".repeat(5000))
        .header("host", &host)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    let spans = wait_for("the server span", WAIT, || {
        let spans = rx.store.spans();
        server_span(&spans, "/nowhere/").cloned()
    })
    .await;
    for (key, full) in [
        ("url.path", long_path.as_str()),
        ("url.query", long_query.as_str()),
        ("user_agent.original", &"u".repeat(5000)),
        ("server.address", host.as_str()),
        ("http.request.method_original", &"PROPFINDX".repeat(400)),
    ] {
        let v = attr_str(&spans.attributes, key).unwrap_or_else(|| panic!("{key} missing"));
        assert!(
            v.len() == 64 && full.starts_with(v),
            "{key}: {} bytes, want the span limit (64), not the general one (100)",
            v.len()
        );
    }

    // The access log: stdout and the OTLP log record, at the log-record limit.
    let line = wait_for("the access line", WAIT, || {
        app.json_lines().into_iter().find(|l| {
            l["target"] == "pulsecheck::access"
                && l["url.path"]
                    .as_str()
                    .is_some_and(|p| p.starts_with("/nowhere/"))
        })
    })
    .await;
    let logged = line["url.path"].as_str().unwrap();
    assert!(
        logged.len() == 40 && long_path.starts_with(logged),
        "access line url.path: {} bytes, want the log-record limit (40)",
        logged.len()
    );
    let record = wait_for("the access log record", WAIT, || {
        rx.store.log_records().into_iter().find(|r| {
            attr_str(&r.attributes, "url.path").is_some_and(|p| p.starts_with("/nowhere/"))
        })
    })
    .await;
    let exported = attr_str(&record.attributes, "url.path").unwrap();
    assert!(
        exported.len() == 40 && long_path.starts_with(exported),
        "log record url.path: {} bytes, want 40",
        exported.len()
    );
}

/// Without any variable, request-derived values are cut at the documented default, 2048 bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_values_are_capped_at_2048_bytes_by_default() {
    let rx = Receiver::start().await;
    let endpoint = rx.endpoint("grpc");
    let app = Academy::spawn(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
    ]);
    let ua = "z".repeat(10_000);
    let r = reqwest::Client::new()
        .get(app.url("/api/simulate?latency_ms=0&marker=default-cap"))
        .header("user-agent", &ua)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let span = wait_for("the server span", WAIT, || {
        rx.store.spans().into_iter().find(|s| {
            attr_str(&s.attributes, "url.query").is_some_and(|q| q.contains("default-cap"))
        })
    })
    .await;
    let kept = attr_str(&span.attributes, "user_agent.original").unwrap();
    assert!(
        kept.len() == 2048 && ua.starts_with(kept),
        "user_agent.original: {} bytes, want the default 2048",
        kept.len()
    );
}
