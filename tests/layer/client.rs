//! `pulsecheck::client`: outgoing calls through a real local HTTP server become CLIENT spans
//! with the HTTP semantic-convention attributes, children of the current span, and carry a
//! `traceparent` naming that CLIENT span.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use opentelemetry::Value;
use opentelemetry::trace::{SpanKind, Status};
use tracing::Instrument as _;

use crate::spans::{Harness, attr};

/// A server answering `status` and recording the `traceparent` of each request.
async fn server(status: StatusCode) -> (String, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    let app = Router::new().fallback(move |headers: HeaderMap| {
        let sink = Arc::clone(&sink);
        async move {
            let tp = headers
                .get("traceparent")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned();
            sink.lock().unwrap().push(tp);
            status
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), seen)
}

#[tokio::test(flavor = "current_thread")]
async fn a_call_is_a_client_span_whose_traceparent_reaches_the_server() {
    let h = Harness::new();
    let (base, seen) = server(StatusCode::CREATED).await;
    let port = base.rsplit(':').next().unwrap().parse::<i64>().unwrap();
    let url = format!(
        "{}/v1/charges?token=tok_secret&currency=usd",
        base.replace("http://", "http://user:pw@")
    );
    let parent = tracing::info_span!("handler");
    let response = pulsecheck::client::send(reqwest::Client::new().post(&url).body("x"))
        .instrument(parent.clone())
        .await
        .expect("the request is sent");
    assert_eq!(response.status(), 201);
    drop(parent);

    let spans = h.finished();
    let client = spans
        .iter()
        .find(|s| s.span_kind == SpanKind::Client)
        .expect("a CLIENT span");
    let handler = spans
        .iter()
        .find(|s| s.name == "handler")
        .expect("the parent span");
    assert_eq!(client.name, "POST");
    assert_eq!(client.parent_span_id, handler.span_context.span_id());
    assert_eq!(
        client.span_context.trace_id(),
        handler.span_context.trace_id()
    );
    assert_eq!(
        attr(client, "http.request.method").map(Value::as_str),
        Some("POST".into())
    );
    assert_eq!(
        attr(client, "server.address").map(Value::as_str),
        Some("127.0.0.1".into())
    );
    assert_eq!(attr(client, "server.port"), Some(&Value::I64(port)));
    assert_eq!(
        attr(client, "http.response.status_code"),
        Some(&Value::I64(201))
    );
    let url_full = attr(client, "url.full").expect("url.full").as_str();
    assert_eq!(
        url_full,
        format!("{base}/v1/charges?token=REDACTED&currency=usd")
    );
    assert!(attr(client, "error.type").is_none());
    assert_ne!(client.status, Status::error(""));

    // The server saw the CLIENT span as its parent.
    let traceparent = seen.lock().unwrap().pop().expect("one request");
    assert_eq!(
        traceparent,
        format!(
            "00-{}-{}-01",
            client.span_context.trace_id(),
            client.span_context.span_id()
        )
    );
}

#[tokio::test(flavor = "current_thread")]
async fn an_error_status_and_a_refused_connection_set_error_type() {
    let h = Harness::new();
    let (base, _) = server(StatusCode::SERVICE_UNAVAILABLE).await;
    let http = reqwest::Client::new();
    let response = pulsecheck::client::send(http.get(format!("{base}/down")))
        .await
        .expect("an answer");
    assert_eq!(response.status(), 503);

    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("http://{}/", dead.local_addr().unwrap());
    drop(dead);
    let refused = pulsecheck::client::send(http.get(dead_url)).await;
    assert!(refused.is_err());

    let spans = h.finished();
    let clients: Vec<_> = spans
        .iter()
        .filter(|s| s.span_kind == SpanKind::Client)
        .collect();
    assert_eq!(clients.len(), 2, "{clients:?}");
    assert_eq!(clients[0].name, "GET");
    assert_eq!(
        attr(clients[0], "error.type").map(Value::as_str),
        Some("503".into())
    );
    assert!(matches!(clients[0].status, Status::Error { .. }));
    assert_eq!(
        attr(clients[1], "error.type").map(Value::as_str),
        Some("connect".into())
    );
    assert!(attr(clients[1], "http.response.status_code").is_none());
}

#[test]
fn without_an_active_trace_nothing_is_injected() {
    let call = pulsecheck::client::ClientSpan::start(&http::Method::GET, "http://127.0.0.1:1/");
    let mut headers = http::HeaderMap::new();
    call.inject(&mut headers);
    assert!(headers.get("traceparent").is_none());
}
