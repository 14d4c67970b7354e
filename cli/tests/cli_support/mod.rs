//! Real peers for the CLI tests: the `pulsecheck` binary, a small axum server that records
//! what it receives and can stall, and raw TCP servers that misbehave.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::routing::any;

pub fn pulsecheck() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_pulsecheck"));
    c.env_remove("PULSE_ADMIN_TOKEN")
        .env_remove("PULSE_CONFIG")
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1");
    c
}

/// Runs `pulsecheck args..` to completion.
pub fn run(args: &[&str]) -> Output {
    let out = pulsecheck().args(args).output().expect("run pulsecheck");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("panicked"),
        "pulsecheck panicked: {stderr}"
    );
    out
}

pub fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// A request as the test server saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: Method,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub version: axum::http::Version,
}

#[derive(Clone, Default)]
struct St {
    seen: Arc<Mutex<Vec<Seen>>>,
    /// Every request's path and query with its headers, whatever the route.
    all: Arc<Mutex<Vec<(String, HeaderMap)>>>,
    /// Requests arriving in [from, until) wait until `until`.
    stall: Arc<Mutex<Option<(Instant, Instant)>>>,
}

/// An HTTP server on 127.0.0.1 (HTTP/1.1 and h2c), in its own thread and runtime.
pub struct TestServer {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    all: Arc<Mutex<Vec<(String, HeaderMap)>>>,
    stall: Arc<Mutex<Option<(Instant, Instant)>>>,
}

impl TestServer {
    /// `/echo` records the request; `/status/503` answers that status; everything else 200.
    pub fn start() -> Self {
        let st = St::default();
        let (seen, stall, all) = (st.seen.clone(), st.stall.clone(), st.all.clone());
        let app = Router::new()
            .route("/echo", any(echo))
            .route("/status/{code}", any(status))
            .fallback(any(ok))
            .layer(axum::middleware::from_fn_with_state(st.clone(), record_all))
            .with_state(st);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let l = tokio::net::TcpListener::from_std(listener).unwrap();
                axum::serve(l, app).await.unwrap();
            });
        });
        Self {
            addr,
            seen,
            stall,
            all,
        }
    }

    /// Every request received so far: path and query, headers.
    pub fn requests(&self) -> Vec<(String, HeaderMap)> {
        self.all.lock().unwrap().clone()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// From `after` from now, every request waits until `after + length`: the server stalls.
    pub fn stall_in(&self, after: Duration, length: Duration) {
        let from = Instant::now() + after;
        *self.stall.lock().unwrap() = Some((from, from + length));
    }
}

async fn record_all(
    State(st): State<St>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let target = req
        .uri()
        .path_and_query()
        .map_or_else(String::new, ToString::to_string);
    st.all.lock().unwrap().push((target, req.headers().clone()));
    next.run(req).await
}

async fn wait_if_stalled(st: &St) {
    let window = *st.stall.lock().unwrap();
    if let Some((from, until)) = window {
        let now = Instant::now();
        if now >= from && now < until {
            tokio::time::sleep(until - now).await;
        }
    }
}

async fn ok(State(st): State<St>) -> &'static str {
    wait_if_stalled(&st).await;
    "ok"
}

async fn status(axum::extract::Path(code): axum::extract::Path<u16>) -> (StatusCode, &'static str) {
    (
        StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST),
        "status",
    )
}

async fn echo(State(st): State<St>, req: axum::extract::Request) -> &'static str {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    st.seen.lock().unwrap().push(Seen {
        method: parts.method,
        headers: parts.headers,
        body,
        version: parts.version,
    });
    "echo"
}

/// A TCP server that reads each request, then closes the connection without answering.
pub fn closing_server() -> SocketAddr {
    raw_server(|mut s| {
        let mut buf = [0u8; 4096];
        let _ = s.read(&mut buf);
        // Half an answer, then gone: the client sees the connection end mid-response.
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial");
        drop(s);
    })
}

/// A TCP server that accepts and never answers.
pub fn silent_server() -> SocketAddr {
    raw_server(|s| {
        std::thread::sleep(Duration::from_secs(30));
        drop(s);
    })
}

fn raw_server(handle: fn(std::net::TcpStream)) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            std::thread::spawn(move || handle(s));
        }
    });
    addr
}

/// A port with nothing listening.
pub fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Parses the `--json` file.
pub fn json_file(path: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("json written")).expect("valid JSON")
}

pub fn tmp(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("pulsecheck-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}
