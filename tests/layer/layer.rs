//! The request layer in-process: span shape, status rules, propagation, correlation ids,
//! panics, metrics and the recorder hook. Spans go to the SDK's in-memory exporter through
//! the real tracing-opentelemetry bridge; metrics through a real SDK meter provider.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::routing::{any, get};
use http::{Request, StatusCode};
use opentelemetry::trace::{SpanKind, Status};
use opentelemetry::{KeyValue, Value};
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData, ResourceMetrics};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use pulsecheck::layer::{PulseLayer, RequestRecord, RouteTable, TrustedProxies};
use support::logs::Capture;
use tower::ServiceExt;
use tracing_subscriber::layer::SubscriberExt;

use crate::spans::{Harness, attr};

fn get_req(uri: &str) -> http::request::Builder {
    Request::builder()
        .uri(uri)
        .header("host", "api.example.com:8443")
}

async fn send(app: Router, req: Request<Body>) -> http::Response<Body> {
    app.oneshot(req).await.unwrap()
}

async fn panics() -> &'static str {
    panic!("handler bug")
}

fn app(layer: PulseLayer) -> Router {
    Router::new()
        .route("/users/{id}", get(|| async { "user" }))
        .route(
            "/child",
            get(|| async {
                let _s = tracing::info_span!("load user").entered();
                tracing::info!("inside the handler");
                "ok"
            }),
        )
        .route("/boom", get(|| async { StatusCode::SERVICE_UNAVAILABLE }))
        .route("/bad", get(|| async { StatusCode::BAD_REQUEST }))
        .route("/teapot", get(|| async { StatusCode::IM_A_TEAPOT }))
        .route("/panic", get(panics))
        .route("/anything", any(|| async { "any" }))
        .nest(
            "/api/v2",
            Router::new().route("/items/{item}", get(|| async { "item" })),
        )
        .layer(layer)
}

#[tokio::test]
async fn server_span_follows_http_semantic_conventions() {
    let h = Harness::new();
    let resp = send(
        app(h.layer()),
        get_req("/users/42?page=2&api_key=hunter2&%74oken=s3cret")
            .header("user-agent", "curl/8")
            // No proxy is trusted by default: a client cannot choose its own address.
            .header("x-forwarded-for", "203.0.113.9")
            .extension(ConnectInfo(SocketAddr::from(([192, 0, 2, 44], 40000))))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let span = h.server_span();
    assert_eq!(span.name, "GET /users/{id}");
    assert_eq!(span.span_kind, SpanKind::Server);
    assert_eq!(span.status, Status::Unset);
    assert_eq!(
        attr(&span, "http.request.method"),
        Some(&Value::from("GET"))
    );
    assert_eq!(attr(&span, "http.route"), Some(&Value::from("/users/{id}")));
    assert_eq!(attr(&span, "url.path"), Some(&Value::from("/users/42")));
    assert_eq!(
        attr(&span, "url.query"),
        Some(&Value::from("page=2&api_key=REDACTED&%74oken=REDACTED"))
    );
    assert_eq!(attr(&span, "url.scheme"), Some(&Value::from("http")));
    assert_eq!(
        attr(&span, "http.response.status_code"),
        Some(&Value::I64(200))
    );
    assert_eq!(
        attr(&span, "server.address"),
        Some(&Value::from("api.example.com"))
    );
    assert_eq!(attr(&span, "server.port"), Some(&Value::I64(8443)));
    assert_eq!(
        attr(&span, "network.protocol.version"),
        Some(&Value::from("1.1"))
    );
    assert_eq!(
        attr(&span, "user_agent.original"),
        Some(&Value::from("curl/8"))
    );
    assert_eq!(
        attr(&span, "client.address"),
        Some(&Value::from("192.0.2.44"))
    );
    assert!(attr(&span, "error.type").is_none());
    let rid = resp.headers()["x-request-id"].to_str().unwrap();
    assert_eq!(
        attr(&span, "request.id"),
        Some(&Value::from(rid.to_owned()))
    );
}

/// Behind a trusted proxy the client is the rightmost hop the proxies did not add; entries a
/// client put in front are never reached. Without a peer nothing is believed.
#[tokio::test]
async fn client_address_believes_forwarded_for_only_from_trusted_proxies() {
    let trusted = TrustedProxies::parse("10.0.0.0/8").unwrap();
    // (socket peer, X-Forwarded-For, expected client.address)
    type Case = (Option<[u8; 4]>, &'static str, Option<&'static str>);
    let cases: [Case; 4] = [
        (
            Some([10, 0, 0, 3]),
            "6.6.6.6, 203.0.113.9, 10.1.1.1",
            Some("203.0.113.9"),
        ),
        (Some([198, 51, 100, 7]), "203.0.113.9", Some("198.51.100.7")),
        (Some([10, 0, 0, 3]), "10.2.2.2", Some("10.2.2.2")),
        (None, "203.0.113.9", None),
    ];
    for (peer, xff, expected) in cases {
        let h = Harness::new();
        let mut req = get_req("/users/1").header("x-forwarded-for", xff);
        if let Some(p) = peer {
            req = req.extension(ConnectInfo(SocketAddr::from((p, 40000))));
        }
        let layer = h.layer().trusted_proxies(trusted.clone());
        send(app(layer), req.body(Body::empty()).unwrap()).await;
        let span = h.server_span();
        assert_eq!(
            attr(&span, "client.address"),
            expected.map(Value::from).as_ref(),
            "peer {peer:?}, x-forwarded-for {xff}"
        );
    }
}

#[tokio::test]
async fn nested_router_routes_use_the_full_template() {
    let h = Harness::new();
    send(
        app(h.layer()),
        get_req("/api/v2/items/9").body(Body::empty()).unwrap(),
    )
    .await;
    let span = h.server_span();
    assert_eq!(span.name, "GET /api/v2/items/{item}");
    assert_eq!(
        attr(&span, "http.route"),
        Some(&Value::from("/api/v2/items/{item}"))
    );
}

#[tokio::test]
async fn unmatched_requests_are_named_by_method_only() {
    let h = Harness::new();
    let resp = send(
        app(h.layer()),
        get_req("/secret/user/12345/profile")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(resp.status(), 404);
    let span = h.server_span();
    assert_eq!(span.name, "GET");
    assert!(attr(&span, "http.route").is_none());
    assert_eq!(
        span.status,
        Status::Unset,
        "4xx leaves the server span unset"
    );
}

#[tokio::test]
async fn unknown_methods_are_other_with_the_original_kept() {
    let h = Harness::new();
    let resp = send(
        app(h.layer()),
        Request::builder()
            .method("PURGE")
            .uri("/anything")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let span = h.server_span();
    assert_eq!(span.name, "HTTP /anything");
    assert_eq!(
        attr(&span, "http.request.method"),
        Some(&Value::from("_OTHER"))
    );
    assert_eq!(
        attr(&span, "http.request.method_original"),
        Some(&Value::from("PURGE"))
    );
}

#[tokio::test]
async fn server_errors_mark_the_span_but_client_errors_do_not() {
    let h = Harness::new();
    let app = app(h.layer());
    send(app.clone(), get_req("/boom").body(Body::empty()).unwrap()).await;
    send(app, get_req("/bad").body(Body::empty()).unwrap()).await;
    let spans = h.finished();
    let boom = spans.iter().find(|s| s.name == "GET /boom").unwrap();
    assert!(
        matches!(boom.status, Status::Error { .. }),
        "{:?}",
        boom.status
    );
    assert_eq!(attr(boom, "error.type"), Some(&Value::from("503")));
    let bad = spans.iter().find(|s| s.name == "GET /bad").unwrap();
    assert_eq!(bad.status, Status::Unset);
    assert!(attr(bad, "error.type").is_none());
    assert_eq!(
        attr(bad, "http.response.status_code"),
        Some(&Value::I64(400))
    );
}

#[tokio::test]
async fn a_panicking_handler_becomes_a_500_and_the_service_keeps_serving() {
    let h = Harness::new();
    let app = app(h.layer());
    let resp = send(app.clone(), get_req("/panic").body(Body::empty()).unwrap()).await;
    assert_eq!(resp.status(), 500);
    assert!(resp.headers().contains_key("x-request-id"));
    assert!(resp.headers().contains_key("x-trace-id"));
    let after = send(app, get_req("/users/1").body(Body::empty()).unwrap()).await;
    assert_eq!(after.status(), 200);
    let spans = h.finished();
    let panicked = spans.iter().find(|s| s.name == "GET /panic").unwrap();
    assert!(matches!(panicked.status, Status::Error { .. }));
    assert_eq!(attr(panicked, "error.type"), Some(&Value::from("500")));
    assert_eq!(
        attr(panicked, "http.response.status_code"),
        Some(&Value::I64(500))
    );
}

#[tokio::test]
async fn inbound_traceparent_becomes_the_parent_and_is_returned() {
    let h = Harness::new();
    let trace = "0af7651916cd43dd8448eb211c80319c";
    let parent = "b7ad6b7169203331";
    let resp = send(
        app(h.layer()),
        get_req("/users/1")
            .header("traceparent", format!("00-{trace}-{parent}-01"))
            .header("tracestate", "vendor=abc")
            .header("baggage", "tenant=acme")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    let span = h.server_span();
    assert_eq!(span.span_context.trace_id().to_string(), trace);
    assert_eq!(span.parent_span_id.to_string(), parent);
    assert_eq!(span.span_context.trace_state().get("vendor"), Some("abc"));
    assert_eq!(resp.headers()["x-trace-id"], trace);
    assert_eq!(
        resp.headers()["traceresponse"],
        format!("00-{trace}-{}-01", span.span_context.span_id()).as_str()
    );
}

#[tokio::test]
async fn malformed_trace_headers_start_a_new_trace() {
    for (name, value) in [
        (
            "traceparent",
            "00-zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz-b7ad6b7169203331-01",
        ),
        (
            "traceparent",
            "00-00000000000000000000000000000000-0000000000000000-01",
        ),
        (
            "traceparent",
            "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        ),
        ("traceparent", "garbage"),
        ("baggage", "===;;;,,,%%%"),
        ("tracestate", "@@@,=,"),
    ] {
        let h = Harness::new();
        let resp = send(
            app(h.layer()),
            get_req("/users/1")
                .header(name, value)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(resp.status(), 200, "{name}: {value}");
        let span = h.server_span();
        assert!(span.span_context.is_valid());
        assert_eq!(
            span.parent_span_id.to_string(),
            "0000000000000000",
            "{value}"
        );
        assert_eq!(
            resp.headers()["x-trace-id"],
            span.span_context.trace_id().to_string().as_str()
        );
    }
}

#[tokio::test]
async fn oversized_baggage_is_dropped_not_an_error() {
    let h = Harness::new();
    let big = format!("k={}", "v".repeat(10_000));
    let resp = send(
        app(h.layer()),
        get_req("/users/1")
            .header("baggage", big)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert!(h.server_span().span_context.is_valid());
}

#[tokio::test]
async fn valid_request_ids_are_kept_and_hostile_ones_replaced() {
    let h = Harness::new();
    let app = app(h.layer());
    let kept = send(
        app.clone(),
        get_req("/users/1")
            .header("x-request-id", "Req_1.2:3-4")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(kept.headers()["x-request-id"], "Req_1.2:3-4");

    let hostile: Vec<Vec<u8>> = vec![
        vec![b'a'; 10 * 1024],
        b"".to_vec(),
        b"has space".to_vec(),
        b"tab\there".to_vec(),
        "caf\u{e9}".as_bytes().to_vec(),
        vec![0xff, 0xfe, b'x'],
        b"\"quoted\"".to_vec(),
        b"a%0d%0aSet-Cookie:x".to_vec(),
        vec![b'b'; 129],
    ];
    for bad in hostile {
        let resp = send(
            app.clone(),
            get_req("/users/1")
                .header("x-request-id", http::HeaderValue::from_bytes(&bad).unwrap())
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(resp.status(), 200);
        let ids: Vec<_> = resp.headers().get_all("x-request-id").iter().collect();
        assert_eq!(ids.len(), 1);
        let id = ids[0].to_str().unwrap();
        assert_eq!(id.len(), 36, "expected a fresh UUID for {bad:?}, got {id}");
        assert!(uuid_like(id), "{id}");
    }
    // Every span carries the id the response carried, never the hostile one.
    for span in h.finished() {
        let Some(Value::String(id)) = attr(&span, "request.id") else {
            panic!("span without request.id")
        };
        assert!(id.as_str().len() <= 128);
    }
}

fn uuid_like(s: &str) -> bool {
    s.len() == 36
        && s.chars().enumerate().all(|(i, c)| {
            if [8, 13, 18, 23].contains(&i) {
                c == '-'
            } else {
                c.is_ascii_hexdigit()
            }
        })
}

#[tokio::test]
async fn request_id_header_name_is_configurable_and_visible_to_handlers() {
    let h = Harness::new();
    let app = Router::new()
        .route(
            "/me",
            get(
                |axum::Extension(id): axum::Extension<pulsecheck::layer::RequestId>| async move {
                    // The same id is current in the request's context.
                    let current = pulsecheck::layer::RequestId::current().expect("current id");
                    format!("{id}|{current}")
                },
            ),
        )
        .layer(
            h.layer()
                .request_id_header(http::HeaderName::from_static("x-correlation-id")),
        );
    let resp = send(
        app,
        get_req("/me")
            .header("x-correlation-id", "corr-7")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(resp.headers()["x-correlation-id"], "corr-7");
    assert!(!resp.headers().contains_key("x-request-id"));
    let body = axum::body::to_bytes(resp.into_body(), 1024).await.unwrap();
    assert_eq!(&body[..], b"corr-7|corr-7");
    assert!(pulsecheck::layer::RequestId::current().is_none());
}

#[tokio::test]
async fn handler_spans_are_children_of_the_server_span() {
    let h = Harness::new();
    send(
        app(h.layer()),
        get_req("/child").body(Body::empty()).unwrap(),
    )
    .await;
    let spans = h.finished();
    let server = spans
        .iter()
        .find(|s| s.span_kind == SpanKind::Server)
        .unwrap();
    let child = spans.iter().find(|s| s.name == "load user").unwrap();
    assert_eq!(child.parent_span_id, server.span_context.span_id());
    assert_eq!(
        child.span_context.trace_id(),
        server.span_context.trace_id()
    );
}

#[tokio::test]
async fn without_a_tracer_provider_requests_still_work() {
    // No Harness and no global provider: no trace ids, but the request id is still echoed.
    let resp = send(
        app(PulseLayer::new()),
        get_req("/users/1")
            .header("x-request-id", "r1")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-request-id"], "r1");
    assert!(!resp.headers().contains_key("x-trace-id"));
}

fn metrics_provider() -> (SdkMeterProvider, InMemoryMetricExporter) {
    let exporter = InMemoryMetricExporter::default();
    let provider = SdkMeterProvider::builder()
        .with_reader(PeriodicReader::builder(exporter.clone()).build())
        .build();
    (provider, exporter)
}

fn histogram_points(metrics: &[ResourceMetrics], name: &str) -> Vec<(Vec<KeyValue>, u64)> {
    let mut out = Vec::new();
    for rm in metrics {
        for sm in rm.scope_metrics() {
            for m in sm.metrics() {
                if m.name() != name {
                    continue;
                }
                if let AggregatedMetrics::F64(MetricData::Histogram(h)) = m.data() {
                    for p in h.data_points() {
                        out.push((p.attributes().cloned().collect(), p.count()));
                    }
                }
            }
        }
    }
    out
}

fn get_attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    attrs
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| &kv.value)
}

#[tokio::test]
async fn duration_histogram_has_bounded_attributes_and_caps_routes() {
    let h = Harness::new();
    let (provider, exporter) = metrics_provider();
    let meter = opentelemetry::metrics::MeterProvider::meter(&provider, "test");
    let layer = h.layer().meter(&meter).routes(Arc::new(RouteTable::new(2)));
    let app = app(layer);
    for uri in [
        "/users/1",
        "/users/2",
        "/boom",
        "/api/v2/items/1",
        "/nowhere",
        "/teapot",
    ] {
        send(app.clone(), get_req(uri).body(Body::empty()).unwrap()).await;
    }
    provider.force_flush().unwrap();
    let points = histogram_points(
        &exporter.get_finished_metrics().unwrap(),
        "http.server.request.duration",
    );
    let by_route = |r: &str| {
        points
            .iter()
            .find(|(a, _)| get_attr(a, "http.route") == Some(&Value::from(r.to_owned())))
            .cloned()
    };
    let (users, count) = by_route("/users/{id}").expect("users route point");
    assert_eq!(count, 2);
    assert_eq!(
        get_attr(&users, "http.request.method"),
        Some(&Value::from("GET"))
    );
    assert_eq!(get_attr(&users, "url.scheme"), Some(&Value::from("http")));
    assert_eq!(
        get_attr(&users, "http.response.status_code"),
        Some(&Value::I64(200))
    );
    let (boom, _) = by_route("/boom").expect("boom route point");
    assert_eq!(get_attr(&boom, "error.type"), Some(&Value::from("503")));
    // The third distinct route is past the cap of two.
    assert!(
        points.iter().any(|(a, c)| *c == 1
            && get_attr(a, "http.route") == Some(&Value::from("_OTHER"))
            && get_attr(a, "http.response.status_code") == Some(&Value::I64(200))),
        "no overflow point for the third route: {points:?}"
    );
    // An uncommon status takes the unbound path, with the same attributes. The route is past
    // the cap by now, so it is `_OTHER` too.
    assert!(points.iter().any(|(a, c)| *c == 1
        && get_attr(a, "http.response.status_code") == Some(&Value::I64(418))
        && get_attr(a, "http.route") == Some(&Value::from("_OTHER"))));
    // Unmatched: no route attribute at all.
    assert!(
        points
            .iter()
            .any(|(a, _)| get_attr(a, "http.route").is_none()
                && get_attr(a, "http.response.status_code") == Some(&Value::I64(404)))
    );
    for (attrs, _) in &points {
        for kv in attrs {
            assert!(
                ![
                    "url.path",
                    "request.id",
                    "user_agent.original",
                    "client.address"
                ]
                .contains(&kv.key.as_str()),
                "high-cardinality attribute {kv:?} on a metric"
            );
        }
    }
}

#[tokio::test]
async fn active_requests_returns_to_zero() {
    let h = Harness::new();
    let (provider, exporter) = metrics_provider();
    let meter = opentelemetry::metrics::MeterProvider::meter(&provider, "test");
    let app = app(h.layer().meter(&meter));
    for _ in 0..3 {
        send(
            app.clone(),
            get_req("/users/1").body(Body::empty()).unwrap(),
        )
        .await;
    }
    send(app.clone(), get_req("/panic").body(Body::empty()).unwrap()).await;
    provider.force_flush().unwrap();
    let metrics = exporter.get_finished_metrics().unwrap();
    let mut seen = false;
    for rm in &metrics {
        for sm in rm.scope_metrics() {
            for m in sm.metrics() {
                if m.name() == "http.server.active_requests"
                    && let AggregatedMetrics::I64(MetricData::Sum(s)) = m.data()
                {
                    for p in s.data_points() {
                        seen = true;
                        assert_eq!(p.value(), 0);
                    }
                }
            }
        }
    }
    assert!(seen, "no http.server.active_requests points");
}

#[tokio::test]
async fn recorder_gets_one_record_per_request_with_route_id_and_trace() {
    let h = Harness::new();
    let records: Arc<Mutex<Vec<RequestRecord>>> = Arc::default();
    let sink = Arc::clone(&records);
    let layer = h
        .layer()
        .recorder(move |r: &RequestRecord| sink.lock().unwrap().push(*r));
    let routes = Arc::clone(layer.route_table());
    let app = app(layer);
    let ok = send(
        app.clone(),
        get_req("/users/5").body(Body::empty()).unwrap(),
    )
    .await;
    send(app.clone(), get_req("/boom").body(Body::empty()).unwrap()).await;
    send(app.clone(), get_req("/panic").body(Body::empty()).unwrap()).await;
    send(app, get_req("/missing").body(Body::empty()).unwrap()).await;
    let r = records.lock().unwrap().clone();
    assert_eq!(r.len(), 4);
    assert_eq!(r[0].status, 200);
    let users = r[0].route.expect("route id");
    assert_eq!(routes.template(users).as_deref(), Some("/users/{id}"));
    assert_eq!(
        r[0].trace_id.map(|t| t.to_string()).as_deref(),
        ok.headers()["x-trace-id"].to_str().ok()
    );
    assert_eq!(r[1].status, 503);
    assert_eq!(r[2].status, 500);
    assert_eq!(r[3].status, 404);
    assert_eq!(r[3].route, None);
    assert!(r.iter().all(|x| x.duration.as_nanos() > 0));
    drop(h);
}

/// A request whose future is dropped before the handler answers (what hyper does when the
/// client hangs up) is recorded once, at the drop: status 499 for the recorder, and a span and
/// duration point with `error.type` and no status code.
#[tokio::test]
async fn a_request_dropped_before_its_response_is_recorded_once_as_499() {
    let h = Harness::new();
    let (provider, exporter) = metrics_provider();
    let meter = opentelemetry::metrics::MeterProvider::meter(&provider, "test");
    let records: Arc<Mutex<Vec<RequestRecord>>> = Arc::default();
    let sink = Arc::clone(&records);
    let layer = h
        .layer()
        .meter(&meter)
        .recorder(move |r: &RequestRecord| sink.lock().unwrap().push(*r));
    let app = Router::new()
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(std::time::Duration::from_secs(30)).await;
                "late"
            }),
        )
        .route("/fast", get(|| async { "ok" }))
        .layer(layer);
    let pending = app
        .clone()
        .oneshot(get_req("/slow").body(Body::empty()).unwrap());
    let gave_up = tokio::time::timeout(std::time::Duration::from_millis(100), pending).await;
    assert!(gave_up.is_err(), "the handler cannot have answered");
    send(app, get_req("/fast").body(Body::empty()).unwrap()).await;

    let r = records.lock().unwrap().clone();
    assert_eq!(r.len(), 2, "one record each, never two: {r:?}");
    assert_eq!(r[0].status, pulsecheck::layer::CANCELLED_STATUS);
    assert!(r[0].duration >= std::time::Duration::from_millis(100));
    assert!(r[0].duration < std::time::Duration::from_secs(30));
    assert_eq!(r[1].status, 200);

    let spans: Vec<_> = h
        .finished()
        .into_iter()
        .filter(|s| s.span_kind == SpanKind::Server)
        .collect();
    assert_eq!(spans.len(), 2);
    let dropped = spans
        .iter()
        .find(|s| attr(s, "url.path") == Some(&Value::from("/slow")))
        .expect("the dropped request's span");
    assert_eq!(attr(dropped, "http.response.status_code"), None);
    assert_eq!(attr(dropped, "error.type"), Some(&Value::from("cancelled")));
    assert_eq!(
        attr(dropped, "pulsecheck.error.class"),
        Some(&Value::from("cancelled"))
    );
    assert!(matches!(dropped.status, Status::Error { .. }));

    provider.force_flush().unwrap();
    let points = histogram_points(
        &exporter.get_finished_metrics().unwrap(),
        "http.server.request.duration",
    );
    let cancelled: Vec<_> = points
        .iter()
        .filter(|(a, _)| get_attr(a, "error.type") == Some(&Value::from("cancelled")))
        .collect();
    assert_eq!(cancelled.len(), 1, "{points:?}");
    assert_eq!(cancelled[0].1, 1);
    assert_eq!(get_attr(&cancelled[0].0, "http.response.status_code"), None);
}

async fn access_log_paths(layer: PulseLayer) -> Vec<String> {
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::registry().with(pulsecheck::telemetry::log_layer(
        pulsecheck::telemetry::LogFormat::Json,
        move || writer.clone(),
    ));
    let _guard = tracing::subscriber::set_default(subscriber);
    let app = Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/health/live", get(|| async { "ok" }))
        .route("/metrics", get(|| async { "# metrics" }))
        .route("/api/things", get(|| async { "things" }))
        .layer(layer);
    for uri in [
        "/health",
        "/health/live",
        "/metrics",
        "/api/things",
        "/healthy-not-a-probe",
    ] {
        send(app.clone(), get_req(uri).body(Body::empty()).unwrap()).await;
    }
    capture
        .lines()
        .into_iter()
        // One access line per request, `request completed` or (the 404) `request failed`.
        .filter(|l| l["target"] == "pulsecheck::access")
        .map(|l| {
            assert!(
                l["request_id"].as_str().is_some_and(|r| r.len() == 36),
                "{l}"
            );
            assert!(l["trace_id"].as_str().is_some_and(|t| t.len() == 32), "{l}");
            l["url.path"].as_str().unwrap().to_owned()
        })
        .collect()
}

#[tokio::test]
async fn health_and_metrics_requests_are_not_access_logged_by_default() {
    let h = Harness::new();
    let paths = access_log_paths(h.layer()).await;
    assert_eq!(paths, ["/api/things", "/healthy-not-a-probe"]);
    let paths = access_log_paths(h.layer().log_health_requests(true)).await;
    assert_eq!(
        paths,
        [
            "/health",
            "/health/live",
            "/metrics",
            "/api/things",
            "/healthy-not-a-probe"
        ]
    );
}

/// Every access line names the route template, whichever way the request ended: answered,
/// failed or abandoned by its client. An operator filters one route's lines by `http.route`;
/// a line without it hides that route's successes from the filter.
#[tokio::test]
async fn every_access_line_carries_the_route_template() {
    let h = Harness::new();
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::registry().with(pulsecheck::telemetry::log_layer(
        pulsecheck::telemetry::LogFormat::Json,
        move || writer.clone(),
    ));
    let _guard = tracing::subscriber::set_default(subscriber);
    let app = Router::new()
        .route("/courses/{id}", get(|| async { "course" }))
        .route(
            "/courses/{id}/fail",
            get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "down") }),
        )
        .route(
            "/courses/{id}/slow",
            get(|| async {
                tokio::time::sleep(std::time::Duration::from_secs(30)).await;
                "late"
            }),
        )
        .layer(h.layer());
    send(
        app.clone(),
        get_req("/courses/7").body(Body::empty()).unwrap(),
    )
    .await;
    send(
        app.clone(),
        get_req("/courses/7/fail").body(Body::empty()).unwrap(),
    )
    .await;
    let pending = app.oneshot(get_req("/courses/7/slow").body(Body::empty()).unwrap());
    let gave_up = tokio::time::timeout(std::time::Duration::from_millis(50), pending).await;
    assert!(gave_up.is_err(), "the handler cannot have answered");

    let lines: Vec<_> = capture
        .lines()
        .into_iter()
        .filter(|l| l["target"] == "pulsecheck::access")
        .collect();
    let by_message = |m: &str| {
        lines
            .iter()
            .find(|l| l["message"] == m)
            .unwrap_or_else(|| panic!("no {m:?} line in {lines:?}"))
    };
    for (message, route) in [
        ("request completed", "/courses/{id}"),
        ("request failed", "/courses/{id}/fail"),
        ("request cancelled", "/courses/{id}/slow"),
    ] {
        let l = by_message(message);
        assert_eq!(l["http.route"], route, "{l}");
    }
    assert_eq!(lines.len(), 3, "{lines:?}");
}

/// A sampler that keeps the attributes it was shown.
#[derive(Clone, Debug, Default)]
struct Seen(std::sync::Arc<std::sync::Mutex<Vec<opentelemetry::KeyValue>>>);

impl opentelemetry_sdk::trace::ShouldSample for Seen {
    fn should_sample(
        &self,
        _parent: Option<&opentelemetry::Context>,
        _trace_id: opentelemetry::trace::TraceId,
        _name: &str,
        _kind: &opentelemetry::trace::SpanKind,
        attributes: &[opentelemetry::KeyValue],
        _links: &[opentelemetry::trace::Link],
    ) -> opentelemetry_sdk::trace::SamplingResult {
        self.0.lock().unwrap().extend_from_slice(attributes);
        opentelemetry_sdk::trace::SamplingResult {
            decision: opentelemetry_sdk::trace::SamplingDecision::RecordAndSample,
            attributes: Vec::new(),
            trace_state: Default::default(),
        }
    }
}

#[tokio::test]
async fn a_sampler_sees_the_request_attributes_at_span_creation() {
    // The semantic conventions ask for these at creation, so that a sampler can decide on
    // them; only the request id (an allocation) waits until the span is recorded.
    use opentelemetry::trace::TracerProvider as _;
    let seen = Seen::default();
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_sampler(seen.clone())
        .build();
    for _ in 0..2 {
        // Twice: the second request takes the thread's repeated host and user agent.
        let app = Router::new()
            .route("/users/{id}", get(|| async { "ok" }))
            .layer(PulseLayer::new().tracer(provider.tracer("t")));
        let resp = send(
            app,
            get_req("/users/7")
                .header("user-agent", "probe/1")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(resp.status(), 200);
        let attrs = std::mem::take(&mut *seen.0.lock().unwrap());
        let get = |k: &str| {
            attrs
                .iter()
                .find(|kv| kv.key.as_str() == k)
                .map(|kv| kv.value.to_string())
        };
        assert_eq!(get("http.request.method").as_deref(), Some("GET"));
        assert_eq!(get("url.path").as_deref(), Some("/users/7"));
        assert_eq!(get("http.route").as_deref(), Some("/users/{id}"));
        assert_eq!(get("server.address").as_deref(), Some("api.example.com"));
        assert_eq!(get("server.port").as_deref(), Some("8443"));
        assert_eq!(get("user_agent.original").as_deref(), Some("probe/1"));
        assert_eq!(get("request.id"), None);
    }
}
