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
        if self == Self::None || !sc.is_valid() {
            return;
        }
        // `00-` + 32 + `-` + 16 + `-` + 2, written on the stack.
        let mut buf = *b"00-________________________________-________________-__";
        let hex_into = |out: &mut [u8], bytes: &[u8]| hex::encode_to_slice(bytes, out).is_ok();
        let written = hex_into(&mut buf[3..35], &sc.trace_id().to_bytes())
            && hex_into(&mut buf[36..52], &sc.span_id().to_bytes())
            && hex_into(&mut buf[53..55], &[sc.trace_flags().to_u8()]);
        if !written {
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

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{SpanId, TraceFlags, TraceId, TraceState};

    #[test]
    fn response_headers_carry_the_w3c_ids() {
        let sc = SpanContext::new(
            TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
            SpanId::from_hex("00f067aa0ba902b7").unwrap(),
            TraceFlags::SAMPLED,
            false,
            TraceState::default(),
        );
        let mut headers = HeaderMap::new();
        TraceResponseHeaders::Both.write(&sc, &mut headers);
        assert_eq!(
            headers[&TRACERESPONSE],
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        );
        assert_eq!(headers[&X_TRACE_ID], "4bf92f3577b34da6a3ce929d0e0e4736");
        let mut headers = HeaderMap::new();
        TraceResponseHeaders::XTraceId.write(&sc, &mut headers);
        assert!(headers.get(&TRACERESPONSE).is_none());
        assert_eq!(headers.len(), 1);
    }
}
