//! The instrumented service: everything that happens before the inner service is called.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::extract::MatchedPath;
use http::{Request, Response};
use opentelemetry::trace::{SpanContext, TraceContextExt};
use tracing::field::Empty;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::future::{ActiveRequest, RequestState, ResponseFuture, panic_message};
use super::instruments::MetricLabels;
use super::method::HttpMethod;
use super::request_id::RequestId;
use super::{Config, REQUEST_SPAN_TARGET, attributes, propagation};

/// The service produced by [`PulseLayer`](super::PulseLayer).
#[derive(Clone)]
pub struct PulseService<S> {
    inner: S,
    config: Arc<Config>,
}

impl<S> PulseService<S> {
    pub(crate) fn new(inner: S, config: Arc<Config>) -> Self {
        Self { inner, config }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: std::fmt::Debug> std::fmt::Debug for PulseService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PulseService")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

fn is_quiet_path(path: &str) -> bool {
    path == "/metrics" || path == "/health" || path.starts_with("/health/")
}

impl<S, ReqBody, ResBody> tower_service::Service<Request<ReqBody>> for PulseService<S>
where
    S: tower_service::Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: Default,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        let start = Instant::now();
        let config = &self.config;
        let method = HttpMethod::from_http(req.method());
        let route = req
            .extensions()
            .get::<MatchedPath>()
            .map(|p| config.routes.entry(p.as_str()));
        let (request_id, _) =
            RequestId::from_headers_or_generate(req.headers(), &config.request_id_header);
        let scheme = attributes::scheme(&req);
        let protocol_version = attributes::protocol_version(req.version());

        let span_name = match &route {
            Some(r) => r.span_name(method),
            None => method.span_prefix(),
        };
        let span = tracing::info_span!(
            target: REQUEST_SPAN_TARGET,
            "HTTP request",
            otel.name = span_name,
            otel.kind = "server",
            otel.status_code = Empty,
            http.request.method = method.as_str(),
            http.request.method_original = Empty,
            http.route = Empty,
            http.response.status_code = Empty,
            url.path = req.uri().path(),
            url.query = Empty,
            url.scheme = scheme,
            server.address = Empty,
            server.port = Empty,
            network.protocol.version = protocol_version,
            network.peer.address = Empty,
            network.peer.port = Empty,
            client.address = Empty,
            user_agent.original = Empty,
            request.id = request_id.as_str(),
            error.type = Empty,
        );

        let mut span_context = SpanContext::empty_context();
        if !span.is_disabled() {
            if method == HttpMethod::Other {
                span.record("http.request.method_original", req.method().as_str());
            }
            if let Some(r) = &route {
                span.record("http.route", &*r.template);
            }
            if let Some(q) = req.uri().query() {
                span.record("url.query", &*attributes::redact_query(q));
            }
            if let Some((host, port)) = attributes::server(&req) {
                span.record("server.address", host);
                if let Some(p) = port {
                    span.record("server.port", i64::from(p));
                }
            }
            let peer = attributes::peer(&req);
            if let Some(p) = peer {
                span.record("network.peer.address", p.ip().to_string());
                span.record("network.peer.port", i64::from(p.port()));
            }
            if let Some(c) = attributes::client(&req, peer) {
                span.record("client.address", c);
            }
            if let Some(ua) = req
                .headers()
                .get(http::header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
            {
                span.record("user_agent.original", ua);
            }
            // Must precede anything that starts the OTel span (`context()`, entering).
            let parent = propagation::extract(&*config.propagator, req.headers());
            let _ = span.set_parent(parent);
            span_context = span.context().span().span_context().clone();
        }

        let log_access = config.log_quiet_paths || !is_quiet_path(req.uri().path());
        let labels = MetricLabels {
            method,
            scheme,
            protocol_version,
        };
        let active = ActiveRequest::start(config.instruments(), labels);
        req.extensions_mut().insert(request_id.clone());

        let state = RequestState {
            start,
            method,
            route,
            request_id,
            span_context,
            access_path: log_access.then(|| req.uri().clone()),
            active,
            config: Arc::clone(config),
        };

        let inner = &mut self.inner;
        let called = span.in_scope(|| catch_unwind(AssertUnwindSafe(|| inner.call(req))));
        match called {
            Ok(fut) => ResponseFuture::new(fut, span, state),
            Err(payload) => ResponseFuture::panicked(panic_message(&*payload), span, state),
        }
    }
}
