//! The audit trail (`pulsecheck::audit`): hostile headers and oversized requests are reported
//! without what the client sent, and a flood of bad requests yields a bounded number of events
//! whose `suppressed` counts account for every dropped one.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::routing::{get, post};
use http::{Request, StatusCode};
use pulsecheck::Pulse;
use pulsecheck::layer::PulseLayer;
use pulsecheck::layer::audit::AuditLog;
use serde_json::Value;
use support::logs::{Capture, capture_logs};
use tower::ServiceExt as _;

/// The audit trail's lines among everything logged.
fn audit(logs: &Capture) -> Vec<Value> {
    logs.lines()
        .into_iter()
        .filter(|l| l["target"] == "pulsecheck::audit")
        .collect()
}

#[tokio::test]
async fn a_flood_of_bad_credentials_gives_a_bounded_number_of_events_accounting_for_all() {
    let (logs, _guard) = capture_logs();
    let (rate, burst) = (10u32, 20u32);
    let p = Pulse::builder()
        .without_telemetry()
        .layer(PulseLayer::new().audit_log(AuditLog::new(rate, burst)))
        .admin_token("flood-test-token-0123456789")
        .build()
        .expect("pulse");
    let app = Router::new().merge(p.routes()).layer(p.layer());

    const FLOOD: usize = 10_000;
    let start = Instant::now();
    for i in 0..FLOOD {
        let mut req = Request::get("/health/metrics");
        if i % 2 == 0 {
            req = req.header("authorization", format!("Bearer guess-{i}"));
        }
        let resp = app
            .clone()
            .oneshot(req.body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    }
    let elapsed = start.elapsed().as_secs_f64();

    let events = audit(&logs);
    // Two kinds (missing, invalid), each at most its burst plus its rate over the flood.
    let bound = 2 * (burst as usize + (f64::from(rate) * elapsed).ceil() as usize + 1);
    assert!(
        events.len() <= bound,
        "{} audit events for {FLOOD} bad requests in {elapsed:.2} s (bound {bound})",
        events.len()
    );
    assert!(
        events.len() >= 2 * burst as usize,
        "{} events",
        events.len()
    );
    assert!(
        events.iter().any(|e| e["suppressed"].as_u64() > Some(0)),
        "no event reported suppressed ones"
    );

    // One more of each kind once the buckets refill: it carries the rest of the count.
    tokio::time::sleep(Duration::from_millis(1000 / u64::from(rate) + 50)).await;
    for auth in [None, Some("Bearer last-guess")] {
        let mut req = Request::get("/health/metrics");
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        app.clone()
            .oneshot(req.body(Body::empty()).unwrap())
            .await
            .unwrap();
    }
    let events = audit(&logs);
    for kind in ["auth.missing", "auth.invalid"] {
        let of_kind: Vec<&Value> = events.iter().filter(|e| e["audit.event"] == kind).collect();
        let written = of_kind.len() as u64;
        let suppressed: u64 = of_kind
            .iter()
            .map(|e| e["suppressed"].as_u64().unwrap())
            .sum();
        assert_eq!(
            written + suppressed,
            FLOOD as u64 / 2 + 1,
            "{kind}: {written} written + {suppressed} suppressed"
        );
    }
    assert!(
        !logs.text().contains("guess-"),
        "a presented token reached the log"
    );
}

#[tokio::test]
async fn a_hostile_request_id_is_audited_by_name_and_length_only() {
    let (logs, _guard) = capture_logs();
    let app = Router::new()
        .route("/api/things", get(|| async { "things" }))
        .layer(PulseLayer::new());
    let hostile = format!("{}\",\"level\":\"ERROR", "A".repeat(300));
    let resp = app
        .clone()
        .oneshot(
            Request::get("/api/things")
                .header("x-request-id", hostile.as_str())
                // Not believed: no proxy is trusted by default.
                .header("x-forwarded-for", "203.0.113.9")
                .extension(axum::extract::ConnectInfo(std::net::SocketAddr::from((
                    [192, 0, 2, 44],
                    40000,
                ))))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let fresh = resp.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(fresh.len(), 36);

    // A valid id and no id are not events.
    for id in [Some("good-id-1"), None] {
        let mut req = Request::get("/api/things");
        if let Some(id) = id {
            req = req.header("x-request-id", id);
        }
        app.clone()
            .oneshot(req.body(Body::empty()).unwrap())
            .await
            .unwrap();
    }

    let events = audit(&logs);
    assert_eq!(events.len(), 1, "{events:#?}");
    let e = &events[0];
    assert_eq!(e["level"], "WARN");
    assert_eq!(e["audit.event"], "header.rejected");
    assert_eq!(e["message"], "hostile header rejected");
    assert_eq!(e["http.header"], "x-request-id");
    assert_eq!(e["header.length"], hostile.len());
    assert_eq!(e["url.path"], "/api/things");
    assert_eq!(e["client.address"], "192.0.2.44");
    assert_eq!(e["network.peer.address"], "192.0.2.44");
    // Correlated with the request through its fresh id.
    assert_eq!(e["request_id"], fresh.as_str());
    assert!(
        !logs.text().contains("AAAAAAAAAA"),
        "the hostile value reached the log"
    );
}

fn upload_app(layer: PulseLayer, calls: Arc<AtomicUsize>) -> Router {
    Router::new()
        .route(
            "/upload",
            post(move || {
                calls.fetch_add(1, Ordering::SeqCst);
                async { "stored" }
            }),
        )
        .layer(layer)
}

fn upload(declared: u64) -> Request<Body> {
    // The declared length is what the layer sees; the body is never read by this handler.
    Request::post("/upload")
        .header("content-length", declared)
        .body(Body::empty())
        .unwrap()
}

#[tokio::test]
async fn oversized_requests_are_logged_and_refused_only_when_configured() {
    let (logs, _guard) = capture_logs();
    let calls = Arc::new(AtomicUsize::new(0));
    let big = 3 * 1024 * 1024;

    // Default: over 2 MiB is logged, and served.
    let app = upload_app(PulseLayer::new(), calls.clone());
    let resp = app.clone().oneshot(upload(big)).await.unwrap();
    assert_eq!(resp.status(), 200);
    let resp = app.clone().oneshot(upload(1024)).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    let events = audit(&logs);
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(events[0]["audit.event"], "request.oversized");
    assert_eq!(events[0]["content_length"], big);
    assert_eq!(events[0]["limit"], 2 * 1024 * 1024);
    assert_eq!(events[0]["rejected"], false);

    // Configured to refuse: 413 without calling the handler, still with the request id.
    let app = upload_app(
        PulseLayer::new()
            .max_request_bytes(Some(1000))
            .reject_oversized(true),
        calls.clone(),
    );
    let resp = app.clone().oneshot(upload(1001)).await.unwrap();
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(resp.headers().contains_key("x-request-id"));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    let resp = app.clone().oneshot(upload(1000)).await.unwrap();
    assert_eq!(resp.status(), 200);
    let events = audit(&logs);
    assert_eq!(events.len(), 2, "{events:#?}");
    assert_eq!(events[1]["rejected"], true);
    assert_eq!(events[1]["limit"], 1000);

    // Turned off: nothing.
    let app = upload_app(PulseLayer::new().max_request_bytes(None), calls.clone());
    app.clone().oneshot(upload(big)).await.unwrap();
    assert_eq!(audit(&logs).len(), 2);
}
