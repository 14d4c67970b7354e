//! The `Pulse` facade: one builder wires telemetry and the request layer.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::layer::{PulseLayer, Recorder};
use crate::telemetry::{ShutdownError, Telemetry, TelemetryBuilder, TelemetryError};

/// Why [`PulseBuilder::build`] failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Telemetry could not start.
    #[error(transparent)]
    Telemetry(#[from] TelemetryError),
}

/// Builds a [`Pulse`]. See the [crate docs](crate) for an example.
#[derive(Debug)]
pub struct PulseBuilder {
    telemetry: Option<TelemetryBuilder>,
    layer: PulseLayer,
}

impl Default for PulseBuilder {
    fn default() -> Self {
        Self {
            telemetry: Some(Telemetry::builder()),
            layer: PulseLayer::new(),
        }
    }
}

impl PulseBuilder {
    /// `service.name` when `OTEL_SERVICE_NAME` is unset.
    pub fn service_name(mut self, name: impl Into<String>) -> Self {
        self.telemetry = self.telemetry.map(|t| t.service_name(name));
        self
    }

    /// `service.version`.
    pub fn service_version(mut self, version: impl Into<String>) -> Self {
        self.telemetry = self.telemetry.map(|t| t.service_version(version));
        self
    }

    /// Replace the telemetry configuration. Defaults to [`Telemetry::builder`].
    pub fn telemetry(mut self, telemetry: TelemetryBuilder) -> Self {
        self.telemetry = Some(telemetry);
        self
    }

    /// Keep the service's own OpenTelemetry providers and subscriber: pulsecheck installs
    /// nothing global, and the layer uses whatever providers are installed.
    pub fn without_telemetry(mut self) -> Self {
        self.telemetry = None;
        self
    }

    /// Configure the request layer. Defaults to [`PulseLayer::new`].
    pub fn layer(mut self, layer: PulseLayer) -> Self {
        self.layer = layer;
        self
    }

    /// Receive one record per finished request.
    pub fn recorder(mut self, recorder: impl Recorder) -> Self {
        self.layer = self.layer.recorder(recorder);
        self
    }

    /// Starts telemetry (unless disabled) and returns the facade.
    pub fn build(self) -> Result<Pulse, Error> {
        let telemetry = match self.telemetry {
            Some(t) => Some(t.init()?),
            None => None,
        };
        Ok(Pulse {
            inner: Arc::new(Inner {
                telemetry: Mutex::new(telemetry),
                layer: self.layer,
                shutting_down: AtomicBool::new(false),
                shutdown_notify: tokio::sync::Notify::new(),
            }),
        })
    }
}

/// Everything pulsecheck runs for one service. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Pulse {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    telemetry: Mutex<Option<Telemetry>>,
    layer: PulseLayer,
    shutting_down: AtomicBool,
    shutdown_notify: tokio::sync::Notify,
}

impl Pulse {
    /// A builder with defaults from the environment.
    pub fn builder() -> PulseBuilder {
        PulseBuilder::default()
    }

    /// The request layer; add it with `Router::layer` so it sees route templates.
    pub fn layer(&self) -> PulseLayer {
        self.inner.layer.clone()
    }

    /// Whether shutdown has begun (a signal arrived or [`Pulse::begin_shutdown`] was called).
    pub fn is_shutting_down(&self) -> bool {
        self.inner.shutting_down.load(Ordering::Acquire)
    }

    /// Marks the service as shutting down and wakes [`Pulse::shutdown_signal`].
    pub fn begin_shutdown(&self) {
        self.inner.shutting_down.store(true, Ordering::Release);
        self.inner.shutdown_notify.notify_waiters();
    }

    /// Completes on SIGTERM, Ctrl-C or [`Pulse::begin_shutdown`]; pass it to axum's
    /// `with_graceful_shutdown`.
    pub fn shutdown_signal(&self) -> impl Future<Output = ()> + Send + 'static {
        let pulse = self.clone();
        async move {
            let notified = pulse.inner.shutdown_notify.notified();
            if pulse.is_shutting_down() {
                return;
            }
            tokio::select! {
                _ = notified => {}
                _ = terminate() => {}
            }
            pulse.inner.shutting_down.store(true, Ordering::Release);
            tracing::info!(target: "pulsecheck", "shutdown signal received; draining");
        }
    }

    /// Flushes telemetry within its bound (5 s by default) and stops it. Safe to call twice.
    pub async fn shutdown(&self) -> Result<(), ShutdownError> {
        self.begin_shutdown();
        let telemetry = self
            .inner
            .telemetry
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        match telemetry {
            Some(t) => t.shutdown().await,
            None => Ok(()),
        }
    }

    /// How long [`Pulse::shutdown`] may take at most.
    pub fn shutdown_timeout(&self) -> Duration {
        crate::telemetry::SHUTDOWN_TIMEOUT_DEFAULT
    }
}

async fn terminate() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
