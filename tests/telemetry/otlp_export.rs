//! The academy example exports traces, metrics and logs to a real OTLP receiver over gRPC and
//! HTTP/protobuf, and every signal carries the same correlation.

use std::time::Duration;

use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode as OtlpStatus;
use support::academy::Academy;
use support::otlp::{Receiver, attr, attr_int, attr_str, hex, wait_for};

const PARENT_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_SPAN: &str = "00f067aa0ba902b7";
const WAIT: Duration = Duration::from_secs(20);

async fn exports_over(protocol: &str, compression: Option<&str>) {
    let rx = Receiver::start().await;
    let endpoint = rx.endpoint(protocol);
    let mut envs = vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ("OTEL_BLRP_SCHEDULE_DELAY", "100"),
        ("OTEL_METRIC_EXPORT_INTERVAL", "300"),
        ("OTEL_SERVICE_NAME", "academy-under-test"),
        (
            "OTEL_RESOURCE_ATTRIBUTES",
            "deployment.environment.name=test",
        ),
    ];
    if let Some(c) = compression {
        envs.push(("OTEL_EXPORTER_OTLP_COMPRESSION", c));
    }
    let mut app = Academy::spawn(&envs);
    let client = reqwest::Client::new();

    let resp = client
        .get(app.url("/api/courses/2"))
        .header("traceparent", format!("00-{PARENT_TRACE}-{PARENT_SPAN}-01"))
        .header("x-request-id", "req-e2e-1")
        .header("user-agent", "pulsecheck-test/1")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-request-id"], "req-e2e-1");
    assert_eq!(resp.headers()["x-trace-id"], PARENT_TRACE);
    let traceresponse = resp.headers()["traceresponse"].to_str().unwrap().to_owned();
    assert!(
        traceresponse.starts_with(&format!("00-{PARENT_TRACE}-")),
        "{traceresponse}"
    );
    let server_span_id = traceresponse.split('-').nth(2).unwrap().to_owned();

    let failed = client
        .get(app.url("/api/simulate?status=503"))
        .send()
        .await
        .unwrap();
    assert_eq!(failed.status(), 503);
    let unmatched = client
        .get(app.url("/no/such/route/42"))
        .send()
        .await
        .unwrap();
    assert_eq!(unmatched.status(), 404);

    // The server span, with the inbound parent and the semantic-convention attributes.
    let span = wait_for("the server span of GET /api/courses/{id}", WAIT, || {
        rx.store
            .spans()
            .into_iter()
            .find(|s| s.name == "GET /api/courses/{id}")
    })
    .await;
    assert_eq!(span.kind, SpanKind::Server as i32);
    assert_eq!(hex(&span.trace_id), PARENT_TRACE);
    assert_eq!(hex(&span.parent_span_id), PARENT_SPAN);
    assert_eq!(hex(&span.span_id), server_span_id);
    let a = &span.attributes;
    assert_eq!(attr_str(a, "http.request.method"), Some("GET"));
    assert_eq!(attr_str(a, "url.path"), Some("/api/courses/2"));
    assert_eq!(attr_str(a, "url.scheme"), Some("http"));
    assert_eq!(attr_str(a, "http.route"), Some("/api/courses/{id}"));
    assert_eq!(attr_int(a, "http.response.status_code"), Some(200));
    assert_eq!(attr_str(a, "server.address"), Some("127.0.0.1"));
    assert_eq!(attr_int(a, "server.port"), Some(i64::from(app.addr.port())));
    assert_eq!(attr_str(a, "network.protocol.version"), Some("1.1"));
    assert_eq!(
        attr_str(a, "user_agent.original"),
        Some("pulsecheck-test/1")
    );
    assert_eq!(attr_str(a, "client.address"), Some("127.0.0.1"));
    assert_eq!(attr_str(a, "request.id"), Some("req-e2e-1"));
    assert!(attr(a, "error.type").is_none());
    assert_ne!(
        span.status.as_ref().map(|s| s.code),
        Some(OtlpStatus::Error as i32)
    );

    // The handler's own span (the database query) is a child of the server span.
    let child = wait_for("the handler's database span", WAIT, || {
        rx.store
            .spans()
            .into_iter()
            .find(|s| s.parent_span_id == span.span_id)
    })
    .await;
    assert_eq!(child.name, "SELECT academy_courses");
    assert_eq!(child.trace_id, span.trace_id);

    // 5xx: status Error with error.type; unmatched: named by method only, no route.
    let err_span = wait_for("the 503 span", WAIT, || {
        rx.store
            .spans()
            .into_iter()
            .find(|s| s.name == "GET /api/simulate")
    })
    .await;
    assert_eq!(
        err_span.status.as_ref().map(|s| s.code),
        Some(OtlpStatus::Error as i32)
    );
    assert_eq!(attr_str(&err_span.attributes, "error.type"), Some("503"));
    assert_eq!(
        attr_int(&err_span.attributes, "http.response.status_code"),
        Some(503)
    );
    let miss = wait_for("the unmatched span", WAIT, || {
        rx.store
            .spans()
            .into_iter()
            .find(|s| attr_str(&s.attributes, "url.path") == Some("/no/such/route/42"))
    })
    .await;
    assert_eq!(miss.name, "GET");
    assert!(attr(&miss.attributes, "http.route").is_none());
    assert_ne!(
        miss.status.as_ref().map(|s| s.code),
        Some(OtlpStatus::Error as i32),
        "4xx must leave the server span status unset"
    );

    // Resource attributes.
    let res = rx.store.span_resource();
    assert_eq!(attr_str(&res, "service.name"), Some("academy-under-test"));
    assert_eq!(
        attr_str(&res, "service.version"),
        Some(env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(attr_str(&res, "deployment.environment.name"), Some("test"));
    assert!(attr_str(&res, "host.name").is_some());
    assert_eq!(attr_int(&res, "process.pid"), Some(i64::from(app.pid())));

    // The access log record of that request, joined to the trace and the request id.
    let log = wait_for("the access log record", WAIT, || {
        rx.store.log_records().into_iter().find(|l| {
            attr_str(&l.attributes, "request.id") == Some("req-e2e-1")
                && hex(&l.trace_id) == PARENT_TRACE
        })
    })
    .await;
    assert_eq!(hex(&log.span_id), server_span_id);
    assert_eq!(
        attr_int(&log.attributes, "http.response.status_code"),
        Some(200)
    );

    // Metrics: the duration histogram by route template, never by path or request id.
    let point = wait_for(
        "an http.server.request.duration point for the route",
        WAIT,
        || {
            rx.store
                .metrics()
                .into_iter()
                .filter(|m| m.name == "http.server.request.duration")
                .find_map(|m| {
                    use opentelemetry_proto::tonic::metrics::v1::metric::Data;
                    assert_eq!(m.unit, "s");
                    match m.data {
                        Some(Data::Histogram(h)) => h.data_points.into_iter().find(|p| {
                            attr_str(&p.attributes, "http.route") == Some("/api/courses/{id}")
                        }),
                        other => panic!("duration is not a histogram: {other:?}"),
                    }
                })
        },
    )
    .await;
    assert_eq!(point.count, 1);
    assert_eq!(
        attr_int(&point.attributes, "http.response.status_code"),
        Some(200)
    );
    assert_eq!(
        attr_str(&point.attributes, "http.request.method"),
        Some("GET")
    );
    assert_eq!(point.explicit_bounds.first(), Some(&0.005));
    assert_eq!(point.explicit_bounds.last(), Some(&10.0));
    for forbidden in [
        "url.path",
        "request.id",
        "user_agent.original",
        "client.address",
    ] {
        assert!(
            attr(&point.attributes, forbidden).is_none(),
            "{forbidden} on a metric"
        );
    }
    wait_for("http.server.active_requests", WAIT, || {
        rx.store
            .metrics()
            .into_iter()
            .find(|m| m.name == "http.server.active_requests")
    })
    .await;

    // The stdout JSON line of the same request carries the same ids.
    let line = app
        .json_lines()
        .into_iter()
        .find(|l| l["request_id"] == "req-e2e-1" && l["message"] == "request completed")
        .expect("an access log line with the request id");
    assert_eq!(line["trace_id"], PARENT_TRACE);
    assert_eq!(line["span_id"], server_span_id.as_str());

    // Everything went over the requested transport, and SIGTERM flushes and exits cleanly.
    let (status, took) = app.terminate();
    assert!(status.success(), "exit status {status}");
    assert!(took < Duration::from_secs(10), "shutdown took {took:?}");
    let transport = if protocol == "grpc" { "grpc" } else { "http" };
    let requests = rx.store.requests();
    assert!(
        requests.iter().all(|(_, t, _)| *t == transport),
        "{requests:?}"
    );
    let encoding = compression.unwrap_or("identity");
    assert!(
        requests.iter().all(|(_, _, e)| e == encoding),
        "{requests:?}"
    );
    for signal in ["traces", "metrics", "logs"] {
        assert!(
            requests.iter().any(|(s, _, _)| *s == signal),
            "no {signal} received"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn academy_exports_all_signals_over_grpc() {
    exports_over("grpc", None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn academy_exports_all_signals_over_http_protobuf() {
    exports_over("http/protobuf", None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn academy_exports_gzip_compressed_over_http() {
    exports_over("http/protobuf", Some("gzip")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn academy_exports_gzip_compressed_over_grpc() {
    exports_over("grpc", Some("gzip")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_strict_log_filter_does_not_drop_request_spans() {
    let rx = Receiver::start().await;
    let endpoint = rx.endpoint("http/protobuf");
    let mut app = Academy::spawn(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ("RUST_LOG", "error,academy=info"),
    ]);
    let resp = reqwest::get(app.url("/api/courses")).await.unwrap();
    assert_eq!(resp.status(), 200);
    let span = wait_for("the server span", WAIT, || {
        rx.store
            .spans()
            .into_iter()
            .find(|s| s.name == "GET /api/courses")
    })
    .await;
    assert_eq!(span.kind, SpanKind::Server as i32);
    app.terminate();
    // The access log (info) was filtered out, the span was not.
    assert!(
        !app.json_lines()
            .iter()
            .any(|l| l["message"] == "request completed")
    );
}
