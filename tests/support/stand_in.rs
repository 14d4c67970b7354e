//! A local HTTP server standing in for Stripe and PayPal: records every request and answers
//! with the status the test sets. Payment calls (`POST /v1/payment_intents`,
//! `POST /v2/checkout/orders`) get the bodies the real APIs send.

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};

/// One request as the stand-in saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: Method,
    pub path_and_query: String,
    pub headers: HeaderMap,
    pub body: String,
}

impl Seen {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

struct Shared {
    status: AtomicU16,
    /// Per-path statuses that win over `status`.
    paths: Mutex<Vec<(String, u16)>>,
    seen: Mutex<Vec<Seen>>,
}

pub struct StandIn {
    pub base: String,
    shared: Arc<Shared>,
}

impl StandIn {
    pub async fn start() -> Self {
        let shared = Arc::new(Shared {
            status: AtomicU16::new(200),
            paths: Mutex::new(Vec::new()),
            seen: Mutex::new(Vec::new()),
        });
        let app = Router::new()
            .fallback(record)
            .with_state(Arc::clone(&shared));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { base, shared }
    }

    /// Answer every later request with `status`.
    pub fn respond_with(&self, status: u16) {
        self.shared.status.store(status, Ordering::SeqCst);
    }

    /// Answer later requests to `path` with `status` (other paths keep theirs).
    #[allow(dead_code)] // cli/tests/academy_e2e.rs
    pub fn respond_at(&self, path: &str, status: u16) {
        let mut paths = self.shared.paths.lock().unwrap();
        paths.retain(|(p, _)| p != path);
        paths.push((path.to_owned(), status));
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.shared.seen.lock().unwrap().clone()
    }
}

async fn record(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    let path = uri.path().to_owned();
    shared.seen.lock().unwrap().push(Seen {
        method,
        path_and_query: uri
            .path_and_query()
            .map(|p| p.to_string())
            .unwrap_or_default(),
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    let code = shared
        .paths
        .lock()
        .unwrap()
        .iter()
        .find(|(p, _)| *p == path)
        .map(|(_, s)| *s)
        .unwrap_or_else(|| shared.status.load(Ordering::SeqCst));
    let status = StatusCode::from_u16(code).unwrap();
    let n = shared.seen.lock().unwrap().len();
    let body = match (path.as_str(), status.is_success()) {
        ("/v1/payment_intents", true) => {
            format!(r#"{{"id":"pi_standin_{n}","object":"payment_intent","status":"succeeded"}}"#)
        }
        ("/v1/payment_intents", false) if code == 402 => r#"{"error":{"type":"card_error","code":"card_declined","decline_code":"insufficient_funds"}}"#.to_owned(),
        ("/v2/checkout/orders", true) => format!(r#"{{"id":"ORDER-STANDIN-{n}","status":"COMPLETED"}}"#),
        // What a real API might put in a body: the check must never show it.
        _ => r#"{"access_token":"A21AAbody-token-secret","available":[]}"#.to_owned(),
    };
    (status, body)
}
