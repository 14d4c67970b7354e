//! The rules `pulsecheck rules` generates, loaded into a real Prometheus that evaluates them
//! every second: a 300 ms burst against a 100 ms P95 budget of the real academy puts
//! `PulsecheckLatencyP95Critical` in `ALERTS`, and a burst of 500s puts the error-rate alert
//! and the default availability SLO's page there, for both setups.
//!
//! - **scrape**: Prometheus scrapes the academy's own `/metrics` (the README's first example).
//! - **collector**: the academy exports OTLP metrics; the collector's Prometheus exporter is not
//!   installable here, so a small exporter in this test serves the received
//!   `http.server.request.duration` histogram under the names that exporter gives it
//!   (`http_server_request_duration_seconds_{bucket,sum,count}`, attribute keys with `.` as
//!   `_`, cumulative buckets, `le` from the explicit bounds), and Prometheus scrapes that.
//!
//! Needs `prometheus` (Debian's package; scripts/test.sh installs it). Loopback only, bounded.

#[allow(dead_code)]
#[path = "../../tests/support/procs.rs"]
mod procs;
#[allow(dead_code)]
#[path = "../../tests/support/prometheus.rs"]
mod prometheus;
#[path = "../../tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use prometheus::Prometheus;
use support::academy::Academy;
use support::otlp::{Receiver, Store};

/// The budget under test, for the academy and for `pulsecheck rules` alike.
const BUDGET: [(&str, &str); 2] = [
    ("PULSE_BUDGET_P95_MS", "100"),
    ("PULSE_BUDGET_MIN_REQUESTS", "5"),
];

fn rules(source: &str) -> String {
    let dir = std::env::temp_dir().join(format!("pulsecheck-promrules-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_pulsecheck"))
        .current_dir(&dir)
        .env_remove("PULSE_CONFIG")
        .envs(BUDGET)
        .args(["rules", "--source", source])
        .output()
        .expect("run pulsecheck rules");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `n` requests of `ms` milliseconds answered `status` by the academy, concurrently.
async fn requests(app: &Academy, n: usize, ms: u64, status: u16) {
    let client = reqwest::Client::new();
    let url = app.url(&format!("/api/simulate?latency_ms={ms}&status={status}"));
    let all: Vec<_> = (0..n)
        .map(|_| {
            let (client, url) = (client.clone(), url.clone());
            tokio::spawn(async move { client.get(url).send().await.unwrap().status().as_u16() })
        })
        .collect();
    for h in all {
        assert_eq!(h.await.unwrap(), status);
    }
}

/// Creates the route's series with fast requests, waits until Prometheus has scraped them,
/// then bursts 300 ms requests and waits for the P95 alert to fire.
async fn burst_fires_the_p95_alert(app: &Academy, prom: &Prometheus, series: &str) {
    requests(app, 2, 0, 200).await;
    let has_route = format!("{series}{{http_route=\"/api/simulate\"}}");
    prom.wait_for(&has_route, Duration::from_secs(30), |r| !r.is_empty())
        .await;
    let burst = std::time::Instant::now();
    for _ in 0..3 {
        requests(app, 20, 300, 200).await;
    }
    let firing = prom
        .wait_for(
            "ALERTS{alertname=\"PulsecheckLatencyP95Critical\", alertstate=\"firing\"}",
            Duration::from_secs(45),
            |r| !r.is_empty(),
        )
        .await;
    assert_eq!(firing[0]["metric"]["severity"], "critical", "{firing:?}");
    eprintln!(
        "{series}: PulsecheckLatencyP95Critical firing {:.1} s after the burst started",
        burst.elapsed().as_secs_f64()
    );
    // The recorded p95 is the one the alert compared: over the 100 ms budget.
    let p95 = prom.query("pulsecheck:http_latency_seconds:p95_5m").await;
    let v: f64 = p95[0]["value"][1].as_str().unwrap().parse().unwrap();
    assert!(v > 0.1, "p95 {v} s");
    // Then errors: the error-rate budget (status codes: on the counter for a scrape, on the
    // histogram for the collector) and the default availability SLO's page.
    // A counter's first sample shows no increase: create the 500 series, let it be scraped,
    // then burst (as continuing failures would).
    requests(app, 1, 0, 500).await;
    let has_500 =
        format!("{series}{{http_route=\"/api/simulate\", http_response_status_code=\"500\"}}");
    prom.wait_for(&has_500, Duration::from_secs(30), |r| !r.is_empty())
        .await;
    for _ in 0..2 {
        requests(app, 20, 0, 500).await;
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    for alert in [
        "ALERTS{alertname=\"PulsecheckErrorRateCritical\", alertstate=\"firing\"}",
        "ALERTS{alertname=\"PulsecheckSloErrorBudgetBurn\", alertstate=\"firing\", slo=\"availability\", severity=\"page\"}",
    ] {
        prom.wait_for(alert, Duration::from_secs(45), |r| !r.is_empty())
            .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_p95_breach_fires_in_prometheus_scraping_metrics() {
    let app = Academy::spawn(&BUDGET);
    let prom = Prometheus::start_with_rules("academy", app.addr, Some(&rules("scrape")));
    burst_fires_the_p95_alert(&app, &prom, "pulsecheck_http_server_requests_total").await;
}

/// The latest cumulative `http.server.request.duration` points, as the collector's Prometheus
/// exporter writes them.
fn collector_exposition(store: &Store) -> String {
    // Latest point per attribute set: the SDK exports cumulative histograms.
    let mut latest: BTreeMap<String, (Vec<f64>, Vec<u64>, f64, u64)> = BTreeMap::new();
    for m in store.metrics() {
        if m.name != "http.server.request.duration" {
            continue;
        }
        let Some(Data::Histogram(h)) = m.data else {
            continue;
        };
        for p in h.data_points {
            let mut labels: Vec<(String, String)> = p
                .attributes
                .iter()
                .filter_map(|kv| {
                    let v = match kv.value.as_ref()?.value.as_ref()? {
                        AnyValue::StringValue(s) => s.clone(),
                        AnyValue::IntValue(i) => i.to_string(),
                        AnyValue::BoolValue(b) => b.to_string(),
                        AnyValue::DoubleValue(d) => d.to_string(),
                        _ => return None,
                    };
                    let k: String = kv
                        .key
                        .chars()
                        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                        .collect();
                    Some((k, v))
                })
                .collect();
            labels.sort();
            let key = labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")))
                .collect::<Vec<_>>()
                .join(",");
            latest.insert(
                key,
                (
                    p.explicit_bounds,
                    p.bucket_counts,
                    p.sum.unwrap_or(0.0),
                    p.count,
                ),
            );
        }
    }
    let name = "http_server_request_duration_seconds";
    let mut out = format!("# TYPE {name} histogram\n");
    for (labels, (bounds, counts, sum, count)) in latest {
        let mut cumulative = 0;
        for (i, n) in counts.iter().enumerate() {
            cumulative += n;
            let le = bounds.get(i).map_or("+Inf".to_owned(), |b| b.to_string());
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{le}\"}} {cumulative}");
        }
        let _ = writeln!(out, "{name}_sum{{{labels}}} {sum}");
        let _ = writeln!(out, "{name}_count{{{labels}}} {count}");
    }
    out
}

/// Serves [`collector_exposition`] on `/metrics`.
async fn exporter(store: Arc<Store>) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let store = Arc::clone(&store);
            async move { collector_exposition(&store) }
        }),
    );
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_p95_breach_fires_in_prometheus_reading_collector_series() {
    let receiver = Receiver::start().await;
    let endpoint = receiver.endpoint("grpc");
    let mut env = BUDGET.to_vec();
    env.extend([
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_METRIC_EXPORT_INTERVAL", "500"),
    ]);
    let app = Academy::spawn(&env);
    let (addr, task) = exporter(Arc::clone(&receiver.store)).await;
    let prom = Prometheus::start_with_rules("academy-api", addr, Some(&rules("collector")));
    burst_fires_the_p95_alert(&app, &prom, "http_server_request_duration_seconds_count").await;
    task.abort();
}
