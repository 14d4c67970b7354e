//! Requests the client abandons: when a dependency hangs, clients time out and hang up, hyper
//! drops the handler's future, and the request must still show everywhere a completed one
//! does, as status 499 ("client closed request") with the time until the hang-up as its
//! duration: the aggregator (`/health/metrics`, with a `cancelled` count), the `/metrics`
//! counters and histogram, the OpenTelemetry duration metric and server span (`error.type`, no
//! status code, as the semantic conventions say for a request without a response), and one
//! access-log line. Against the academy example as a real process and a real OTLP receiver.

use std::time::Duration;

use opentelemetry_proto::tonic::metrics::v1::HistogramDataPoint;
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode as OtlpStatus;
use serde_json::Value;
use support::academy::Academy;
use support::otlp::{Receiver, attr_int, attr_str, wait_for};

const ABANDONED: u64 = 6;
const COMPLETED: u64 = 3;
/// The client's patience: far below the handler's 2 s.
const CLIENT_TIMEOUT: Duration = Duration::from_millis(300);
const WAIT: Duration = Duration::from_secs(20);

/// `ABANDONED` clients give up on a 2 s request after 300 ms; `COMPLETED` others get a fast
/// answer on the same route.
async fn abandon_slow_requests(app: &Academy) {
    let impatient = reqwest::Client::builder()
        .timeout(CLIENT_TIMEOUT)
        .build()
        .unwrap();
    let slow = app.url("/api/simulate?latency_ms=2000");
    let tasks: Vec<_> = (0..ABANDONED)
        .map(|_| {
            let (client, url) = (impatient.clone(), slow.clone());
            tokio::spawn(async move { client.get(url).send().await })
        })
        .collect();
    for t in tasks {
        let err = t.await.unwrap().expect_err("the client must time out");
        assert!(err.is_timeout(), "{err}");
    }
    let client = reqwest::Client::new();
    for _ in 0..COMPLETED {
        let r = client
            .get(app.url("/api/simulate?latency_ms=5"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
}

fn blocking_get(url: String) -> Option<String> {
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .ok()?;
        rt.block_on(async { reqwest::get(url).await.ok()?.text().await.ok() })
    })
    .join()
    .ok()?
}

/// The route's 1-minute figures once all requests are in.
async fn route_metrics(app: &Academy) -> Value {
    let url = app.url("/health/metrics?window=1m&route=/api/simulate");
    wait_for("every request in the route's 1m window", WAIT, || {
        let body: Value = serde_json::from_str(&blocking_get(url.clone())?).ok()?;
        (body["metrics"]["requests"] == ABANDONED + COMPLETED).then_some(body)
    })
    .await
}

fn access_lines(app: &Academy) -> Vec<Value> {
    app.json_lines()
        .into_iter()
        .filter(|l| l["target"] == "pulsecheck::access" && l["url.path"] == "/api/simulate")
        .collect()
}

fn is_simulate_span(s: &Span) -> bool {
    attr_str(&s.attributes, "http.route") == Some("/api/simulate")
}

/// The newest cumulative point of the duration histogram matching `pick`.
fn duration_point(
    rx: &Receiver,
    pick: impl Fn(&HistogramDataPoint) -> bool,
) -> Option<HistogramDataPoint> {
    use opentelemetry_proto::tonic::metrics::v1::metric::Data;
    rx.store
        .metrics()
        .into_iter()
        .filter(|m| m.name == "http.server.request.duration")
        .filter_map(|m| match m.data {
            Some(Data::Histogram(h)) => Some(h.data_points),
            _ => None,
        })
        .flatten()
        .filter(|p| attr_str(&p.attributes, "http.route") == Some("/api/simulate"))
        .filter(|p| pick(p))
        .last()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abandoned_requests_are_recorded_as_499_everywhere_once() {
    let rx = Receiver::start().await;
    let endpoint = rx.endpoint("grpc");
    let app = Academy::spawn(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ("OTEL_METRIC_EXPORT_INTERVAL", "300"),
    ]);
    abandon_slow_requests(&app).await;

    // The aggregator: its own status code, a cancelled count, latency up to the hang-up, and
    // an error by default (a request the client gave up on was not served).
    let body = route_metrics(&app).await;
    let m = &body["metrics"];
    assert_eq!(m["status_codes"]["499"], ABANDONED, "{m}");
    assert_eq!(m["status_codes"]["200"], COMPLETED, "{m}");
    assert_eq!(m["cancelled"], ABANDONED, "{m}");
    assert_eq!(m["errors"], ABANDONED, "{m}");
    let max = m["latency_ms"]["max"].as_f64().unwrap();
    assert!(
        (250.0..1900.0).contains(&max),
        "an abandoned request lasts until the hang-up (~300 ms), not the handler's 2 s: max {max}"
    );
    let service: Value = app.get_json("/health/metrics?window=1m").await;
    assert!(
        service["cancelled"].as_u64() >= Some(ABANDONED),
        "{service}"
    );

    // /metrics: the 499 counter and the histogram count every request once.
    let text = reqwest::get(app.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let sample = |prefix: &str| -> Option<f64> {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
    };
    let route = r#"http_route="/api/simulate",http_request_method="GET""#;
    assert_eq!(
        sample(&format!(
            r#"pulsecheck_http_server_requests_total{{{route},http_response_status_code="499"}}"#
        )),
        Some(ABANDONED as f64),
        "{text}"
    );
    assert_eq!(
        sample(&format!(
            "pulsecheck_http_server_request_duration_seconds_count{{{route}}}"
        )),
        Some((ABANDONED + COMPLETED) as f64),
        "{text}"
    );

    // One access line per request: the abandoned ones at WARN, saying so.
    let lines = access_lines(&app);
    assert_eq!(lines.len() as u64, ABANDONED + COMPLETED, "{lines:#?}");
    let cancelled: Vec<_> = lines
        .iter()
        .filter(|l| l["http.response.status_code"] == 499)
        .collect();
    assert_eq!(cancelled.len() as u64, ABANDONED, "{lines:#?}");
    for l in &cancelled {
        assert_eq!(l["message"], "request cancelled", "{l}");
        assert_eq!(l["level"], "WARN", "{l}");
        assert_eq!(l["error.class"], "cancelled", "{l}");
        assert_eq!(l["error.type"], "cancelled", "{l}");
        assert_eq!(l["http.route"], "/api/simulate", "{l}");
        assert!(l["duration_ms"].as_f64().is_some_and(|d| d >= 250.0), "{l}");
        assert_eq!(l["trace_id"].as_str().map(str::len), Some(32), "{l}");
    }

    // The server span: ended at the hang-up, error.type set, no response status code.
    let spans = wait_for("a server span per request", WAIT, || {
        let s: Vec<Span> = rx
            .store
            .spans()
            .into_iter()
            .filter(is_simulate_span)
            .collect();
        (s.len() as u64 >= ABANDONED + COMPLETED).then_some(s)
    })
    .await;
    assert_eq!(spans.len() as u64, ABANDONED + COMPLETED);
    let abandoned: Vec<&Span> = spans
        .iter()
        .filter(|s| attr_str(&s.attributes, "error.type") == Some("cancelled"))
        .collect();
    assert_eq!(abandoned.len() as u64, ABANDONED);
    for s in &abandoned {
        assert_eq!(attr_int(&s.attributes, "http.response.status_code"), None);
        assert_eq!(
            attr_str(&s.attributes, "pulsecheck.error.class"),
            Some("cancelled")
        );
        assert_eq!(
            s.status.as_ref().map(|st| st.code),
            Some(OtlpStatus::Error as i32)
        );
        let ms = (s.end_time_unix_nano - s.start_time_unix_nano) as f64 / 1e6;
        assert!((250.0..1900.0).contains(&ms), "span lasted {ms} ms");
    }

    // The duration metric: a point with error.type and no status code.
    let point = wait_for("the cancelled duration point", WAIT, || {
        duration_point(&rx, |p| {
            attr_str(&p.attributes, "error.type") == Some("cancelled") && p.count >= ABANDONED
        })
    })
    .await;
    assert_eq!(point.count, ABANDONED);
    assert_eq!(
        attr_int(&point.attributes, "http.response.status_code"),
        None
    );
    let ok = duration_point(&rx, |p| {
        attr_int(&p.attributes, "http.response.status_code") == Some(200)
    })
    .expect("the completed requests' point");
    assert_eq!(ok.count, COMPLETED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn count_cancelled_false_keeps_them_out_of_the_error_rate() {
    let dir = std::env::temp_dir().join(format!("pulse-cancel-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("pulsecheck.toml");
    std::fs::write(&config, "[errors]\ncount_cancelled = false\n").unwrap();
    let app = Academy::spawn(&[("PULSE_CONFIG", config.to_str().unwrap())]);
    abandon_slow_requests(&app).await;
    let body = route_metrics(&app).await;
    let m = &body["metrics"];
    assert_eq!(m["cancelled"], ABANDONED, "{m}");
    assert_eq!(m["status_codes"]["499"], ABANDONED, "{m}");
    assert_eq!(m["errors"], 0, "{m}");
    // Latency still counts them.
    assert!(m["latency_ms"]["max"].as_f64().unwrap() >= 250.0, "{m}");
    let _ = std::fs::remove_dir_all(&dir);
}
