//! A plain axum server (no instrumentation) for benchmarking load generators against each
//! other, with an optional server-wide stall.
//!
//! Run with: `cargo run --release --example load_target`
//!
//! | variable | default |
//! |---|---|
//! | `PORT` | `8099` (`0` picks a free port) |
//! | `WORKERS` | `1` tokio worker thread, leaving the other core to the load generator |
//! | `STALL_AFTER_MS`, `STALL_FOR_MS` | unset: no stall. Set: every request arriving between `STALL_AFTER_MS` and `STALL_AFTER_MS + STALL_FOR_MS` after the first request waits until the stall ends (a GC pause, a lock, a full disk) |
//!
//! `GET /` answers `ok`. Prints `listening on ADDR`.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;

static FIRST: OnceLock<Instant> = OnceLock::new();
static STALL: OnceLock<Option<(Duration, Duration)>> = OnceLock::new();

fn env_ms(name: &str) -> Option<Duration> {
    std::env::var(name)
        .ok()?
        .parse()
        .ok()
        .map(Duration::from_millis)
}

async fn ok() -> &'static str {
    let first = *FIRST.get_or_init(Instant::now);
    if let Some(Some((after, length))) = STALL.get() {
        let (from, until) = (first + *after, first + *after + *length);
        let now = Instant::now();
        if now >= from && now < until {
            tokio::time::sleep(until - now).await;
        }
    }
    "ok"
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    STALL.get_or_init(|| Some((env_ms("STALL_AFTER_MS")?, env_ms("STALL_FOR_MS")?)));
    let workers = std::env::var("WORKERS")
        .ok()
        .and_then(|w| w.parse().ok())
        .unwrap_or(1);
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(8099);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        println!("listening on {}", listener.local_addr()?);
        axum::serve(listener, Router::new().route("/", get(ok))).await?;
        Ok(())
    })
}
