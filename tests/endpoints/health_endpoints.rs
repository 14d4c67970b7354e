//! `/health`, `/health/live`, `/health/ready` and `/health/detailed` through the real router,
//! and the graceful drain through a real server.

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::{Request, StatusCode};
use http_body_util::BodyExt as _;
use pulsecheck::Pulse;
use pulsecheck::health::{Check, CheckError, CheckExt, Observation};
use serde_json::Value;
use support::pulse::app;
use tower::ServiceExt as _;

#[derive(Clone)]
struct Switch {
    name: &'static str,
    failing: Arc<AtomicBool>,
    error: &'static str,
}

impl Check for Switch {
    fn name(&self) -> Cow<'static, str> {
        self.name.into()
    }
    async fn check(&self) -> Result<Observation, CheckError> {
        if self.failing.load(Ordering::SeqCst) {
            Err(CheckError::new(self.error))
        } else {
            Ok(Observation::pass()
                .measured("connections", 4, None)
                .detail("pool_size", 10))
        }
    }
}

fn switch(name: &'static str, failing: bool) -> Switch {
    Switch {
        name,
        failing: Arc::new(AtomicBool::new(failing)),
        error: "connection refused",
    }
}

fn pulse(checks: Vec<pulsecheck::health::Registration>) -> Pulse {
    let mut b = support::pulse::builder()
        .service_version("1.2.3")
        .drain_delay(Duration::from_millis(300));
    for c in checks {
        b = b.check(c);
    }
    b.build().expect("pulse")
}

async fn get_json(app: &Router, path: &str) -> (StatusCode, http::HeaderMap, Value) {
    let resp = app
        .clone()
        .oneshot(Request::get(path).body(Body::empty()).expect("request"))
        .await
        .expect("response");
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    let body = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
        panic!(
            "{path}: not JSON ({e}): {}",
            String::from_utf8_lossy(&bytes)
        )
    });
    (status, headers, body)
}

#[tokio::test]
async fn non_critical_failure_is_degraded_with_200() {
    let p = pulse(vec![
        switch("db", false).critical(),
        switch("mail", true).non_critical(),
    ]);
    let (status, headers, body) = get_json(&app(&p), "/health").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(body["status"], "degraded");
    assert_eq!(body["version"], "1.2.3");
    assert_eq!(body["cached"], false);
    assert!(body["uptime_s"].is_u64() && body["age_ms"].is_u64());
    let db = &body["checks"]["db"];
    assert_eq!(db["status"], "up");
    assert_eq!(db["critical"], true);
    assert_eq!(db["circuit"], "closed");
    assert!(db["latency_ms"].is_f64() && db["error"].is_null(), "{db}");
    let mail = &body["checks"]["mail"];
    assert_eq!(mail["status"], "down");
    assert_eq!(mail["error"], "connection refused");
    // Second call within the TTL of the success; the failure's TTL (5 s) too.
    let (_, _, again) = get_json(&app(&p), "/health").await;
    assert_eq!(again["cached"], true);
    let (ready, _, _) = get_json(&app(&p), "/health/ready").await;
    assert_eq!(
        ready,
        StatusCode::OK,
        "non-critical failures keep the service ready"
    );
}

#[tokio::test]
async fn critical_failure_is_unhealthy_not_ready_but_live() {
    let p = pulse(vec![
        switch("db", true).critical(),
        switch("cache", false).into(),
    ]);
    let app = app(&p);
    let (status, _, body) = get_json(&app, "/health").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["status"], "unhealthy");
    let (status, headers, body) = get_json(&app, "/health/ready").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(body["status"], "not_ready");
    assert_eq!(body["reason"], "critical checks failing");
    assert_eq!(body["checks"], serde_json::json!(["db"]));
    let (status, _, body) = get_json(&app, "/health/live").await;
    assert_eq!(
        status,
        StatusCode::OK,
        "liveness never depends on dependencies"
    );
    assert_eq!(body["status"], "up");
}

#[tokio::test]
async fn detailed_is_health_json() {
    let p = pulse(vec![
        switch("db", false).critical(),
        switch("mail", true).non_critical(),
    ]);
    let app = app(&p);
    let (status, headers, body) = get_json(&app, "/health/detailed").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "application/health+json");
    assert_eq!(body["status"], "warn");
    let checks = body["checks"].as_object().expect("checks");
    for key in checks.keys() {
        assert!(checks[key].is_array(), "{key} is an array");
    }
    let rt = &body["checks"]["db:responseTime"][0];
    assert_eq!(rt["status"], "pass");
    assert_eq!(rt["observedUnit"], "ms");
    assert_eq!(rt["componentType"], "component");
    assert!(rt.get("output").is_none(), "no output on pass");
    assert!(
        humantime::parse_rfc3339(rt["time"].as_str().expect("time")).is_ok(),
        "{rt}"
    );
    assert_eq!(rt["details"]["pool_size"], 10);
    assert_eq!(body["checks"]["db:connections"][0]["observedValue"], 4);
    let mail = &body["checks"]["mail:responseTime"][0];
    assert_eq!(mail["status"], "fail");
    assert_eq!(mail["output"], "connection refused");
    assert_eq!(body["checks"]["uptime"][0]["observedUnit"], "s");

    let failing = pulse(vec![switch("db", true).critical()]);
    let (status, _, body) = get_json(&self::app(&failing), "/health/detailed").await;
    assert_eq!(
        status,
        StatusCode::SERVICE_UNAVAILABLE,
        "fail never comes with 2xx"
    );
    assert_eq!(body["status"], "fail");
    assert_eq!(body["output"], "critical checks failing: db");
}

#[tokio::test]
async fn credentials_in_errors_never_reach_the_output() {
    let mut leaky = switch("db", true);
    leaky.error = "error connecting to postgres://app:hunter2@10.0.0.1:5432/prod?password=hunter3 (token: abc.def)";
    let p = pulse(vec![leaky.critical()]);
    let app = app(&p);
    for path in ["/health", "/health/detailed", "/health/ready"] {
        let resp = app
            .clone()
            .oneshot(Request::get(path).body(Body::empty()).expect("request"))
            .await
            .expect("response");
        let bytes = resp.into_body().collect().await.expect("body").to_bytes();
        let text = String::from_utf8_lossy(&bytes);
        for secret in ["hunter2", "hunter3", "abc.def"] {
            assert!(!text.contains(secret), "{path} leaked {secret}: {text}");
        }
    }
}

#[tokio::test]
async fn shutdown_turns_readiness_503_at_once_and_keeps_liveness() {
    let p = pulse(vec![switch("db", false).critical()]);
    let app = app(&p);
    assert_eq!(get_json(&app, "/health/ready").await.0, StatusCode::OK);
    p.begin_shutdown();
    let (status, _, body) = get_json(&app, "/health/ready").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["reason"], "shutting down");
    assert_eq!(get_json(&app, "/health/live").await.0, StatusCode::OK);
    assert!(!p.health().serving().ready);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_finishes_in_flight_requests_then_stops_accepting() {
    let p = pulse(vec![switch("db", false).critical()]);
    let app = Router::new()
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(600)).await;
                "done"
            }),
        )
        .merge(p.routes())
        .layer(p.layer());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(
        axum::serve(listener, app)
            .with_graceful_shutdown(p.shutdown_signal())
            .into_future(),
    );
    let client = reqwest::Client::new();
    let base = format!("http://{addr}");
    assert_eq!(
        client
            .get(format!("{base}/health/ready"))
            .send()
            .await
            .expect("ready")
            .status(),
        200
    );
    let mut slow = Vec::new();
    for _ in 0..20 {
        let c = client.clone();
        let url = format!("{base}/slow");
        slow.push(tokio::spawn(async move { c.get(url).send().await }));
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    p.begin_shutdown();
    // During the drain delay the server still accepts, and readiness says 503.
    let ready = reqwest::Client::new()
        .get(format!("{base}/health/ready"))
        .send()
        .await
        .expect("still accepting during the drain delay");
    assert_eq!(ready.status(), 503);
    for s in slow {
        let resp = s.await.expect("task").expect("in-flight request completed");
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.text().await.expect("body"), "done");
    }
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("server stopped after the drain")
        .expect("task")
        .expect("serve");
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "no longer accepting"
    );
    p.shutdown().await.expect("flush");
}

#[test]
fn a_bad_drain_delay_is_a_clear_error() {
    // SAFETY: nextest runs each test in its own process; no other thread reads the
    // environment concurrently.
    unsafe { std::env::set_var("PULSE_DRAIN_DELAY", "soon") };
    let err = Pulse::builder()
        .without_telemetry()
        .build()
        .expect_err("rejected");
    assert!(
        err.to_string().contains("PULSE_DRAIN_DELAY=\"soon\""),
        "{err}"
    );
}

#[tokio::test]
async fn the_prometheus_route_can_be_left_to_the_service() {
    let p = Pulse::builder()
        .without_telemetry()
        .prometheus_route(false)
        .build()
        .expect("pulse");
    // The service's own /metrics merges without a route conflict (axum panics on one).
    let app = Router::new()
        .route("/metrics", get(|| async { "own metrics" }))
        .merge(p.routes())
        .layer(p.layer());
    let resp = app
        .clone()
        .oneshot(
            Request::get("/metrics")
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("response");
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    assert_eq!(&bytes[..], b"own metrics");
    assert_eq!(get_json(&app, "/health/live").await.0, StatusCode::OK);
}
