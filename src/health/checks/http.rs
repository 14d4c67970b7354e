//! HTTP endpoints, with presets for the Stripe and PayPal APIs.

use std::borrow::Cow;
use std::fmt;
use std::sync::OnceLock;

use http::header::{ACCEPT, CONTENT_TYPE, HeaderName, HeaderValue};
use http::{HeaderMap, Method, StatusCode};
use reqwest::Url;

use super::{Secret, percent_decode};
use crate::config::ConfigError;
use crate::health::{Check, CheckError, Observation};

const STRIPE_BASE: &str = "https://api.stripe.com";
const PAYPAL_BASE: &str = "https://api-m.paypal.com";
const PAYPAL_SANDBOX_BASE: &str = "https://api-m.sandbox.paypal.com";
const USER_AGENT: &str = concat!("pulsecheck/", env!("CARGO_PKG_VERSION"));
/// How much of a response body is read (so the connection can be reused) before it is dropped.
const MAX_DRAIN_BYTES: usize = 64 * 1024;

/// An HTTP request whose answer must have an expected status (any 2xx unless
/// [`expect_status`](Self::expect_status) says otherwise). Reports the status as a detail;
/// the runner measures `responseTime`.
///
/// Presets: [`HttpCheck::stripe`] (an authenticated `GET /v1/balance`) and
/// [`HttpCheck::paypal`] (an OAuth2 client-credentials token request), each with
/// [`base_url`](Self::base_url) for sandboxes and stand-ins.
///
/// Keys, secrets, header values and the URL's userinfo and query string never appear in
/// outputs, logs or `Debug`: outputs show `METHOD scheme://host/path`. Redirects are not
/// followed (a probe reports what the endpoint says; credentials never travel to another
/// host): expect the 3xx or point at the final URL. The response body is read (up to 64 KiB)
/// and discarded, never shown: a PayPal token stays private.
///
/// Name: `stripe`, `paypal`, or the URL's host. Kind `component`, non-critical by default
/// (a payment provider being down should degrade a service, not take it out of rotation).
///
/// ```
/// use http::{Method, StatusCode};
/// use pulsecheck::health::checks::HttpCheck;
/// use pulsecheck::health::Check;
///
/// # fn demo() -> Result<(), pulsecheck::config::ConfigError> {
/// let search = HttpCheck::get("https://search.internal:9200/_cluster/health")?
///     .expect_status(StatusCode::OK);
/// assert_eq!(search.name(), "search.internal");
///
/// let stripe = HttpCheck::stripe("sk_test_123").base_url("http://127.0.0.1:12111")?;
/// assert_eq!(stripe.name(), "stripe");
/// assert!(!format!("{stripe:?}").contains("sk_test_123"));
///
/// let head = HttpCheck::new(Method::HEAD, "https://cdn.example.com/logo.png")?;
/// assert_eq!(head.name(), "cdn.example.com");
/// # Ok(()) }
/// # demo().unwrap();
/// ```
pub struct HttpCheck {
    name: Cow<'static, str>,
    method: Method,
    /// `scheme://host[:port][/prefix]`, no trailing `/`, no userinfo, query or fragment.
    base: String,
    /// `/path[?query]`: may hold secrets in the query, so never shown.
    path: String,
    expect: Vec<StatusCode>,
    headers: HeaderMap,
    auth: Option<Auth>,
    body: Option<(&'static str, &'static str)>,
    client: OnceLock<reqwest::Client>,
}

#[derive(Clone, Debug)]
enum Auth {
    Bearer(Secret),
    Basic { user: Secret, password: Secret },
}

impl HttpCheck {
    /// `GET url`. See [`new`](Self::new).
    pub fn get(url: &str) -> Result<Self, ConfigError> {
        Self::new(Method::GET, url)
    }

    /// `method url`, for `http` and `https` URLs. Userinfo in the URL
    /// (`https://user:pass@host/`) becomes basic authentication and is never shown.
    pub fn new(method: Method, url: &str) -> Result<Self, ConfigError> {
        let parsed = parse_http_url(url)?;
        let name = parsed
            .host_str()
            .map_or(Cow::Borrowed("http"), |h| Cow::Owned(h.to_owned()));
        let auth = if parsed.username().is_empty() && parsed.password().is_none() {
            None
        } else {
            Some(Auth::Basic {
                user: Secret::new(percent_decode(parsed.username())),
                password: Secret::new(percent_decode(parsed.password().unwrap_or(""))),
            })
        };
        let mut path = parsed.path().to_owned();
        if let Some(query) = parsed.query() {
            path.push('?');
            path.push_str(query);
        }
        Ok(Self {
            name,
            method,
            base: origin(&parsed),
            path,
            expect: Vec::new(),
            headers: HeaderMap::new(),
            auth,
            body: None,
            client: OnceLock::new(),
        })
    }

    /// Stripe: `GET {base}/v1/balance` with `Authorization: Bearer {secret_key}`, which
    /// proves the API is up and the key still valid without touching any object. Base
    /// `https://api.stripe.com` unless [`base_url`](Self::base_url) changes it (test mode
    /// uses the same host with an `sk_test_` key).
    pub fn stripe(secret_key: impl Into<String>) -> Self {
        Self::preset(
            "stripe",
            Method::GET,
            STRIPE_BASE,
            "/v1/balance",
            Some(Auth::Bearer(Secret::new(secret_key))),
            None,
        )
    }

    /// PayPal: `POST {base}/v1/oauth2/token` with basic authentication
    /// (`client_id:secret`) and the form body `grant_type=client_credentials`, which proves
    /// the API is up and the credentials valid. The token in the answer is discarded. Base
    /// `https://api-m.paypal.com` unless [`base_url`](Self::base_url) changes it; see
    /// [`paypal_sandbox`](Self::paypal_sandbox).
    pub fn paypal(client_id: impl Into<String>, secret: impl Into<String>) -> Self {
        Self::paypal_at(PAYPAL_BASE, client_id, secret)
    }

    /// [`paypal`](Self::paypal) against the sandbox, `https://api-m.sandbox.paypal.com`.
    pub fn paypal_sandbox(client_id: impl Into<String>, secret: impl Into<String>) -> Self {
        Self::paypal_at(PAYPAL_SANDBOX_BASE, client_id, secret)
    }

    fn paypal_at(
        base: &'static str,
        client_id: impl Into<String>,
        secret: impl Into<String>,
    ) -> Self {
        Self::preset(
            "paypal",
            Method::POST,
            base,
            "/v1/oauth2/token",
            Some(Auth::Basic {
                user: Secret::new(client_id),
                password: Secret::new(secret),
            }),
            Some((
                "application/x-www-form-urlencoded",
                "grant_type=client_credentials",
            )),
        )
    }

    fn preset(
        name: &'static str,
        method: Method,
        base: &'static str,
        path: &'static str,
        auth: Option<Auth>,
        body: Option<(&'static str, &'static str)>,
    ) -> Self {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        Self {
            name: Cow::Borrowed(name),
            method,
            base: base.to_owned(),
            path: path.to_owned(),
            expect: Vec::new(),
            headers,
            auth,
            body,
            client: OnceLock::new(),
        }
    }

    /// Sends the request to another server, keeping the path: `http://127.0.0.1:8081` for a
    /// stand-in, a sandbox host, or a prefix such as `https://proxy/stripe`. The base may not
    /// carry userinfo, a query or a fragment.
    pub fn base_url(mut self, base: &str) -> Result<Self, ConfigError> {
        let parsed = parse_http_url(base)?;
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(ConfigError::InvalidUrl(
                "a base URL cannot carry credentials".into(),
            ));
        }
        if parsed.query().is_some() || parsed.fragment().is_some() {
            return Err(ConfigError::InvalidUrl(
                "a base URL cannot carry a query or fragment".into(),
            ));
        }
        let mut base = origin(&parsed);
        base.push_str(parsed.path().trim_end_matches('/'));
        self.base = base;
        Ok(self)
    }

    /// The request method. Defaults to `GET` (`POST` for PayPal).
    pub fn method(mut self, method: Method) -> Self {
        self.method = method;
        self
    }

    /// Accepts `status`; call again to accept several. Defaults to any 2xx.
    pub fn expect_status(mut self, status: StatusCode) -> Self {
        self.expect.push(status);
        self
    }

    /// Adds a request header. Its value is treated as sensitive: never shown, and marked so
    /// that HTTP/2 does not index it.
    pub fn header(mut self, name: HeaderName, mut value: HeaderValue) -> Self {
        value.set_sensitive(true);
        self.headers.append(name, value);
        self
    }

    /// Sends `Authorization: Bearer {token}`.
    pub fn bearer_auth(mut self, token: impl Into<String>) -> Self {
        self.auth = Some(Auth::Bearer(Secret::new(token)));
        self
    }

    /// Sends basic authentication.
    pub fn basic_auth(mut self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.auth = Some(Auth::Basic {
            user: Secret::new(user),
            password: Secret::new(password),
        });
        self
    }

    /// Sends through `client` (to share a connection pool, or set proxies, roots or
    /// timeouts). Defaults to a client of the check's own that follows no redirects.
    pub fn client(self, client: reqwest::Client) -> Self {
        let cell = OnceLock::new();
        let _ = cell.set(client);
        Self {
            client: cell,
            ..self
        }
    }

    /// `METHOD scheme://host[:port]/path`, without the query: what outputs show.
    fn shown(&self) -> String {
        let path = self.path.split('?').next().unwrap_or("");
        format!("{} {}{}", self.method, self.base, path)
    }

    fn client_or_build(&self) -> Result<&reqwest::Client, CheckError> {
        if let Some(client) = self.client.get() {
            return Ok(client);
        }
        let built = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| CheckError::new(format!("cannot build HTTP client: {e}")))?;
        Ok(self.client.get_or_init(|| built))
    }

    fn accepts(&self, status: StatusCode) -> bool {
        if self.expect.is_empty() {
            status.is_success()
        } else {
            self.expect.contains(&status)
        }
    }
}

impl Check for HttpCheck {
    async fn check(&self) -> Result<Observation, CheckError> {
        let url = Url::parse(&format!("{}{}", self.base, self.path))
            .map_err(|e| CheckError::new(format!("{}: invalid URL: {e}", self.shown())))?;
        let client = self.client_or_build()?;
        let mut request = client
            .request(self.method.clone(), url)
            .headers(self.headers.clone());
        match &self.auth {
            Some(Auth::Bearer(token)) => request = request.bearer_auth(token.expose()),
            Some(Auth::Basic { user, password }) => {
                request = request.basic_auth(user.expose(), Some(password.expose()));
            }
            None => {}
        }
        if let Some((content_type, body)) = self.body {
            request = request.header(CONTENT_TYPE, content_type).body(body);
        }
        let mut response = request.send().await.map_err(|e| {
            // `without_url`: the URL's query may hold secrets; ours is shown instead.
            CheckError::new(format!(
                "{}: {}",
                self.shown(),
                CheckError::from(e.without_url())
            ))
        })?;
        let status = response.status();
        // Read a little so that the connection goes back to the pool; never show it.
        let mut drained = 0;
        while drained < MAX_DRAIN_BYTES {
            match response.chunk().await {
                Ok(Some(chunk)) => drained += chunk.len(),
                Ok(None) | Err(_) => break,
            }
        }
        if !self.accepts(status) {
            return Err(CheckError::new(format!(
                "{} answered {status}",
                self.shown()
            )));
        }
        Ok(Observation::pass().detail("status", status.as_u16()))
    }

    fn name(&self) -> Cow<'static, str> {
        self.name.clone()
    }
}

impl fmt::Debug for HttpCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let auth = match &self.auth {
            None => "none",
            Some(Auth::Bearer(_)) => "bearer",
            Some(Auth::Basic { .. }) => "basic",
        };
        f.debug_struct("HttpCheck")
            .field("name", &self.name)
            .field("request", &self.shown())
            .field("expect", &self.expect)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("auth", &auth)
            .finish_non_exhaustive()
    }
}

fn parse_http_url(url: &str) -> Result<Url, ConfigError> {
    // The parser's message names the problem, not the input.
    let parsed = Url::parse(url).map_err(|e| ConfigError::InvalidUrl(e.to_string()))?;
    match parsed.scheme() {
        "http" | "https" => {}
        other => return Err(ConfigError::UnsupportedScheme(other.to_owned())),
    }
    if parsed.host_str().is_none() {
        return Err(ConfigError::InvalidUrl("no host".into()));
    }
    Ok(parsed)
}

/// `scheme://host[:port]`.
fn origin(url: &Url) -> String {
    let host = url.host_str().unwrap_or("");
    let host = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_owned()
    };
    match url.port() {
        Some(port) => format!("{}://{host}:{port}", url.scheme()),
        None => format!("{}://{host}", url.scheme()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_and_query_are_never_shown() {
        let check = HttpCheck::get("https://bob:s%40cret@api.example.com:8443/v1/x?token=abc")
            .unwrap_or_else(|e| panic!("{e}"));
        let debug = format!("{check:?}");
        for secret in ["bob", "s@cret", "s%40cret", "abc"] {
            assert!(!debug.contains(secret), "{secret} in {debug}");
        }
        assert!(
            debug.contains("GET https://api.example.com:8443/v1/x"),
            "{debug}"
        );
        match &check.auth {
            Some(Auth::Basic { user, password }) => {
                assert_eq!(user.expose(), "bob");
                assert_eq!(password.expose(), "s@cret");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn base_url_keeps_the_path() {
        let check = HttpCheck::stripe("k")
            .base_url("http://127.0.0.1:9/prefix/")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(check.shown(), "GET http://127.0.0.1:9/prefix/v1/balance");
        assert!(matches!(
            HttpCheck::stripe("k").base_url("ftp://x"),
            Err(ConfigError::UnsupportedScheme(_))
        ));
        assert!(HttpCheck::stripe("k").base_url("http://u:p@x").is_err());
        assert!(HttpCheck::get("not a url").is_err());
    }

    #[test]
    fn expected_statuses() {
        let check = HttpCheck::get("http://x/").unwrap_or_else(|e| panic!("{e}"));
        assert!(check.accepts(StatusCode::NO_CONTENT));
        assert!(!check.accepts(StatusCode::MOVED_PERMANENTLY));
        let check = check.expect_status(StatusCode::MOVED_PERMANENTLY);
        assert!(check.accepts(StatusCode::MOVED_PERMANENTLY));
        assert!(!check.accepts(StatusCode::OK));
    }
}
