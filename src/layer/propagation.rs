//! W3C trace context in and out: extraction of the caller's context and the trace id returned
//! to the caller.

use http::{HeaderMap, HeaderValue};
use opentelemetry::propagation::{TextMapCompositePropagator, TextMapPropagator};
use opentelemetry::trace::SpanContext;
use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};

/// Which response headers carry the trace id back to the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TraceResponseHeaders {
    /// Both `traceresponse` (W3C Trace Context level 2) and `x-trace-id`.
    #[default]
    Both,
    /// Only `traceresponse: 00-{trace-id}-{span-id}-{flags}`.
    TraceResponse,
    /// Only `x-trace-id: {trace-id}`.
    XTraceId,
    /// Neither.
    None,
}

pub(crate) static TRACERESPONSE: http::HeaderName = http::HeaderName::from_static("traceresponse");
pub(crate) static X_TRACE_ID: http::HeaderName = http::HeaderName::from_static("x-trace-id");

/// W3C tracecontext + baggage, the propagators the layer uses unless told otherwise.
pub(crate) fn default_propagator() -> TextMapCompositePropagator {
    TextMapCompositePropagator::new(vec![
        Box::new(TraceContextPropagator::new()),
        Box::new(BaggagePropagator::new()),
    ])
}

pub(crate) fn extract(
    propagator: &(dyn TextMapPropagator + Send + Sync),
    headers: &HeaderMap,
) -> opentelemetry::Context {
    propagator.extract(&opentelemetry_http::HeaderExtractor(headers))
}

impl TraceResponseHeaders {
    pub(crate) fn write(self, sc: &SpanContext, headers: &mut HeaderMap) {
        use std::io::Write as _;
        if self == Self::None || !sc.is_valid() {
            return;
        }
        // `00-` + 32 + `-` + 16 + `-` + 2, formatted on the stack.
        let mut buf = [0u8; 55];
        let mut cursor = std::io::Cursor::new(&mut buf[..]);
        let written = write!(
            cursor,
            "00-{}-{}-{:02x}",
            sc.trace_id(),
            sc.span_id(),
            sc.trace_flags().to_u8()
        );
        if written.is_err() {
            return;
        }
        if matches!(self, Self::Both | Self::TraceResponse)
            && let Ok(v) = HeaderValue::from_bytes(&buf)
        {
            headers.insert(TRACERESPONSE.clone(), v);
        }
        if matches!(self, Self::Both | Self::XTraceId)
            && let Ok(v) = HeaderValue::from_bytes(&buf[3..35])
        {
            headers.insert(X_TRACE_ID.clone(), v);
        }
    }
}
