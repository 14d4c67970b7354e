//! The instrumented service: everything that happens before the inner service is called.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::extract::MatchedPath;
use http::{Request, Response, StatusCode};
use opentelemetry::trace::{SpanBuilder, SpanKind};
use opentelemetry::{KeyValue, StringValue};
use opentelemetry_semantic_conventions::attribute as semconv;

use super::audit::Origin;
use super::future::{RequestState, ResponseFuture};
use super::headers::RequestHeaders;
use super::instruments::MetricLabels;
use super::limits::{ValueLimits, truncate};
use super::method::HttpMethod;
use super::request_id::CxRequestId;
use super::request_id::{IdSource, RequestId};
use super::{Config, attributes, propagation, repeated};

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

/// The declared body length, if the header is a plain number.
fn content_length(header: Option<&http::HeaderValue>) -> Option<u64> {
    std::str::from_utf8(header?.as_bytes()).ok()?.parse().ok()
}

fn is_quiet_path(path: &str) -> bool {
    path == "/metrics" || path == "/health" || path.starts_with("/health/")
}

/// `url.path` for the span and, if the request is logged, the access line's path, each cut to
/// its limit: one shared allocation when the cuts agree (the usual case), where a copy for
/// the span and a clone of the whole URI kept for the log cost two and more.
fn request_paths(
    path: &str,
    limits: &ValueLimits,
    logged: bool,
) -> (StringValue, Option<StringValue>) {
    let span: Arc<str> = Arc::from(truncate(path, limits.span));
    let access = logged.then(|| {
        let cut = truncate(path, limits.log);
        if cut.len() == span.len() {
            StringValue::from(Arc::clone(&span))
        } else {
            StringValue::from(cut.to_owned())
        }
    });
    (StringValue::from(span), access)
}

/// The attributes of a recorded span without failure: up to 12 in the builder, the request id
/// once it is recorded, the status code at the end.
const SPAN_ATTRIBUTES_CAPACITY: usize = 14;

/// Starts the SERVER span. The attributes go in the builder, where a sampler can see them (as
/// the semantic conventions ask) and the SDK takes them in one move; only those that cost an
/// allocation wait until the span is known to be recorded.
fn start_span<B>(
    config: &Config,
    req: &Request<B>,
    seen: &RequestHeaders<'_>,
    labels: &MetricLabels,
    route: Option<&super::route::RouteEntry>,
    request_id: &RequestId,
    path: StringValue,
) -> opentelemetry::Context {
    let MetricLabels {
        method,
        scheme,
        protocol_version,
    } = *labels;
    let parent = propagation::extract(&config.propagation, req.headers(), seen.trace_context);
    // Values the client chose are cut to the span limit: a span must not carry (and the
    // export queue hold) a 300 KB user agent.
    let limit = config.value_limits.span;
    let bounded = |v: &str| truncate(v, limit).to_owned();
    // Room for the attributes a recorded span usually ends with, so that the SDK, which
    // keeps this Vec, does not grow it.
    let mut attrs = Vec::with_capacity(SPAN_ATTRIBUTES_CAPACITY);
    attrs.push(KeyValue::new(semconv::HTTP_REQUEST_METHOD, method.as_str()));
    attrs.push(KeyValue::new(semconv::URL_PATH, path));
    attrs.push(KeyValue::new(semconv::URL_SCHEME, scheme));
    if let Some(r) = route {
        attrs.push(KeyValue::new(semconv::HTTP_ROUTE, r.span_route.clone()));
    }
    if let Some(v) = protocol_version {
        attrs.push(KeyValue::new(semconv::NETWORK_PROTOCOL_VERSION, v));
    }
    // Shared from the thread's last request when they repeat (`repeated`): no allocation.
    if let Some((host, port)) = attributes::server(req.uri(), seen.host, limit) {
        attrs.push(KeyValue::new(semconv::SERVER_ADDRESS, host));
        if let Some(p) = port {
            attrs.push(KeyValue::new(semconv::SERVER_PORT, i64::from(p)));
        }
    }
    let peer = attributes::peer(req);
    if let Some(p) = peer {
        attrs.push(KeyValue::new(
            semconv::NETWORK_PEER_ADDRESS,
            repeated::ip(&repeated::PEER_ADDRESS, p.ip()),
        ));
        attrs.push(KeyValue::new(
            semconv::NETWORK_PEER_PORT,
            i64::from(p.port()),
        ));
    }
    if let Some(c) = attributes::client(req.headers(), peer, &config.trusted_proxies) {
        attrs.push(KeyValue::new(
            semconv::CLIENT_ADDRESS,
            repeated::ip(&repeated::CLIENT_ADDRESS, c),
        ));
    }
    if let Some(ua) = seen.user_agent.and_then(|v| {
        repeated::header(&repeated::USER_AGENT_HEADER, v, limit, |text| {
            Some(StringValue::from(Arc::<str>::from(truncate(text, limit))))
        })
    }) {
        attrs.push(KeyValue::new(semconv::USER_AGENT_ORIGINAL, ua));
    }
    let name = route.map_or_else(|| method.span_prefix(), |r| r.span_name(method));
    let builder = SpanBuilder::from_name(name)
        .with_kind(SpanKind::Server)
        .with_attributes(attrs);
    config
        .tracer()
        .start(builder, &parent, |set| {
            if method == HttpMethod::Other {
                set(KeyValue::new(
                    semconv::HTTP_REQUEST_METHOD_ORIGINAL,
                    bounded(req.method().as_str()),
                ));
            }
            if let Some(q) = req.uri().query() {
                // Cut before redacting (bounded work), and after (`REDACTED` can be longer
                // than the value it replaces).
                set(KeyValue::new(
                    semconv::URL_QUERY,
                    bounded(&crate::redact::query(truncate(q, limit))),
                ));
            }
            set(KeyValue::new(
                super::REQUEST_ID_ATTRIBUTE,
                request_id.as_str().to_owned(),
            ));
        })
        .with_value(CxRequestId(request_id.clone()))
}

impl<S, ReqBody, ResBody> tower_service::Service<Request<ReqBody>> for PulseService<S>
where
    S: tower_service::Service<Request<ReqBody>, Response = Response<ResBody>>,
    // `'static`: a timeout error is recognised by its type.
    S::Error: 'static,
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
        let seen = RequestHeaders::scan(req.headers(), &config.request_id_header);
        let (request_id, id_source) = RequestId::from_header_or_generate(seen.request_id);
        let labels = MetricLabels {
            method,
            scheme: attributes::scheme(req.uri(), seen.forwarded_proto),
            protocol_version: attributes::protocol_version(req.version()),
        };
        let log_access = config.log_quiet_paths || !is_quiet_path(req.uri().path());
        let (span_path, access_path) =
            request_paths(req.uri().path(), &config.value_limits, log_access);
        let cx = start_span(
            config,
            &req,
            &seen,
            &labels,
            route.as_deref(),
            &request_id,
            span_path,
        );
        // Judged here, while the headers seen are borrowed; reported below, in the request's
        // context.
        let oversized = config.max_request_bytes.and_then(|limit| {
            let declared = content_length(seen.content_length)?;
            (declared > limit).then_some((declared, limit))
        });
        let active = config.instruments().map(|i| i.start_request(&labels));
        req.extensions_mut().insert(request_id.clone());

        let state = RequestState {
            cx,
            recorded: false,
            start,
            method,
            route,
            request_id,
            access_path,
            labels,
            _active: active,
            config: Arc::clone(config),
        };

        // Rare paths: reported inside the request's context, so that the audit lines carry its
        // trace and request ids.
        if oversized.is_some() || matches!(id_source, IdSource::Rejected { .. }) {
            let _attached = state.cx.clone().attach();
            let origin = Origin::of(&req, &config.trusted_proxies);
            if let IdSource::Rejected { len } = id_source {
                config.audit.header_rejected(
                    &config.request_id_header,
                    len,
                    "request id is not 1-128 characters of [A-Za-z0-9._:-]; replaced",
                    req.uri().path(),
                    origin,
                );
            }
            if let Some((declared, limit)) = oversized {
                config.audit.oversized(
                    declared,
                    limit,
                    config.reject_oversized,
                    req.uri().path(),
                    origin,
                );
                if config.reject_oversized {
                    return ResponseFuture::rejected(StatusCode::PAYLOAD_TOO_LARGE, state);
                }
            }
        }

        let inner = &mut self.inner;
        let called = {
            let _attached = state.cx.clone().attach();
            catch_unwind(AssertUnwindSafe(|| inner.call(req)))
        };
        match called {
            Ok(fut) => ResponseFuture::new(fut, state),
            Err(payload) => {
                ResponseFuture::panicked(crate::panic_text::panic_text(&*payload), state)
            }
        }
    }
}
