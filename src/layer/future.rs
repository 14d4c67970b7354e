//! The response future: completes the span, the metrics and the recorder call.

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use http::{Response, StatusCode};
use opentelemetry::KeyValue;
use opentelemetry::trace::{Status, TraceContextExt};
use opentelemetry_semantic_conventions::attribute as semconv;
use pin_project_lite::pin_project;

use super::access_log::{self, AccessLine};
use super::classify::{DependencyFailure, ErrorClass};
use super::instruments::{ActiveRequest, MetricLabels};
use super::method::HttpMethod;
use super::recorder::RequestRecord;
use super::request_id::RequestId;
use super::route::RouteEntry;
use super::{
    CANCELLED_ERROR_TYPE, CANCELLED_STATUS, Config, DEPENDENCY_ATTRIBUTE, ERROR_CLASS_ATTRIBUTE,
};

pin_project! {
    /// Response future of [`PulseService`](super::PulseService).
    ///
    /// Dropped before it completes (the client hung up and hyper dropped it), it still
    /// records the request, once, as [`CANCELLED_STATUS`](super::CANCELLED_STATUS).
    pub struct ResponseFuture<F> {
        // Declared first, so dropped first: the handler's own spans and guards go before the
        // server span ends.
        #[pin]
        kind: Kind<F>,
        state: Option<RequestState>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F> {
        Future { #[pin] fut: F },
        Panicked { message: String },
        Rejected { status: StatusCode },
    }
}

/// Everything needed to record the request, whichever way it ends: [`RequestState::finish`]
/// with a response, or [`Drop`] without one.
pub(crate) struct RequestState {
    /// The request's context (its server span and request id).
    pub(crate) cx: opentelemetry::Context,
    /// Set once the request is recorded, so a drop after a response records nothing more.
    pub(crate) recorded: bool,
    pub(crate) start: Instant,
    pub(crate) method: HttpMethod,
    pub(crate) route: Option<Arc<RouteEntry>>,
    pub(crate) request_id: RequestId,
    /// The path for the access line (cut to the log limit), if the request is logged.
    pub(crate) access_path: Option<opentelemetry::StringValue>,
    pub(crate) labels: MetricLabels,
    /// Dropped with the state: the request stops counting as active however it ends.
    pub(crate) _active: Option<ActiveRequest>,
    pub(crate) config: Arc<Config>,
}

impl<F> ResponseFuture<F> {
    pub(crate) fn new(fut: F, state: RequestState) -> Self {
        Self {
            kind: Kind::Future { fut },
            state: Some(state),
        }
    }

    /// Answered by the layer itself, without calling the service.
    pub(crate) fn rejected(status: StatusCode, state: RequestState) -> Self {
        Self {
            kind: Kind::Rejected { status },
            state: Some(state),
        }
    }

    pub(crate) fn panicked(message: String, state: RequestState) -> Self {
        Self {
            kind: Kind::Panicked { message },
            state: Some(state),
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: Default,
    E: 'static,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Some(request_cx) = this.state.as_ref().map(|s| s.cx.clone()) else {
            // Polled after completion: the inner future's contract is broken already.
            return Poll::Pending;
        };
        // The request's context is current while the handler runs: its `tracing` spans become
        // children of the server span, and log lines and records carry its ids.
        let _attached = request_cx.attach();
        let outcome = match this.kind.project() {
            KindProj::Future { fut } => match catch_unwind(AssertUnwindSafe(|| fut.poll(cx))) {
                Ok(poll) => Outcome::Done(ready!(poll)),
                Err(payload) => Outcome::Panic(crate::panic_text::panic_text(&*payload)),
            },
            KindProj::Panicked { message } => Outcome::Panic(std::mem::take(message)),
            KindProj::Rejected { status } => Outcome::Rejected(*status),
        };
        let Some(state) = this.state.take() else {
            return Poll::Pending;
        };
        Poll::Ready(match outcome {
            Outcome::Done(Ok(mut response)) => {
                let status = response.status();
                let failure = ErrorClass::of(status, response.extensions()).map(|class| Failure {
                    class,
                    error_type: None,
                    dependency: response
                        .extensions()
                        .get::<DependencyFailure>()
                        .map(|d| d.0),
                    panic: None,
                });
                state.finish(status, failure, Some(&mut response));
                Ok(response)
            }
            Outcome::Done(Err(e)) => {
                let class = ErrorClass::of_error(&e);
                let failure = Failure {
                    class,
                    // Semantic conventions: a low-cardinality identifier when no status was
                    // sent; `timeout` is one of their examples.
                    error_type: Some(if class == ErrorClass::Timeout {
                        "timeout"
                    } else {
                        "_OTHER"
                    }),
                    dependency: None,
                    panic: None,
                };
                state.finish::<B>(StatusCode::INTERNAL_SERVER_ERROR, Some(failure), None);
                Err(e)
            }
            Outcome::Rejected(status) => {
                let mut response = Response::new(B::default());
                *response.status_mut() = status;
                let failure = ErrorClass::of(status, response.extensions()).map(|class| Failure {
                    class,
                    error_type: None,
                    dependency: None,
                    panic: None,
                });
                state.finish(status, failure, Some(&mut response));
                Ok(response)
            }
            Outcome::Panic(message) => {
                state.cx.span().add_event(
                    "exception",
                    vec![
                        KeyValue::new(semconv::EXCEPTION_TYPE, "panic"),
                        KeyValue::new(semconv::EXCEPTION_MESSAGE, message.clone()),
                    ],
                );
                let mut response = Response::new(B::default());
                *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
                let failure = Failure {
                    class: ErrorClass::Panic,
                    error_type: None,
                    dependency: None,
                    panic: Some(message),
                };
                state.finish(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    Some(failure),
                    Some(&mut response),
                );
                Ok(response)
            }
        })
    }
}

enum Outcome<T> {
    Done(T),
    Panic(String),
    Rejected(StatusCode),
}

/// How a failed request failed.
struct Failure {
    class: ErrorClass,
    /// `error.type` when no error status code says it (the inner service's error).
    error_type: Option<&'static str>,
    dependency: Option<&'static str>,
    panic: Option<String>,
}

impl RequestState {
    /// Records a request that was answered (500 when the inner service failed).
    fn finish<B>(
        mut self,
        status: StatusCode,
        failure: Option<Failure>,
        response: Option<&mut Response<B>>,
    ) {
        self.recorded = true;
        self.record(Some(status), failure, response);
    }

    /// Records the request once: span, duration metric, recorder, access log. `status` is
    /// `None` for a request dropped before its response.
    fn record<B>(
        &self,
        status: Option<StatusCode>,
        failure: Option<Failure>,
        response: Option<&mut Response<B>>,
    ) {
        let duration = self.start.elapsed();
        let code = status.map_or(CANCELLED_STATUS, |s| s.as_u16());
        let error_override = failure.as_ref().and_then(|f| f.error_type);
        let is_error = status.is_some_and(|s| s.is_server_error()) || error_override.is_some();
        let error_type: Option<opentelemetry::Value> = if !is_error {
            None
        } else if let Some(e) = error_override {
            Some(e.into())
        } else {
            Some(code.to_string().into())
        };

        let span = self.cx.span();
        let span_context = span.span_context().clone();
        // No response, no status code (semantic conventions): `error.type` says why.
        if status.is_some() {
            span.set_attribute(KeyValue::new(
                semconv::HTTP_RESPONSE_STATUS_CODE,
                i64::from(code),
            ));
        }
        if let Some(e) = &error_type {
            span.set_attribute(KeyValue::new(semconv::ERROR_TYPE, e.clone()));
            // The status code or `error.type` says it all: no description (semantic
            // conventions).
            span.set_status(Status::error(""));
        }
        if let Some(f) = &failure {
            span.set_attribute(KeyValue::new(ERROR_CLASS_ATTRIBUTE, f.class.as_str()));
            if let Some(d) = f.dependency {
                span.set_attribute(KeyValue::new(DEPENDENCY_ATTRIBUTE, d));
            }
        }

        if let Some(response) = response {
            let headers = response.headers_mut();
            headers.insert(
                self.config.request_id_header.clone(),
                self.request_id.header_value().clone(),
            );
            self.config.trace_headers.write(&span_context, headers);
        }

        if let Some(instruments) = self.config.instruments() {
            instruments.record_duration(
                duration.as_secs_f64(),
                &self.labels,
                status.map(|_| code),
                self.route.as_ref().map(|r| (r.id, &r.metric_route)),
            );
        }

        // Only a sampled trace is exported anywhere: an unsampled id (a caller's
        // `traceparent` with flags 00, a ratio sampler) would be an exemplar or a slow-request
        // example that leads to no trace.
        let trace_id =
            (span_context.is_valid() && span_context.is_sampled()).then(|| span_context.trace_id());
        self.config.recorder.record(&RequestRecord {
            method: self.method,
            route: self.route.as_ref().map(|r| r.id),
            status: code,
            duration,
            trace_id,
        });

        let ms = duration.as_secs_f64() * 1000.0;
        let path = self.access_path.as_ref().map(|p| p.as_str());
        let mut line = AccessLine {
            level: tracing::Level::INFO,
            message: "request completed",
            method: self.method.as_str(),
            path,
            route: self.route.as_ref().map(|r| &r.span_route),
            status: code,
            duration_ms: ms,
            error_class: None,
            error_type: None,
            dependency: None,
            panic_message: None,
            span_context: &span_context,
            request_id: self.request_id.as_str(),
        };
        match &failure {
            None => {
                if path.is_some() {
                    access_log::emit(&line);
                }
            }
            // A probe that hung up is not news; any other abandoned request is.
            Some(f) if f.class == ErrorClass::Cancelled => {
                if path.is_some() {
                    line.level = tracing::Level::WARN;
                    line.message = "request cancelled";
                    line.error_class = Some(f.class.as_str());
                    line.error_type = Some(CANCELLED_ERROR_TYPE);
                    access_log::emit(&line);
                }
            }
            // One line per failed request, at its class's level. Failures of the service
            // itself are logged on probe paths too; a 503 from an unhealthy `/health` or a 401
            // on `/metrics` (audited separately) are not, or probes would flood the log.
            Some(f)
                if path.is_some()
                    || matches!(f.class, ErrorClass::ServerError | ErrorClass::Panic) =>
            {
                line.level = f.class.level();
                line.message = "request failed";
                line.error_class = Some(f.class.as_str());
                // The status code for an HTTP error (semantic conventions), else what
                // failed: `timeout`, `_OTHER`, or the class of a marked 2xx.
                line.error_type = Some(error_override.unwrap_or(match &status {
                    Some(s) if code >= 400 => s.as_str(),
                    _ => f.class.as_str(),
                }));
                line.dependency = f.dependency;
                line.panic_message = f.panic.as_deref();
                access_log::emit(&line);
            }
            Some(_) => {}
        }
        span.end();
    }
}

/// A request dropped before its response (the client hung up and hyper dropped the future, or
/// an outer layer gave up on it) is recorded here, at the drop, once: as
/// [`CANCELLED_STATUS`] with the time until now as its duration.
impl Drop for RequestState {
    fn drop(&mut self) {
        if std::mem::replace(&mut self.recorded, true) {
            return;
        }
        // A drop must not panic (it may run while unwinding): a panicking recorder is
        // contained here.
        let _ = catch_unwind(AssertUnwindSafe(|| {
            let _attached = self.cx.clone().attach();
            self.record::<()>(
                None,
                Some(Failure {
                    class: ErrorClass::Cancelled,
                    error_type: Some(CANCELLED_ERROR_TYPE),
                    dependency: None,
                    panic: None,
                }),
                None,
            );
        }));
    }
}
