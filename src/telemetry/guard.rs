//! The handle that flushes and stops the providers, within a bound, from any runtime.

use std::time::{Duration, Instant};

use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::SdkTracerProvider;

use super::env::Signal;

/// Default bound on [`Telemetry::shutdown`](super::Telemetry::shutdown).
pub const SHUTDOWN_TIMEOUT_DEFAULT: Duration = Duration::from_secs(5);

/// Why a shutdown did not complete cleanly. Telemetry still stops: nothing is retried.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ShutdownError {
    /// Shutdown was already called.
    #[error("telemetry was already shut down")]
    AlreadyShutdown,
    /// The flush did not finish in time (a slow or hanging collector); unsent data is dropped.
    #[error("telemetry flush did not finish within {0:?}; unsent data was dropped")]
    Timeout(Duration),
    /// An exporter reported an error while flushing.
    #[error("telemetry flush failed: {0}")]
    Internal(String),
}

pub(crate) struct Providers {
    pub(crate) tracer: SdkTracerProvider,
    pub(crate) meter: Option<SdkMeterProvider>,
    pub(crate) logger: Option<SdkLoggerProvider>,
    /// The stdout log queue, written out after the providers' flush (whose own lines it
    /// carries), when pulsecheck installed the subscriber.
    pub(crate) log: Option<super::stdout::LogGuard>,
}

impl Providers {
    /// Blocking: flushes traces, then logs, then metrics (the order of the SDK examples).
    fn shutdown(self, timeout: Duration) -> Result<(), ShutdownError> {
        let deadline = Instant::now() + timeout;
        let left = || deadline.saturating_duration_since(Instant::now());
        let mut errors = Vec::new();
        let mut timed_out = false;
        let mut note = |signal: Signal, r: opentelemetry_sdk::error::OTelSdkResult| {
            use opentelemetry_sdk::error::OTelSdkError;
            match r {
                Ok(()) | Err(OTelSdkError::AlreadyShutdown) => {}
                Err(OTelSdkError::Timeout(_)) => timed_out = true,
                Err(e) => errors.push(format!("{}: {e}", signal.name())),
            }
        };
        note(Signal::Traces, self.tracer.shutdown_with_timeout(left()));
        if let Some(l) = &self.logger {
            note(Signal::Logs, l.shutdown_with_timeout(left()));
        }
        if let Some(m) = &self.meter {
            note(Signal::Metrics, m.shutdown_with_timeout(left()));
        }
        if timed_out {
            Err(ShutdownError::Timeout(timeout))
        } else if errors.is_empty() {
            Ok(())
        } else {
            Err(ShutdownError::Internal(errors.join("; ")))
        }
    }

    /// Runs [`Self::shutdown`] on its own thread and answers within `timeout` (plus a small
    /// margin, plus writing out queued log lines) whatever the exporters and stdout do. Exporters block, and a gRPC exporter needs the
    /// caller's runtime free to drive its connection: on a current_thread runtime a blocking
    /// call on the runtime thread would stall until the SDK's own timeout.
    pub(crate) fn shutdown_on_thread(mut self, timeout: Duration) -> Answer {
        let log = self.log.take();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let waiter = std::thread::Builder::new()
            .name("pulsecheck-shutdown".into())
            .spawn(move || {
                let (inner_tx, inner_rx) = std::sync::mpsc::channel();
                let worker = std::thread::Builder::new()
                    .name("pulsecheck-flush".into())
                    .spawn(move || {
                        let _ = inner_tx.send(self.shutdown(timeout));
                    });
                let result = match worker {
                    Err(e) => Err(ShutdownError::Internal(format!(
                        "could not start a thread: {e}"
                    ))),
                    Ok(_) => match inner_rx.recv_timeout(timeout + MARGIN) {
                        Ok(r) => r,
                        // The worker is left to finish or die with the process: it holds
                        // nothing the caller waits for.
                        Err(_) => Err(ShutdownError::Timeout(timeout)),
                    },
                };
                if let Some(mut log) = log {
                    // Bounded by stdout::FLUSH_BOUND, stalled stdout or not.
                    log.flush();
                }
                let _ = tx.send(result);
            });
        match waiter {
            Ok(_) => Answer(Some(rx)),
            Err(e) => {
                tracing::warn!(target: "pulsecheck::telemetry", error = %e, "could not start the shutdown thread");
                Answer(None)
            }
        }
    }
}

pub(crate) const MARGIN: Duration = Duration::from_millis(250);

/// The result of a shutdown running on its own thread.
pub(crate) struct Answer(Option<tokio::sync::oneshot::Receiver<Result<(), ShutdownError>>>);

impl Answer {
    /// Needs no timer: the thread answers within its bound.
    pub(crate) async fn wait(self) -> Result<(), ShutdownError> {
        match self.0 {
            Some(rx) => rx.await.unwrap_or_else(|_| {
                Err(ShutdownError::Internal(
                    "the shutdown thread stopped".into(),
                ))
            }),
            None => Err(ShutdownError::Internal("no shutdown thread".into())),
        }
    }

    /// Blocks the calling thread; do not call it on an async runtime's thread.
    pub(crate) fn wait_blocking(self) -> Result<(), ShutdownError> {
        match self.0 {
            Some(rx) => rx.blocking_recv().unwrap_or_else(|_| {
                Err(ShutdownError::Internal(
                    "the shutdown thread stopped".into(),
                ))
            }),
            None => Err(ShutdownError::Internal("no shutdown thread".into())),
        }
    }
}
