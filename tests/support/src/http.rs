//! JSON endpoints read over a real socket, once or until a condition holds.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::Value;

/// `GET http://{addr}{path}` (with `token` as a bearer token when given): status and JSON body.
pub async fn get_json(addr: SocketAddr, path: &str, token: Option<&str>) -> (u16, Value) {
    let mut req = reqwest::Client::new().get(format!("http://{addr}{path}"));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let status = resp.status().as_u16();
    (status, resp.json().await.expect("JSON body"))
}

/// Polls `path` every 50 ms until `done` holds for its status and body, or panics after
/// `within`; returns how long it took.
pub async fn wait_until(
    addr: SocketAddr,
    path: &str,
    token: Option<&str>,
    within: Duration,
    done: impl Fn(u16, &Value) -> bool,
) -> Duration {
    let start = Instant::now();
    loop {
        let (status, body) = get_json(addr, path, token).await;
        if done(status, &body) {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < within,
            "{path} still {status} {body} after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
