//! Request correlation ids: validate what the client sent, or make a fresh one.

use http::HeaderValue;

/// Longest inbound request id kept, in bytes.
pub const MAX_REQUEST_ID_LEN: usize = 128;

/// The correlation id of one request.
///
/// The layer puts it in the request extensions, so handlers can read it:
///
/// ```
/// use axum::{Extension, Router, routing::get};
/// use pulsecheck::layer::RequestId;
///
/// async fn handler(Extension(id): Extension<RequestId>) -> String {
///     format!("your request id is {}", id.as_str())
/// }
/// let app: Router = Router::new().route("/", get(handler));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestId(HeaderValue);

/// The correlation id as the layer stores it in the request's OpenTelemetry context, current
/// while the handler runs so that `tracing` spans, log lines and log records all join it.
#[derive(Clone, Debug)]
pub(crate) struct CxRequestId(pub(crate) RequestId);

/// Where a request's id came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IdSource {
    /// The client's header, valid.
    Inbound,
    /// No header: generated.
    Generated,
    /// The client's header was refused (its length in bytes): generated.
    Rejected { len: usize },
}

impl RequestId {
    /// Accepts `value` only if it is 1..=128 characters of `[A-Za-z0-9._:-]`.
    ///
    /// Anything else (empty, oversized, CR/LF, spaces, non-ASCII) is refused, so a hostile id can
    /// never reach a log line, a span or a response header.
    ///
    /// ```
    /// use pulsecheck::layer::RequestId;
    /// assert!(RequestId::parse(b"req-42:a.b_c").is_some());
    /// assert!(RequestId::parse(b"bad\r\nid").is_none());
    /// assert!(RequestId::parse(b"").is_none());
    /// ```
    pub fn parse(value: &[u8]) -> Option<Self> {
        if !is_valid(value) {
            return None;
        }
        HeaderValue::from_bytes(value).ok().map(Self)
    }

    /// A new random id (UUID v4, hyphenated).
    pub fn generate() -> Self {
        let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
        uuid::Uuid::new_v4().hyphenated().encode_lower(&mut buf);
        // One allocation that the clones in the context, the extensions and the response share
        // (a copied `Vec` would allocate again at its first clone), checked by nobody again.
        // SAFETY: a hyphenated UUID is lower-case hex digits and `-`, visible ASCII as a
        // header value must be. Debug builds check it again.
        Self(unsafe { HeaderValue::from_maybe_shared_unchecked(bytes::Bytes::from_owner(buf)) })
    }

    /// The request's id header (its first value) if it is valid, else a generated id; and
    /// where the id came from.
    pub(crate) fn from_header_or_generate(header: Option<&HeaderValue>) -> (Self, IdSource) {
        match header {
            None => (Self::generate(), IdSource::Generated),
            // The header's own bytes, shared rather than copied.
            Some(v) if is_valid(v.as_bytes()) => (Self(v.clone()), IdSource::Inbound),
            Some(v) => (
                Self::generate(),
                IdSource::Rejected {
                    len: v.as_bytes().len(),
                },
            ),
        }
    }

    /// The id of the request being handled, from the current OpenTelemetry context: available
    /// in handlers and in anything they call on the same task.
    pub fn current() -> Option<Self> {
        opentelemetry::Context::map_current(|cx| cx.get::<CxRequestId>().map(|r| r.0.clone()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        let bytes = self.0.as_bytes();
        debug_assert!(is_valid(bytes));
        // SAFETY: every constructor admits only `[A-Za-z0-9._:-]` (`parse` and
        // `from_header_or_generate` check it, `generate` writes hex digits and `-`), and the
        // field is private: ASCII, so UTF-8. Checking again cost ~85 instructions a call, twice
        // a request (the span attribute and the access line).
        unsafe { std::str::from_utf8_unchecked(bytes) }
    }

    /// The id as a header value.
    pub fn header_value(&self) -> &HeaderValue {
        &self.0
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

fn is_valid(value: &[u8]) -> bool {
    (1..=MAX_REQUEST_ID_LEN).contains(&value.len())
        && value
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_valid_ids_up_to_the_limit() {
        let max = "a".repeat(MAX_REQUEST_ID_LEN);
        assert_eq!(RequestId::parse(max.as_bytes()).unwrap().as_str(), max);
        assert!(RequestId::parse("a".repeat(MAX_REQUEST_ID_LEN + 1).as_bytes()).is_none());
    }

    #[test]
    fn refuses_hostile_ids() {
        for bad in [
            &b""[..],
            b" ",
            b"a b",
            b"abc\r\nset-cookie: x",
            b"caf\xc3\xa9",
            b"\x00",
            b"a/b",
            b"{\"json\":1}",
        ] {
            assert!(RequestId::parse(bad).is_none(), "accepted {bad:?}");
        }
    }

    #[test]
    fn generated_ids_are_valid_and_distinct() {
        let a = RequestId::generate();
        let b = RequestId::generate();
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 36);
        assert!(RequestId::parse(a.as_str().as_bytes()).is_some());
    }

    #[test]
    fn takes_inbound_header_or_generates() {
        let (id, source) =
            RequestId::from_header_or_generate(Some(&HeaderValue::from_static("abc-123")));
        assert_eq!(source, IdSource::Inbound);
        assert_eq!(id.as_str(), "abc-123");
        let long = HeaderValue::from_bytes(&[b'x'; 300]).unwrap();
        let (id, source) = RequestId::from_header_or_generate(Some(&long));
        assert_eq!(source, IdSource::Rejected { len: 300 });
        assert_eq!(id.as_str().len(), 36);
        let (_, source) = RequestId::from_header_or_generate(None);
        assert_eq!(source, IdSource::Generated);
    }
}
