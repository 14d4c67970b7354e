//! The tower layer that instruments every request: correlation id, W3C context, one SERVER span
//! following the HTTP semantic conventions, `http.server.*` metrics, and one call into a
//! [`Recorder`] for the in-process aggregator.
//!
//! The server span is started with the OpenTelemetry tracer directly (not through `tracing`,
//! which costs several times more), and its context is current while the handler runs: the
//! handler's `tracing` spans, through tracing-opentelemetry, become its children, and log lines
//! carry its trace id and the request id ([`RequestId::current`]).
//!
//! Each failed request is classified ([`ErrorClass`]: client error, server error, timeout,
//! dependency failure, panic) and logged once, on target [`ACCESS_LOG_TARGET`], at the level
//! of its class with `error.class` and `error.type`; the span gets [`ERROR_CLASS_ATTRIBUTE`].
//! A request dropped before its response (the client hung up) is recorded at the drop, as
//! [`CANCELLED_STATUS`] (499) with the time until then as its duration.
//! A panicking handler is caught here and answered 500 (so a tower-http `CatchPanicLayer`
//! outside this layer never sees it; one inside turns it into a plain 500 first). Hostile
//! request ids and oversized requests are reported to the [`AuditLog`].
//!
//! Add it with [`Router::layer`](axum::Router::layer) so that it runs inside routing and sees
//! the route template ([`MatchedPath`](axum::extract::MatchedPath)); requests that match no route
//! are named by their method only, never by their raw path.
//!
//! # Example
//!
//! ```
//! use axum::{Router, body::Body, routing::get};
//! use http::Request;
//! use pulsecheck::layer::PulseLayer;
//! use tower::ServiceExt;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let app = Router::new()
//!     .route("/users/{id}", get(|| async { "hi" }))
//!     .layer(PulseLayer::new());
//!
//! let response = app
//!     .oneshot(Request::get("/users/7").header("x-request-id", "abc-1").body(Body::empty()).unwrap())
//!     .await
//!     .unwrap();
//! assert_eq!(response.status(), 200);
//! assert_eq!(response.headers()["x-request-id"], "abc-1");
//! # }
//! ```

pub(crate) mod access_log;
pub(crate) mod attributes;
pub mod audit;
mod classify;
mod forwarded;
mod future;
mod headers;
mod hex;
mod instruments;
pub(crate) mod limits;
mod method;
mod propagation;
mod recorder;
mod repeated;
mod request_id;
mod route;
mod service;
mod tracer;

use std::sync::{Arc, OnceLock};

use http::HeaderName;
use opentelemetry::propagation::TextMapPropagator;

use audit::AuditLog;

pub use classify::{DependencyFailure, ErrorClass};
pub use forwarded::{TrustedProxies, TrustedProxiesError};
pub use future::ResponseFuture;
pub use instruments::DURATION_BOUNDARIES;
pub use method::HttpMethod;
pub use propagation::TraceResponseHeaders;
pub(crate) use propagation::default_propagator;
pub use recorder::{Recorder, RequestRecord};
pub use request_id::{MAX_REQUEST_ID_LEN, RequestId};
pub use route::{DEFAULT_MAX_ROUTES, OVERFLOW_ROUTE, RouteId, RouteTable};
pub use service::PulseService;

/// The span and log-record attribute carrying the correlation id. OpenTelemetry has no
/// standard name for it.
pub const REQUEST_ID_ATTRIBUTE: &str = "request.id";
/// Target of the one access-log event per request.
pub const ACCESS_LOG_TARGET: &str = "pulsecheck::access";

/// Span attribute naming the [`ErrorClass`] of a failed request. Not a semantic convention
/// (hence the namespace): `error.type` keeps its standard meaning.
pub const ERROR_CLASS_ATTRIBUTE: &str = "pulsecheck.error.class";
/// Span attribute naming the dependency of a [`DependencyFailure`].
pub const DEPENDENCY_ATTRIBUTE: &str = "pulsecheck.dependency";
/// The status a request is recorded with when it is dropped before its response (the client
/// hung up, so hyper dropped the handler's future, or an outer layer gave up on it): nginx's
/// "client closed request". No such response is ever sent; the aggregator, `/metrics` and the
/// access log count the request under this code, while the span and the OpenTelemetry duration
/// metric carry no status code and [`CANCELLED_ERROR_TYPE`] instead (semantic conventions).
pub const CANCELLED_STATUS: u16 = 499;
/// `error.type` of a request dropped before its response (see [`CANCELLED_STATUS`]).
pub const CANCELLED_ERROR_TYPE: &str = "cancelled";
/// Default [`PulseLayer::max_request_bytes`]: axum's default body limit, past which its
/// extractors refuse a body anyway.
pub const MAX_REQUEST_BYTES_DEFAULT: u64 = 2 * 1024 * 1024;

/// The default request id header.
pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Instruments requests. See the [module docs](self) for an example.
#[derive(Clone)]
pub struct PulseLayer {
    config: Arc<Config>,
}

#[derive(Clone)]
pub(crate) struct Config {
    pub(crate) request_id_header: HeaderName,
    pub(crate) trace_headers: TraceResponseHeaders,
    pub(crate) propagation: propagation::Propagation,
    pub(crate) routes: Arc<RouteTable>,
    pub(crate) recorder: Arc<dyn Recorder>,
    pub(crate) log_quiet_paths: bool,
    pub(crate) metrics: bool,
    pub(crate) instruments: Arc<OnceLock<instruments::Instruments>>,
    pub(crate) tracer: Arc<OnceLock<tracer::LayerTracer>>,
    pub(crate) audit: AuditLog,
    pub(crate) max_request_bytes: Option<u64>,
    pub(crate) reject_oversized: bool,
    pub(crate) trusted_proxies: Arc<TrustedProxies>,
    /// Byte limits on request-derived span attributes and log fields.
    pub(crate) value_limits: limits::ValueLimits,
    /// Run once where the layer binds its instruments to the global meter (the first
    /// request): [`Pulse`](crate::Pulse) registers its health and system gauges there, on the
    /// provider the service installed by then.
    pub(crate) on_bind: Option<Arc<dyn Fn() + Send + Sync>>,
}

impl Config {
    pub(crate) fn tracer(&self) -> &tracer::LayerTracer {
        self.tracer
            .get_or_init(|| tracer::LayerTracer::Boxed(crate::instrumentation::tracer()))
    }

    pub(crate) fn instruments(&self) -> Option<&instruments::Instruments> {
        if !self.metrics {
            return None;
        }
        Some(self.instruments.get_or_init(|| {
            if let Some(bind) = &self.on_bind {
                bind();
            }
            instruments::Instruments::from_global(self.routes.capacity())
        }))
    }
}

impl Default for PulseLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for PulseLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PulseLayer")
            .field("request_id_header", &self.config.request_id_header)
            .field("trace_headers", &self.config.trace_headers)
            .field("routes", &self.config.routes.capacity())
            .field("log_quiet_paths", &self.config.log_quiet_paths)
            .field("metrics", &self.config.metrics)
            .field("audit", &self.config.audit)
            .field("max_request_bytes", &self.config.max_request_bytes)
            .field("reject_oversized", &self.config.reject_oversized)
            .field("trusted_proxies", &self.config.trusted_proxies)
            .field("value_limits", &self.config.value_limits)
            .finish_non_exhaustive()
    }
}

impl PulseLayer {
    /// A layer with the defaults: `x-request-id`, W3C tracecontext + baggage, both trace
    /// response headers, 256 tracked routes, metrics on, no recorder. Request-derived span
    /// attributes and log fields are cut to
    /// [`OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT`](crate::env::OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT)
    /// and
    /// [`OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT`](crate::env::OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT)
    /// bytes (each falling back to
    /// [`OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT`](crate::env::OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT),
    /// then to 2048),
    /// read here.
    pub fn new() -> Self {
        Self {
            config: Arc::new(Config {
                request_id_header: X_REQUEST_ID.clone(),
                trace_headers: TraceResponseHeaders::default(),
                propagation: propagation::Propagation::W3c,
                routes: Arc::new(RouteTable::default()),
                recorder: Arc::new(()),
                log_quiet_paths: false,
                metrics: true,
                instruments: Arc::new(OnceLock::new()),
                tracer: Arc::new(OnceLock::new()),
                audit: AuditLog::default(),
                max_request_bytes: Some(MAX_REQUEST_BYTES_DEFAULT),
                reject_oversized: false,
                trusted_proxies: Arc::new(TrustedProxies::none()),
                value_limits: limits::ValueLimits::from_env(),
                on_bind: None,
            }),
        }
    }

    /// Runs `bind` once, when the layer binds its instruments to the global meter provider.
    pub(crate) fn on_bind(mut self, bind: impl Fn() + Send + Sync + 'static) -> Self {
        self.config_mut().on_bind = Some(Arc::new(bind));
        self
    }

    fn config_mut(&mut self) -> &mut Config {
        Arc::make_mut(&mut self.config)
    }

    /// The header that carries the correlation id in and out. Defaults to `x-request-id`.
    pub fn request_id_header(mut self, name: HeaderName) -> Self {
        self.config_mut().request_id_header = name;
        self
    }

    /// Which response headers return the trace id. Defaults to [`TraceResponseHeaders::Both`].
    pub fn trace_response_headers(mut self, which: TraceResponseHeaders) -> Self {
        self.config_mut().trace_headers = which;
        self
    }

    /// The propagator used to extract the caller's context. Defaults to W3C tracecontext +
    /// baggage, whatever the global propagator is.
    pub fn propagator(mut self, p: impl TextMapPropagator + Send + Sync + 'static) -> Self {
        self.config_mut().propagation = propagation::Propagation::Custom(Arc::new(p));
        self
    }

    /// Share a route table (and its cap) with other components. Defaults to a table of
    /// [`DEFAULT_MAX_ROUTES`] routes.
    pub fn routes(mut self, routes: Arc<RouteTable>) -> Self {
        self.config_mut().routes = routes;
        self
    }

    /// Receive one [`RequestRecord`] per finished request. Defaults to `()` (nothing).
    pub fn recorder(mut self, recorder: impl Recorder) -> Self {
        self.config_mut().recorder = Arc::new(recorder);
        self
    }

    /// Log the access line for `/health*` and `/metrics` requests too. Defaults to `false`:
    /// probes every few seconds would drown the log.
    pub fn log_health_requests(mut self, on: bool) -> Self {
        self.config_mut().log_quiet_paths = on;
        self
    }

    /// Record `http.server.request.duration` and `http.server.active_requests`. Defaults to
    /// `true`. The instruments come from the global meter provider when the first request
    /// arrives, so install providers before serving.
    pub fn metrics(mut self, on: bool) -> Self {
        self.config_mut().metrics = on;
        self
    }

    /// Record metrics with this meter instead of the global meter provider's. Defaults to the
    /// global provider at the first request.
    pub fn meter(mut self, meter: &opentelemetry::metrics::Meter) -> Self {
        let config = self.config_mut();
        config.metrics = true;
        config.instruments = Arc::new(OnceLock::from(instruments::Instruments::new(
            meter,
            config.routes.capacity(),
        )));
        self
    }

    /// Start server spans with this tracer instead of the global tracer provider's. Defaults
    /// to the global provider at the first request, so install providers before serving.
    pub fn tracer<T>(mut self, tracer: T) -> Self
    where
        T: opentelemetry::trace::Tracer + Send + Sync + 'static,
        T::Span: Send + Sync + 'static,
    {
        self.config_mut().tracer = Arc::new(OnceLock::from(tracer::LayerTracer::new(tracer)));
        self
    }

    /// Where security events (hostile headers, oversized requests, and with [`Pulse`]
    /// the admin endpoints' denials) are reported. Defaults to [`AuditLog::default`].
    ///
    /// [`Pulse`]: crate::Pulse
    pub fn audit_log(mut self, audit: AuditLog) -> Self {
        self.config_mut().audit = audit;
        self
    }

    /// The audit log this layer reports to.
    pub fn audit(&self) -> &AuditLog {
        &self.config.audit
    }

    /// A request whose `Content-Length` exceeds `limit` bytes is reported in the audit log
    /// (and refused with 413 if [`reject_oversized`](Self::reject_oversized) is on); `None`
    /// turns the check off. A chunked body has no declared length and is not seen here: limit
    /// it where it is read (axum's `DefaultBodyLimit`). Defaults to
    /// [`MAX_REQUEST_BYTES_DEFAULT`] (2 MiB).
    pub fn max_request_bytes(mut self, limit: Option<u64>) -> Self {
        self.config_mut().max_request_bytes = limit;
        self
    }

    /// Answer 413 to requests over [`max_request_bytes`](Self::max_request_bytes) without
    /// calling the service. Defaults to `false`: they are only logged.
    pub fn reject_oversized(mut self, on: bool) -> Self {
        self.config_mut().reject_oversized = on;
        self
    }

    /// The proxies whose `X-Forwarded-For` is believed for `client.address` and the audit log.
    /// Defaults to none: the client is the socket peer (which needs
    /// `into_make_service_with_connect_info`), whatever headers it sends. See
    /// [`TrustedProxies`]; [`Pulse`](crate::Pulse) reads
    /// [`PULSE_TRUSTED_PROXIES`](crate::env::PULSE_TRUSTED_PROXIES).
    pub fn trusted_proxies(mut self, proxies: TrustedProxies) -> Self {
        self.config_mut().trusted_proxies = Arc::new(proxies);
        self
    }

    /// The proxies this layer trusts.
    pub fn trusted(&self) -> &Arc<TrustedProxies> {
        &self.config.trusted_proxies
    }

    /// The route table this layer fills.
    pub fn route_table(&self) -> &Arc<RouteTable> {
        &self.config.routes
    }
}

impl<S> tower_layer::Layer<S> for PulseLayer {
    type Service = PulseService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        PulseService::new(inner, Arc::clone(&self.config))
    }
}
