//! The request headers the layer reads, found in one pass over the map.
//!
//! A `HeaderMap` lookup hashes the name (a custom name byte by byte) and probes; the layer
//! made eight of them a request (~600 instructions, more than a walk over the few headers a
//! request carries, which compares each name against the ones wanted).

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

use super::propagation::{BAGGAGE, TRACEPARENT};

static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");

/// The first value of each header the layer reads, if present.
#[derive(Debug, Default)]
pub(crate) struct RequestHeaders<'a> {
    pub(crate) request_id: Option<&'a HeaderValue>,
    pub(crate) host: Option<&'a HeaderValue>,
    pub(crate) user_agent: Option<&'a HeaderValue>,
    pub(crate) content_length: Option<&'a HeaderValue>,
    pub(crate) forwarded_proto: Option<&'a HeaderValue>,
    /// A W3C `traceparent` or `baggage` header is present: there is a context to extract.
    pub(crate) trace_context: bool,
}

impl<'a> RequestHeaders<'a> {
    /// Walks `headers` once; `request_id` is the layer's request id header name.
    pub(crate) fn scan(headers: &'a HeaderMap, request_id: &HeaderName) -> Self {
        let mut seen = Self::default();
        // A name's further values come after its first: keeping the first value seen gives
        // what `get` gives.
        for (name, value) in headers {
            let slot = if name == header::HOST {
                &mut seen.host
            } else if name == header::USER_AGENT {
                &mut seen.user_agent
            } else if name == header::CONTENT_LENGTH {
                &mut seen.content_length
            } else if name == request_id {
                &mut seen.request_id
            } else if name == TRACEPARENT || name == BAGGAGE {
                seen.trace_context = true;
                continue;
            } else if name == X_FORWARDED_PROTO {
                &mut seen.forwarded_proto
            } else {
                continue;
            };
            if slot.is_none() {
                *slot = Some(value);
            }
        }
        seen
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_what_a_lookup_per_name_finds() {
        let id = HeaderName::from_static("x-correlation-id");
        let mut h = HeaderMap::new();
        h.insert("host", HeaderValue::from_static("example.com:8443"));
        h.append("user-agent", HeaderValue::from_static("first"));
        h.append("user-agent", HeaderValue::from_static("second"));
        h.insert("content-length", HeaderValue::from_static("12"));
        h.insert("x-correlation-id", HeaderValue::from_static("corr-7"));
        h.insert("x-request-id", HeaderValue::from_static("not-this-one"));
        h.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        h.insert("accept", HeaderValue::from_static("*/*"));
        let seen = RequestHeaders::scan(&h, &id);
        assert_eq!(seen.host, h.get("host"));
        assert_eq!(seen.user_agent, h.get("user-agent"));
        assert_eq!(seen.user_agent.unwrap(), "first");
        assert_eq!(seen.content_length, h.get("content-length"));
        assert_eq!(seen.request_id.unwrap(), "corr-7");
        assert_eq!(seen.forwarded_proto, h.get("x-forwarded-proto"));
        assert!(!seen.trace_context);
        for name in ["traceparent", "baggage"] {
            let mut h = HeaderMap::new();
            h.insert(name, HeaderValue::from_static("v"));
            assert!(RequestHeaders::scan(&h, &id).trace_context, "{name}");
        }
        let none = HeaderMap::new();
        let empty = RequestHeaders::scan(&none, &id);
        assert!(empty.host.is_none() && empty.request_id.is_none() && !empty.trace_context);
    }
}
