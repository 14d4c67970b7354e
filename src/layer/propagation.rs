//! W3C trace context in and out: extraction of the caller's context and the trace id returned
//! to the caller.

use std::sync::{Arc, LazyLock};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};
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

/// How the layer reads the caller's context from the request headers.
#[derive(Clone)]
pub(crate) enum Propagation {
    /// W3C tracecontext + baggage ([`default_propagator`]).
    W3c,
    /// The propagator the service chose.
    Custom(Arc<dyn TextMapPropagator + Send + Sync>),
}

static W3C: LazyLock<TextMapCompositePropagator> = LazyLock::new(default_propagator);

/// The caller's context, on top of the current one. `trace_context`: the request carries a
/// `traceparent` or `baggage` header ([`RequestHeaders`](super::headers::RequestHeaders)).
pub(crate) fn extract(
    propagation: &Propagation,
    headers: &HeaderMap,
    trace_context: bool,
) -> opentelemetry::Context {
    match propagation {
        // Most requests carry no trace context. Both W3C propagators then return the current
        // context unchanged, after a dynamic call, a context clone and a header lookup each
        // (~600 instructions).
        Propagation::W3c if !trace_context => opentelemetry::Context::current(),
        Propagation::W3c => W3C.extract(&Extractor(headers)),
        Propagation::Custom(p) => p.extract(&Extractor(headers)),
    }
}

/// `opentelemetry_http::HeaderExtractor`, except that the W3C headers are looked up by a
/// constant `HeaderName`: a text key is parsed and checked on every lookup (three per request,
/// ~300 instructions in all).
struct Extractor<'a>(&'a HeaderMap);

pub(crate) static TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
static TRACESTATE: HeaderName = HeaderName::from_static("tracestate");
pub(crate) static BAGGAGE: HeaderName = HeaderName::from_static("baggage");

impl Extractor<'_> {
    fn values(&self, key: &str) -> http::header::GetAll<'_, HeaderValue> {
        match key {
            "traceparent" => self.0.get_all(&TRACEPARENT),
            "tracestate" => self.0.get_all(&TRACESTATE),
            "baggage" => self.0.get_all(&BAGGAGE),
            _ => self.0.get_all(key),
        }
    }
}

impl opentelemetry::propagation::Extractor for Extractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.values(key).iter().next()?.to_str().ok()
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }

    fn get_all(&self, key: &str) -> Option<Vec<&str>> {
        let mut values = self.values(key).iter().peekable();
        values.peek()?;
        Some(values.filter_map(|v| v.to_str().ok()).collect())
    }
}

impl TraceResponseHeaders {
    pub(crate) fn write(self, sc: &SpanContext, headers: &mut HeaderMap) {
        if self == Self::None || !sc.is_valid() {
            return;
        }
        // `00-` + 32 + `-` + 16 + `-` + 2, written on the stack.
        let mut buf = *b"00-________________________________-________________-__";
        super::hex::encode(&sc.trace_id().to_bytes(), &mut buf[3..35]);
        super::hex::encode(&sc.span_id().to_bytes(), &mut buf[36..52]);
        super::hex::encode(&[sc.trace_flags().to_u8()], &mut buf[53..55]);
        // One allocation that both headers share (the trace id is a slice of the
        // `traceresponse` text), checked by nobody again.
        let text = Bytes::from_owner(buf);
        let trace_id = matches!(self, Self::Both | Self::XTraceId).then(|| text.slice(3..35));
        if matches!(self, Self::Both | Self::TraceResponse) {
            // SAFETY: lower-case hex digits and `-` (every `_` of the template is overwritten
            // above), visible ASCII as a header value must be. Debug builds check it again.
            let v = unsafe { HeaderValue::from_maybe_shared_unchecked(text) };
            headers.insert(TRACERESPONSE.clone(), v);
        }
        if let Some(id) = trace_id {
            // SAFETY: as above, a slice of the same hex digits.
            let v = unsafe { HeaderValue::from_maybe_shared_unchecked(id) };
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

    #[test]
    fn extraction_reads_the_w3c_headers_as_the_http_extractor_does() {
        use opentelemetry::propagation::Extractor as _;
        let mut headers = HeaderMap::new();
        headers.insert("traceparent", HeaderValue::from_static("00-ab-cd-01"));
        headers.append("baggage", HeaderValue::from_static("a=1"));
        headers.append("baggage", HeaderValue::from_static("b=2"));
        headers.insert("x-other", HeaderValue::from_static("v"));
        let ours = Extractor(&headers);
        let theirs = opentelemetry_http::HeaderExtractor(&headers);
        for key in ["traceparent", "tracestate", "baggage", "x-other", "missing"] {
            assert_eq!(ours.get(key), theirs.get(key), "{key}");
            assert_eq!(ours.get_all(key), theirs.get_all(key), "{key}");
        }
        assert_eq!(ours.get_all("baggage"), Some(vec!["a=1", "b=2"]));
        assert_eq!(ours.keys(), theirs.keys());
        let cx = extract(&Propagation::W3c, &headers_with_traceparent(), true);
        use opentelemetry::trace::TraceContextExt as _;
        assert_eq!(
            cx.span().span_context().trace_id(),
            TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap()
        );
    }

    fn headers_with_traceparent() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            "traceparent",
            HeaderValue::from_static("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        );
        h
    }

    #[test]
    fn the_shortcut_for_requests_without_trace_headers_changes_nothing() {
        use opentelemetry::baggage::BaggageExt as _;
        use opentelemetry::trace::TraceContextExt as _;
        #[derive(Debug, PartialEq)]
        struct Outer(u8);
        let _outer = opentelemetry::Context::current_with_value(Outer(7)).attach();
        let composite = default_propagator();
        let custom = Propagation::Custom(Arc::new(default_propagator()));
        let mut plain = HeaderMap::new();
        plain.insert("x-other", HeaderValue::from_static("v"));
        let mut baggage_only = HeaderMap::new();
        baggage_only.insert("baggage", HeaderValue::from_static("tenant=acme"));
        for headers in [HeaderMap::new(), plain, baggage_only] {
            let theirs = composite.extract(&opentelemetry_http::HeaderExtractor(&headers));
            let seen = super::super::headers::RequestHeaders::scan(
                &headers,
                &HeaderName::from_static("x-request-id"),
            );
            for how in [&Propagation::W3c, &custom] {
                let ours = extract(how, &headers, seen.trace_context);
                assert_eq!(ours.get::<Outer>(), Some(&Outer(7)));
                assert_eq!(
                    ours.baggage().get("tenant"),
                    theirs.baggage().get("tenant"),
                    "{headers:?}"
                );
                assert_eq!(
                    ours.span().span_context(),
                    theirs.span().span_context(),
                    "{headers:?}"
                );
            }
        }
    }
}
