//! Exemplars end to end: a real Prometheus with exemplar storage scrapes the real academy
//! while it serves traffic, and `/api/v1/query_exemplars` must return, on the request-duration
//! histogram's buckets, trace ids of requests the academy really served: each one is in its
//! access log and among the spans it exported. Requests whose span is not sampled (a caller's
//! `traceparent` with flags `00`) must never become an exemplar: their trace is stored nowhere.

use support::prometheus;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use prometheus::Prometheus;
use serde_json::Value;
use support::academy::Academy;
use support::otlp::{Receiver, hex};

const QUERY: &str = "pulsecheck_http_server_request_duration_seconds_bucket{job=\"academy\",http_route=\"/api/simulate\"}";

/// The unsampled requests' trace ids: `...000k`, one per request.
fn unsampled_trace(k: u32) -> String {
    format!("5eed{k:028x}")
}

/// (trace id, value, timestamp, `le`) of every exemplar in a `query_exemplars` answer.
fn flatten(series: &[Value]) -> Vec<(String, f64, f64, String)> {
    let mut out = Vec::new();
    for s in series {
        let le = s["seriesLabels"]["le"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        for e in s["exemplars"].as_array().into_iter().flatten() {
            out.push((
                e["labels"]["trace_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                e["value"]
                    .as_str()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(f64::NAN),
                e["timestamp"].as_f64().unwrap_or(f64::NAN),
                le.clone(),
            ));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_stores_exemplars_that_lead_to_served_sampled_requests() {
    let rx = Receiver::start().await;
    let otlp = rx.endpoint("grpc");
    let app = Academy::spawn(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", otlp.as_str()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
    ]);
    let prom = Prometheus::start_with("academy", app.addr, &["--enable-feature=exemplar-storage"]);
    prom.wait_for("up{job=\"academy\"}", Duration::from_secs(30), |r| {
        r.iter().any(|s| s["value"][1] == "1")
    })
    .await;

    // Sampled requests of 300 ms (the `le="0.5"` bucket) and, alongside, unsampled ones of
    // 600 ms (`le="0.75"`), over several seconds: a bucket takes one exemplar per second.
    let http = reqwest::Client::new();
    let started = Instant::now();
    let mut k = 0;
    let mut exemplars = Vec::new();
    while started.elapsed() < Duration::from_secs(40) {
        let sampled = http.get(app.url("/api/simulate?latency_ms=300")).send();
        k += 1;
        let unsampled = http
            .get(app.url("/api/simulate?latency_ms=600"))
            .header(
                "traceparent",
                format!("00-{}-00f067aa0ba902b7-00", unsampled_trace(k)),
            )
            .send();
        let (a, b) = tokio::join!(sampled, unsampled);
        assert_eq!(a.expect("sampled request").status(), 200);
        assert_eq!(b.expect("unsampled request").status(), 200);
        exemplars = flatten(&prom.exemplars(QUERY, 10).await);
        let distinct: BTreeSet<_> = exemplars.iter().map(|e| &e.0).collect();
        if distinct.len() >= 3 && started.elapsed() > Duration::from_secs(6) {
            break;
        }
    }
    let distinct: BTreeSet<String> = exemplars.iter().map(|e| e.0.clone()).collect();
    assert!(
        distinct.len() >= 3,
        "Prometheus stored {} exemplars ({distinct:?}) after {:?}; log:\n{}",
        exemplars.len(),
        started.elapsed(),
        prom.log_tail()
    );

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64();
    for (trace, value, at, le) in &exemplars {
        assert!(
            trace.len() == 32 && trace.bytes().all(|b| b.is_ascii_hexdigit()),
            "trace id {trace:?}"
        );
        assert!(
            !trace.starts_with("5eed"),
            "an unsampled request became an exemplar: {trace} in le={le}"
        );
        // Only the sampled 300 ms requests: their bucket, their duration.
        assert_eq!(le, "0.5", "exemplar {trace} {value} in le={le}");
        assert!(
            (0.3..=0.5).contains(value),
            "exemplar {trace} value {value}"
        );
        assert!(
            (now - 120.0..=now + 1.0).contains(at),
            "exemplar {trace} time {at}, now {now}"
        );
    }

    // The academy reports each of these traces: an access line for a 300 ms request...
    let logged: BTreeSet<String> = app
        .json_lines()
        .iter()
        .filter(|l| {
            l["message"] == "request completed"
                && l["url.path"] == "/api/simulate"
                && l["duration_ms"]
                    .as_f64()
                    .is_some_and(|d| (300.0..600.0).contains(&d))
        })
        .filter_map(|l| l["trace_id"].as_str().map(str::to_owned))
        .collect();
    for t in &distinct {
        assert!(logged.contains(t), "exemplar {t} is in no access line");
    }
    // ... and a server span it exported, so the trace exists in the tracing backend.
    support::otlp::wait_for(
        "exported spans of every exemplar",
        Duration::from_secs(15),
        || {
            let exported: BTreeSet<String> =
                rx.store.spans().iter().map(|s| hex(&s.trace_id)).collect();
            distinct.iter().all(|t| exported.contains(t)).then_some(())
        },
    )
    .await;
    eprintln!(
        "{} exemplars, {} distinct traces, after {:?}",
        exemplars.len(),
        distinct.len(),
        started.elapsed()
    );
}
