//! [`Pulse::serve`](crate::Pulse::serve): an HTTP server whose shutdown is bounded whatever
//! clients do.
//!
//! `axum::serve` with graceful shutdown waits for every open connection without limit, and it
//! spawns each connection where nothing can close it: a client holding a half-sent body keeps
//! the process alive after SIGTERM, so the telemetry flush and the notification drain after it
//! never run and queued spans are lost. This accept loop runs the same hyper connection builder
//! but keeps its connections in a [`JoinSet`]: after the signal and the drain delay the
//! listener closes and connections are asked to finish (keep-alive ends, HTTP/2 sends GOAWAY);
//! at the deadline those still open are aborted, which closes their sockets; then
//! [`Pulse::shutdown`](crate::Pulse::shutdown) flushes within its own bound.

use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tower::ServiceExt as _;

use crate::Pulse;
use crate::telemetry::ShutdownError;

/// How long aborted connection tasks get to unwind (drop their sockets) before the flush
/// starts anyway. Aborting takes effect at the task's next await point.
const ABORT_GRACE: Duration = Duration::from_secs(1);

/// Serves `router` on `listener` until the shutdown signal, then stops within the drain delay,
/// `deadline` and the flush bound. See [`Pulse::serve`](crate::Pulse::serve).
pub(crate) async fn serve(
    pulse: &Pulse,
    listener: TcpListener,
    router: Router,
    deadline: Duration,
) -> Result<(), ShutdownError> {
    // The one start-up warning about admin endpoints open to the network without a token.
    if let Ok(addr) = listener.local_addr() {
        pulse.listening_on(addr);
    }
    let mut builder = Builder::new(TokioExecutor::new());
    // As axum::serve: the CONNECT protocol carries WebSockets over HTTP/2.
    builder.http2().enable_connect_protocol();
    let graceful = GracefulShutdown::new();
    let mut connections = JoinSet::new();
    let stop = pulse.shutdown_signal();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            biased;
            () = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, remote)) => {
                    // The same per-request view as `into_make_service_with_connect_info`.
                    let service = router.clone().map_request(move |mut req: http::Request<Incoming>| {
                        req.extensions_mut().insert(ConnectInfo(remote));
                        req.map(Body::new)
                    });
                    let conn = builder
                        .serve_connection_with_upgrades(
                            TokioIo::new(stream),
                            TowerToHyperService::new(service),
                        )
                        .into_owned();
                    let conn = graceful.watch(conn);
                    connections.spawn(async move {
                        // A client going away mid-request is not the server's error.
                        let _ = conn.await;
                    });
                }
                Err(e) => accept_error(e).await,
            },
            // Reap finished connections so the set stays the size of the open ones.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    while connections.try_join_next().is_some() {}
    let closing = Instant::now();
    tracing::info!(
        target: "pulsecheck",
        open_connections = connections.len(),
        deadline_ms = deadline.as_millis() as u64,
        "listener closed; waiting for open connections to finish"
    );
    if tokio::time::timeout(deadline, graceful.shutdown())
        .await
        .is_err()
    {
        while connections.try_join_next().is_some() {}
        let left = connections.len();
        connections.abort_all();
        let unwound = tokio::time::timeout(ABORT_GRACE, async {
            while connections.join_next().await.is_some() {}
        })
        .await
        .is_ok();
        tracing::warn!(
            target: "pulsecheck",
            connections = left,
            deadline_ms = deadline.as_millis() as u64,
            unwound,
            "shutdown deadline reached; closed the connections still open"
        );
    } else {
        tracing::info!(
            target: "pulsecheck",
            took_ms = closing.elapsed().as_millis() as u64,
            "all connections finished"
        );
    }
    // Whatever is still in the set (a task that did not unwind in time) dies with the runtime.
    connections.detach_all();
    pulse.shutdown().await
}

/// As hyper 0.14 and axum: a connection reset before accept is the client's business; any
/// other error (EMFILE: out of file descriptors) is logged and retried after a pause rather
/// than spinning.
async fn accept_error(e: std::io::Error) {
    use std::io::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::ConnectionRefused | ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(target: "pulsecheck", error = %e, "accept failed; retrying in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}
