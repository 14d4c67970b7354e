//! Outgoing HTTP calls as OpenTelemetry CLIENT spans carrying the W3C trace context.
//!
//! [`ClientSpan`] follows the HTTP client semantic conventions: the span is named by the
//! method (`POST`), has kind `client` and the attributes `http.request.method`,
//! `server.address`, `server.port`, `url.full` (without userinfo, sensitive query values
//! replaced by `REDACTED`), `http.response.status_code` and, on failure, `error.type`
//! (the status code for 4xx/5xx, a short kind such as `timeout` or `connect` when no answer
//! came). [`ClientSpan::inject`] writes `traceparent` (and `baggage`) for the span, so the
//! called service continues the same trace as a child of this call. With the `http` feature,
//! [`send`] does all of it for a `reqwest` request.
//!
//! The span is a `tracing` span (target `pulsecheck::client`, level INFO): it becomes an
//! OpenTelemetry span through tracing-opentelemetry, as a child of whatever span is current,
//! the server span of the request being handled included.
//!
//! # Example
//!
//! ```
//! use http::{HeaderMap, Method, StatusCode};
//! use pulsecheck::client::ClientSpan;
//!
//! let call = ClientSpan::start(&Method::POST, "https://user:pw@api.example.com/v1/charges?key=k1");
//! assert_eq!(call.url_full(), "https://api.example.com/v1/charges?key=REDACTED");
//! let mut headers = HeaderMap::new();
//! call.inject(&mut headers); // `traceparent` when an OpenTelemetry subscriber is installed
//! // ... send the request inside `call.span()` ...
//! call.record_status(StatusCode::BAD_GATEWAY); // error.type = "502"
//! ```

use http::{HeaderMap, Method, StatusCode, Uri};
use opentelemetry::propagation::TextMapPropagator as _;
use opentelemetry::trace::TraceContextExt as _;
use tracing::field::Empty;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use crate::layer::default_propagator;

/// One outgoing HTTP call: a CLIENT span and what to record on it. See the
/// [module docs](self) for an example.
#[derive(Debug)]
pub struct ClientSpan {
    span: tracing::Span,
    url_full: String,
}

impl ClientSpan {
    /// Starts the span for `method url` as a child of the current span. A URL that does not
    /// parse is not recorded (`url.full` and `server.address` are left out).
    pub fn start(method: &Method, url: &str) -> Self {
        let parsed = url.parse::<Uri>().ok().filter(|u| u.host().is_some());
        let url_full = parsed.as_ref().map(clean_url).unwrap_or_default();
        let span = tracing::info_span!(
            target: "pulsecheck::client",
            "http.client",
            otel.name = method.as_str(),
            otel.kind = "client",
            otel.status_code = Empty,
            http.request.method = method.as_str(),
            server.address = Empty,
            server.port = Empty,
            url.full = Empty,
            http.response.status_code = Empty,
            error.type = Empty,
        );
        if let Some(uri) = &parsed {
            if let Some(host) = uri.host() {
                span.record("server.address", host.trim_matches(['[', ']']));
            }
            if let Some(port) = uri.port_u16().or_else(|| default_port(uri)) {
                span.record("server.port", i64::from(port));
            }
            span.record("url.full", url_full.as_str());
        }
        Self { span, url_full }
    }

    /// The span, to instrument the call's future with.
    pub fn span(&self) -> &tracing::Span {
        &self.span
    }

    /// `url.full` as recorded: no userinfo, sensitive query values `REDACTED`.
    pub fn url_full(&self) -> &str {
        &self.url_full
    }

    /// Writes the W3C `traceparent` (and `baggage`) naming this call's span as the parent
    /// of whatever the server does. Writes nothing when no OpenTelemetry layer records the
    /// span and no trace is active.
    pub fn inject(&self, headers: &mut HeaderMap) {
        let mut cx = self.span.context();
        if !cx.span().span_context().is_valid() {
            cx = opentelemetry::Context::current();
        }
        default_propagator().inject_context(&cx, &mut opentelemetry_http::HeaderInjector(headers));
    }

    /// Records the response status; 4xx and 5xx mark the span as failed with `error.type`
    /// set to the code.
    pub fn record_status(&self, status: StatusCode) {
        self.span
            .record("http.response.status_code", i64::from(status.as_u16()));
        if status.is_client_error() || status.is_server_error() {
            self.span.record("error.type", status.as_str());
            self.span.record("otel.status_code", "error");
        }
    }

    /// Records a call that got no response: `error.type` is a short, low-cardinality kind
    /// (`timeout`, `connect`, ...).
    pub fn record_error(&self, error_type: &str) {
        self.span.record("error.type", error_type);
        self.span.record("otel.status_code", "error");
    }
}

/// Sends a `reqwest` request inside a [`ClientSpan`], with `traceparent` added, recording the
/// status or the kind of failure.
///
/// ```no_run
/// # async fn charge() -> Result<(), reqwest::Error> {
/// let client = reqwest::Client::new();
/// let response = pulsecheck::client::send(
///     client.post("https://api.stripe.com/v1/payment_intents").bearer_auth("sk_test_..."),
/// )
/// .await?;
/// # let _ = response; Ok(()) }
/// ```
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub async fn send(request: reqwest::RequestBuilder) -> Result<reqwest::Response, reqwest::Error> {
    use tracing::Instrument as _;

    let (client, request) = request.build_split();
    let mut request = request?;
    let call = ClientSpan::start(request.method(), request.url().as_str());
    call.inject(request.headers_mut());
    let result = client
        .execute(request)
        .instrument(call.span().clone())
        .await;
    match &result {
        Ok(response) => call.record_status(response.status()),
        Err(e) => call.record_error(reqwest_error_type(e)),
    }
    result
}

#[cfg(feature = "http")]
fn reqwest_error_type(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else if e.is_redirect() {
        "redirect"
    } else if e.is_body() || e.is_decode() {
        "body"
    } else if e.is_request() {
        "request"
    } else {
        "_OTHER"
    }
}

fn default_port(uri: &Uri) -> Option<u16> {
    match uri.scheme_str() {
        Some("http") => Some(80),
        Some("https") => Some(443),
        _ => None,
    }
}

/// `scheme://host[:port]/path[?query]`: the authority rebuilt from host and port drops any
/// userinfo; sensitive query values are replaced.
fn clean_url(uri: &Uri) -> String {
    let mut out = String::new();
    out.push_str(uri.scheme_str().unwrap_or("http"));
    out.push_str("://");
    out.push_str(uri.host().unwrap_or_default());
    if let Some(port) = uri.port_u16() {
        out.push(':');
        out.push_str(&port.to_string());
    }
    out.push_str(uri.path());
    if let Some(query) = uri.query() {
        out.push('?');
        out.push_str(&crate::redact::query(query));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_full_drops_userinfo_and_redacts_sensitive_query_values() {
        let uri: Uri = "https://u:p@h.example:8443/a/b?x=1&Signature=abc&key=k&y"
            .parse()
            .unwrap();
        assert_eq!(
            clean_url(&uri),
            "https://h.example:8443/a/b?x=1&Signature=REDACTED&key=REDACTED&y"
        );
    }

    #[test]
    fn an_unparsable_url_records_no_url() {
        let call = ClientSpan::start(&Method::GET, "not a url");
        assert_eq!(call.url_full(), "");
    }
}
