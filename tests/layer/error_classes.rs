//! Failed requests are classified (client error, server error, timeout, dependency failure,
//! panic): one access-log line per request at the class's level with `error.class` and
//! `error.type`, and the class on the server span. Logs through pulsecheck's JSON formatter
//! into memory, spans through the SDK's in-memory exporter.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{Request, StatusCode};
use opentelemetry::Value;
use opentelemetry::trace::{SpanKind, Status, TracerProvider as _};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use pulsecheck::layer::{DependencyFailure, PulseLayer};
use serde_json::Value as Json;
use support::logs::Capture;
use tower::{BoxError, ServiceBuilder, ServiceExt as _};
use tracing_subscriber::layer::SubscriberExt as _;

/// pulsecheck's own lines since the last call; the SDK's internal debug logs are not the subject.
fn own_lines(logs: &Capture) -> Vec<Json> {
    logs.take()
        .into_iter()
        .filter(|l| {
            l["target"]
                .as_str()
                .is_some_and(|t| t.starts_with("pulsecheck"))
        })
        .collect()
}

struct Harness {
    logs: Capture,
    spans: InMemorySpanExporter,
    provider: SdkTracerProvider,
    _guard: tracing::subscriber::DefaultGuard,
}

impl Harness {
    fn new() -> Self {
        let logs = Capture::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::registry()
            .with(pulsecheck::telemetry::log_layer(
                pulsecheck::telemetry::LogFormat::Json,
                move || writer.clone(),
            ))
            .with(tracing_subscriber::filter::LevelFilter::TRACE);
        let spans = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(spans.clone())
            .build();
        Self {
            logs,
            spans,
            provider,
            _guard: tracing::subscriber::set_default(subscriber),
        }
    }

    fn layer(&self) -> PulseLayer {
        PulseLayer::new().tracer(self.provider.tracer("pulsecheck"))
    }

    /// The server spans finished since the last call.
    fn take_spans(&self) -> Vec<SpanData> {
        let _ = self.provider.force_flush();
        let spans = self.spans.get_finished_spans().unwrap();
        self.spans.reset();
        spans
            .into_iter()
            .filter(|s| s.span_kind == SpanKind::Server)
            .collect()
    }
}

fn attr<'a>(span: &'a SpanData, key: &str) -> Option<&'a Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| &kv.value)
}

fn marked(status: StatusCode, dependency: &'static str) -> Response {
    let mut r = status.into_response();
    r.extensions_mut().insert(DependencyFailure(dependency));
    r
}

async fn panics() -> &'static str {
    panic!("classified panic")
}

fn app(layer: PulseLayer) -> Router {
    Router::new()
        .route("/ok", get(|| async { "ok" }))
        .route("/missing", get(|| async { StatusCode::NOT_FOUND }))
        .route(
            "/client-slow",
            get(|| async { StatusCode::REQUEST_TIMEOUT }),
        )
        .route(
            "/gateway-timeout",
            get(|| async { StatusCode::GATEWAY_TIMEOUT }),
        )
        .route("/bad-gateway", get(|| async { StatusCode::BAD_GATEWAY }))
        .route(
            "/unavailable",
            get(|| async { StatusCode::SERVICE_UNAVAILABLE }),
        )
        .route("/boom", get(|| async { StatusCode::INTERNAL_SERVER_ERROR }))
        .route(
            "/db",
            get(|| async { marked(StatusCode::INTERNAL_SERVER_ERROR, "postgres") }),
        )
        .route("/stale", get(|| async { marked(StatusCode::OK, "redis") }))
        .route("/panic", get(panics))
        .route("/health", get(|| async { StatusCode::SERVICE_UNAVAILABLE }))
        .route(
            "/metrics",
            get(|| async { StatusCode::INTERNAL_SERVER_ERROR }),
        )
        .layer(layer)
}

struct Expect {
    path: &'static str,
    status: u16,
    level: &'static str,
    class: Option<&'static str>,
    /// `error.type` in the log line.
    log_type: Option<&'static str>,
    /// `error.type` on the span (semantic conventions: 5xx only on servers).
    span_type: Option<&'static str>,
    dependency: Option<&'static str>,
}

const CASES: [Expect; 10] = [
    Expect {
        path: "/ok",
        status: 200,
        level: "INFO",
        class: None,
        log_type: None,
        span_type: None,
        dependency: None,
    },
    Expect {
        path: "/missing",
        status: 404,
        level: "INFO",
        class: Some("client_error"),
        log_type: Some("404"),
        span_type: None,
        dependency: None,
    },
    Expect {
        path: "/client-slow",
        status: 408,
        level: "WARN",
        class: Some("timeout"),
        log_type: Some("408"),
        span_type: None,
        dependency: None,
    },
    Expect {
        path: "/gateway-timeout",
        status: 504,
        level: "WARN",
        class: Some("timeout"),
        log_type: Some("504"),
        span_type: Some("504"),
        dependency: None,
    },
    Expect {
        path: "/bad-gateway",
        status: 502,
        level: "WARN",
        class: Some("dependency_failure"),
        log_type: Some("502"),
        span_type: Some("502"),
        dependency: None,
    },
    Expect {
        path: "/unavailable",
        status: 503,
        level: "WARN",
        class: Some("dependency_failure"),
        log_type: Some("503"),
        span_type: Some("503"),
        dependency: None,
    },
    Expect {
        path: "/boom",
        status: 500,
        level: "ERROR",
        class: Some("server_error"),
        log_type: Some("500"),
        span_type: Some("500"),
        dependency: None,
    },
    Expect {
        path: "/db",
        status: 500,
        level: "WARN",
        class: Some("dependency_failure"),
        log_type: Some("500"),
        span_type: Some("500"),
        dependency: Some("postgres"),
    },
    Expect {
        path: "/stale",
        status: 200,
        level: "WARN",
        class: Some("dependency_failure"),
        log_type: Some("dependency_failure"),
        span_type: None,
        dependency: Some("redis"),
    },
    Expect {
        path: "/panic",
        status: 500,
        level: "ERROR",
        class: Some("panic"),
        log_type: Some("500"),
        span_type: Some("500"),
        dependency: None,
    },
];

#[tokio::test]
async fn each_class_is_logged_once_at_its_level_and_marked_on_the_span() {
    let h = Harness::new();
    let app = app(h.layer());
    for e in &CASES {
        let resp = app
            .clone()
            .oneshot(Request::get(e.path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), e.status, "{}", e.path);

        let lines = own_lines(&h.logs);
        assert_eq!(
            lines.len(),
            1,
            "{}: one line per request, got {lines:#?}",
            e.path
        );
        let l = &lines[0];
        assert_eq!(l["target"], "pulsecheck::access", "{l}");
        assert_eq!(l["level"], e.level, "{}: {l}", e.path);
        assert_eq!(l["http.response.status_code"], e.status, "{l}");
        match e.class {
            None => {
                assert_eq!(l["message"], "request completed");
                assert!(
                    l.get("error.class").is_none() && l.get("error.type").is_none(),
                    "{l}"
                );
            }
            Some(class) => {
                assert_eq!(l["message"], "request failed", "{l}");
                assert_eq!(l["error.class"], class, "{l}");
                assert_eq!(l["error.type"], e.log_type.unwrap(), "{l}");
                assert_eq!(l["url.path"], e.path, "{l}");
            }
        }
        assert_eq!(
            l.get("dependency").and_then(Json::as_str),
            e.dependency,
            "{l}"
        );
        if e.class == Some("panic") {
            assert_eq!(l["panic.message"], "classified panic", "{l}");
        }

        let spans = h.take_spans();
        assert_eq!(spans.len(), 1, "{}", e.path);
        let span = &spans[0];
        assert_eq!(
            attr(span, "pulsecheck.error.class"),
            e.class.map(Value::from).as_ref(),
            "{}",
            e.path
        );
        assert_eq!(
            attr(span, "error.type"),
            e.span_type.map(Value::from).as_ref(),
            "{}",
            e.path
        );
        assert_eq!(
            matches!(span.status, Status::Error { .. }),
            e.span_type.is_some(),
            "{}: span status {:?}",
            e.path,
            span.status
        );
        assert_eq!(
            attr(span, "pulsecheck.dependency"),
            e.dependency.map(Value::from).as_ref(),
            "{}",
            e.path
        );
    }
}

#[tokio::test]
async fn probe_paths_log_only_the_service_own_failures() {
    let h = Harness::new();
    let app = app(h.layer());
    // An unhealthy `/health` answers 503 to every probe: not worth a line each time.
    let resp = app
        .clone()
        .oneshot(Request::get("/health").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    assert_eq!(own_lines(&h.logs), Vec::<Json>::new());
    // A 500 from `/metrics` is a bug in the service: logged even on a quiet path.
    let resp = app
        .clone()
        .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), 500);
    let lines = own_lines(&h.logs);
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert_eq!(lines[0]["level"], "ERROR");
    assert_eq!(lines[0]["error.class"], "server_error");
    assert_eq!(lines[0]["http.route"], "/metrics");
}

#[tokio::test]
async fn a_tower_timeout_error_is_a_timeout_with_error_type_timeout() {
    let h = Harness::new();
    let svc = ServiceBuilder::new()
        .layer(h.layer())
        .timeout(Duration::from_millis(20))
        .service_fn(|_req: Request<Body>| async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Ok::<_, BoxError>(http::Response::new(Body::empty()))
        });
    let err = svc
        .oneshot(Request::get("/slow").body(Body::empty()).unwrap())
        .await
        .expect_err("the timeout fires");
    assert!(err.is::<tower::timeout::error::Elapsed>());

    let lines = own_lines(&h.logs);
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert_eq!(lines[0]["level"], "WARN");
    assert_eq!(lines[0]["error.class"], "timeout");
    assert_eq!(lines[0]["error.type"], "timeout");
    let spans = h.take_spans();
    assert_eq!(attr(&spans[0], "error.type"), Some(&Value::from("timeout")));
    assert_eq!(
        attr(&spans[0], "pulsecheck.error.class"),
        Some(&Value::from("timeout"))
    );

    // Any other error from the inner service is a server error, `_OTHER` (as before).
    let svc = ServiceBuilder::new()
        .layer(h.layer())
        .service_fn(|_req: Request<Body>| async {
            Err::<http::Response<Body>, BoxError>("connection reset".into())
        });
    svc.oneshot(Request::get("/reset").body(Body::empty()).unwrap())
        .await
        .expect_err("inner error");
    let lines = own_lines(&h.logs);
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert_eq!(lines[0]["level"], "ERROR");
    assert_eq!(lines[0]["error.class"], "server_error");
    assert_eq!(lines[0]["error.type"], "_OTHER");
}
