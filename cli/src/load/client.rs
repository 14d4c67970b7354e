//! Raw HTTP/1.1 and HTTP/2 connections over TCP or TLS (hyper's connection API, no pool):
//! one per load worker, and the one-off requests of `probe`, `get` and `watch`.

use std::error::Error as _;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode, Uri, Version, header};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

use super::error::{ErrorKind, LoadError, RequestError};

/// A parsed `http://` or `https://` URL.
///
/// ```
/// use pulsecheck_cli::load::Target;
/// let t = Target::parse("http://127.0.0.1:8080/api/courses?page=2").unwrap();
/// assert_eq!(t.port(), 8080);
/// assert_eq!(t.path_and_query(), "/api/courses?page=2");
/// assert!(Target::parse("localhost:8080").is_err());
/// ```
#[derive(Clone, Debug)]
pub struct Target {
    url: String,
    tls: bool,
    host: String,
    port: u16,
    authority: Authority,
    path: PathAndQuery,
}

impl Target {
    /// Parses an absolute `http(s)://host[:port][/path][?query]` URL.
    pub fn parse(url: &str) -> Result<Self, LoadError> {
        let bad = |reason: &str| LoadError::InvalidUrl {
            url: url.to_owned(),
            reason: reason.to_owned(),
        };
        if !url.contains("://") {
            return Err(bad("it must start with http:// or https://"));
        }
        let uri: Uri = url
            .trim()
            .parse()
            .map_err(|e: http::uri::InvalidUri| bad(&e.to_string()))?;
        let tls = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            Some(other) => return Err(bad(&format!("scheme `{other}` is not http or https"))),
            None => return Err(bad("it must start with http:// or https://")),
        };
        let authority = uri.authority().cloned().ok_or_else(|| bad("no host"))?;
        if authority.as_str().contains('@') {
            return Err(bad(
                "user:password@ in the URL is not supported; pass -H 'Authorization: ...'",
            ));
        }
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let port = authority.port_u16().unwrap_or(if tls { 443 } else { 80 });
        if port == 0 {
            return Err(bad("port 0"));
        }
        let path = uri
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| PathAndQuery::from_static("/"));
        Ok(Self {
            url: url.trim().to_owned(),
            tls,
            host,
            port,
            authority,
            path,
        })
    }

    /// The URL as given.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Host name or address, without brackets.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Port, defaulted from the scheme.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether the scheme is `https`.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// Path and query, `/` when absent.
    pub fn path_and_query(&self) -> &str {
        self.path.as_str()
    }

    /// The same origin with another path and query (`/health/metrics?window=1m`).
    pub fn with_path(&self, path: &str) -> Result<Self, LoadError> {
        let base = format!(
            "{}://{}",
            if self.tls { "https" } else { "http" },
            self.authority
        );
        Self::parse(&format!("{base}{path}"))
    }

    /// The base URL, `scheme://authority`.
    pub fn origin(&self) -> String {
        format!(
            "{}://{}",
            if self.tls { "https" } else { "http" },
            self.authority
        )
    }

    /// The request URI for the protocol: origin-form for HTTP/1.1, absolute for HTTP/2.
    pub(crate) fn request_uri(&self, http2: bool) -> Uri {
        if !http2 {
            return Uri::from(self.path.clone());
        }
        let mut parts = http::uri::Parts::default();
        parts.scheme = Some(if self.tls {
            Scheme::HTTPS
        } else {
            Scheme::HTTP
        });
        parts.authority = Some(self.authority.clone());
        parts.path_and_query = Some(self.path.clone());
        Uri::from_parts(parts).unwrap_or_else(|_| Uri::from(self.path.clone()))
    }

    pub(crate) fn host_header(&self) -> Option<HeaderValue> {
        HeaderValue::from_str(self.authority.as_str()).ok()
    }
}

/// Opens connections to one target: DNS (per connection, so DNS failures count), TCP with
/// `TCP_NODELAY`, TLS with ALPN, then the HTTP/1.1 or HTTP/2 handshake.
#[derive(Clone)]
pub struct Connector {
    target: Target,
    http2: bool,
    tls: Option<(tokio_rustls::TlsConnector, ServerName<'static>)>,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector")
            .field("target", &self.target.url)
            .field("http2", &self.http2)
            .finish()
    }
}

impl Connector {
    /// A connector speaking HTTP/2 (prior knowledge on `http://`, ALPN `h2` on `https://`) or
    /// HTTP/1.1; `insecure` skips certificate verification.
    pub fn new(target: Target, http2: bool, insecure: bool) -> Result<Self, LoadError> {
        let tls = if target.tls {
            let name =
                ServerName::try_from(target.host.clone()).map_err(|e| LoadError::InvalidUrl {
                    url: target.url.clone(),
                    reason: format!("not a valid TLS server name: {e}"),
                })?;
            Some((tls_connector(http2, insecure)?, name))
        } else {
            None
        };
        Ok(Self { target, http2, tls })
    }

    /// Opens one connection within `timeout`.
    pub async fn connect(&self, timeout: Duration) -> Result<Connection, RequestError> {
        match tokio::time::timeout(timeout, self.connect_inner()).await {
            Ok(r) => r,
            Err(_) => Err(RequestError::new(
                ErrorKind::Timeout,
                format!("connecting took longer than {}", fmt_duration(timeout)),
            )),
        }
    }

    async fn connect_inner(&self) -> Result<Connection, RequestError> {
        let addrs = resolve(&self.target.host, self.target.port).await?;
        let mut last = None;
        let mut stream = None;
        for addr in addrs {
            match TcpStream::connect(addr).await {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        let stream = match (stream, last) {
            (Some(s), _) => s,
            (None, Some(e)) => return Err(RequestError::new(classify_io(&e), e.to_string())),
            (None, None) => {
                return Err(RequestError::new(
                    ErrorKind::Dns,
                    "the name has no addresses",
                ));
            }
        };
        let _ = stream.set_nodelay(true);
        match &self.tls {
            None => self.handshake(stream).await,
            Some((tls, name)) => {
                let tls_stream = tls
                    .connect(name.clone(), stream)
                    .await
                    .map_err(|e| RequestError::new(ErrorKind::Tls, tls_message(&e)))?;
                if self.http2 && tls_stream.get_ref().1.alpn_protocol() != Some(b"h2") {
                    return Err(RequestError::new(
                        ErrorKind::Protocol,
                        "the server did not negotiate HTTP/2 (ALPN h2); drop --http2",
                    ));
                }
                self.handshake(tls_stream).await
            }
        }
    }

    async fn handshake<S>(&self, io: S) -> Result<Connection, RequestError>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let io = TokioIo::new(io);
        if self.http2 {
            let (sender, conn) = http2::handshake(TokioExecutor::new(), io)
                .await
                .map_err(|e| classify_hyper(&e))?;
            let driver = tokio::spawn(async move {
                if let Err(e) = conn.await {
                    tracing::debug!(error = %e, "http2 connection ended");
                }
            });
            Ok(Connection {
                sender: Sender::H2(sender),
                driver,
            })
        } else {
            let (sender, conn) = http1::handshake(io).await.map_err(|e| classify_hyper(&e))?;
            let driver = tokio::spawn(async move {
                if let Err(e) = conn.await {
                    tracing::debug!(error = %e, "http1 connection ended");
                }
            });
            Ok(Connection {
                sender: Sender::H1(sender),
                driver,
            })
        }
    }
}

async fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, RequestError> {
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    match tokio::net::lookup_host((host, port)).await {
        Ok(addrs) => Ok(addrs.collect()),
        Err(e) => Err(RequestError::new(
            ErrorKind::Dns,
            format!("cannot resolve `{host}`: {e}"),
        )),
    }
}

fn tls_connector(http2: bool, insecure: bool) -> Result<tokio_rustls::TlsConnector, LoadError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| LoadError::Invalid {
            field: "tls",
            reason: e.to_string(),
        })?;
    let mut config = if insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
            .with_no_client_auth()
    } else {
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    config.alpn_protocols = if http2 {
        vec![b"h2".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

/// `--insecure`: accepts any certificate, still checks the handshake signatures.
#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

enum Sender {
    H1(http1::SendRequest<Full<Bytes>>),
    H2(http2::SendRequest<Full<Bytes>>),
}

/// One open connection. Dropping it closes the connection.
pub struct Connection {
    sender: Sender,
    driver: JoinHandle<()>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection").finish_non_exhaustive()
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

/// A response: status, body size and (when asked for) the body.
#[derive(Clone, Debug)]
pub struct Answer {
    /// Status code.
    pub status: StatusCode,
    /// Body bytes received.
    pub body_len: u64,
    /// The body, when kept.
    pub body: Option<Bytes>,
}

impl Connection {
    /// Waits until the connection can take a request; `false` when the peer closed it (a
    /// keep-alive connection timing out is not a failed request: open another).
    pub async fn ready(&mut self) -> bool {
        match &mut self.sender {
            Sender::H1(s) => s.ready().await.is_ok(),
            Sender::H2(s) => s.ready().await.is_ok(),
        }
    }

    /// Sends one request and reads the whole response; `keep_body` keeps it in memory.
    pub async fn send(
        &mut self,
        req: Request<Full<Bytes>>,
        keep_body: bool,
    ) -> Result<Answer, RequestError> {
        let resp = match &mut self.sender {
            Sender::H1(s) => s.send_request(req).await,
            Sender::H2(s) => s.send_request(req).await,
        }
        .map_err(|e| classify_hyper(&e))?;
        let (parts, mut body) = resp.into_parts();
        let mut len = 0u64;
        let mut kept = keep_body.then(Vec::new);
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| classify_hyper(&e))?;
            if let Some(data) = frame.data_ref() {
                len += data.len() as u64;
                if let Some(k) = kept.as_mut() {
                    if k.len() + data.len() > MAX_KEPT_BODY {
                        return Err(RequestError::new(
                            ErrorKind::Protocol,
                            format!("response body larger than {MAX_KEPT_BODY} bytes"),
                        ));
                    }
                    k.extend_from_slice(data);
                }
            }
        }
        Ok(Answer {
            status: parts.status,
            body_len: len,
            body: kept.map(Bytes::from),
        })
    }
}

const MAX_KEPT_BODY: usize = 16 << 20;

/// A one-off response from [`fetch`].
#[derive(Clone, Debug)]
pub struct Fetched {
    /// Status code.
    pub status: StatusCode,
    /// The body (at most 16 MiB).
    pub body: Bytes,
    /// From sending the request to the end of the body, on the open connection.
    pub elapsed: Duration,
}

/// One request on a fresh connection, with its own timeout: what `probe`, `get` and `watch`
/// use. `headers` are sent as given (plus `Host` and a `user-agent`).
pub async fn fetch(
    connector: &Connector,
    method: Method,
    headers: &HeaderMap,
    timeout: Duration,
) -> Result<Fetched, RequestError> {
    let started = Instant::now();
    let mut connected = started;
    let work = async {
        let mut conn = connector.connect(timeout).await?;
        connected = Instant::now();
        let mut req = Request::new(Full::new(Bytes::new()));
        *req.method_mut() = method;
        *req.uri_mut() = connector.target.request_uri(connector.http2);
        *req.headers_mut() = headers.clone();
        prepare(&mut req, &connector.target, connector.http2);
        conn.send(req, true).await
    };
    let result = tokio::time::timeout(timeout, work).await;
    match result {
        Ok(Ok(a)) => Ok(Fetched {
            status: a.status,
            body: a.body.unwrap_or_default(),
            elapsed: connected.elapsed(),
        }),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(RequestError::new(
            ErrorKind::Timeout,
            format!("no answer within {}", fmt_duration(timeout)),
        )),
    }
}

/// Sets `Host` (HTTP/1.1), the version and a default `user-agent`.
pub(crate) fn prepare(req: &mut Request<Full<Bytes>>, target: &Target, http2: bool) {
    if http2 {
        *req.version_mut() = Version::HTTP_2;
        req.headers_mut().remove(header::HOST);
    } else if !req.headers().contains_key(header::HOST)
        && let Some(h) = target.host_header()
    {
        req.headers_mut().insert(header::HOST, h);
    }
    if !req.headers().contains_key(header::USER_AGENT) {
        req.headers_mut().insert(
            header::USER_AGENT,
            HeaderValue::from_static(concat!("pulsecheck/", env!("CARGO_PKG_VERSION"))),
        );
    }
}

/// `1.5s`, `250ms`, `80µs`.
pub fn fmt_duration(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s >= 1.0 {
        format!("{}s", trim(s))
    } else if s >= 1e-3 {
        format!("{}ms", trim(s * 1e3))
    } else {
        format!("{}µs", trim(s * 1e6))
    }
}

fn trim(v: f64) -> String {
    let t = format!("{v:.3}");
    t.trim_end_matches('0').trim_end_matches('.').to_owned()
}

fn tls_message(e: &io::Error) -> String {
    if let Some(inner) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        return match inner {
            rustls::Error::InvalidMessage(_) => {
                format!("{inner} (is the server speaking plain HTTP? try http://)")
            }
            _ => inner.to_string(),
        };
    }
    if e.kind() == io::ErrorKind::UnexpectedEof {
        return "the server closed the connection during the TLS handshake".into();
    }
    e.to_string()
}

fn classify_io(e: &io::Error) -> ErrorKind {
    use io::ErrorKind as K;
    if e.get_ref().is_some_and(|i| i.is::<rustls::Error>()) {
        return ErrorKind::Tls;
    }
    match e.kind() {
        K::ConnectionRefused => ErrorKind::Refused,
        K::ConnectionReset
        | K::ConnectionAborted
        | K::BrokenPipe
        | K::UnexpectedEof
        | K::NotConnected => ErrorKind::Reset,
        K::TimedOut => ErrorKind::Timeout,
        K::HostUnreachable | K::NetworkUnreachable | K::AddrNotAvailable | K::NetworkDown => {
            ErrorKind::Connect
        }
        _ => ErrorKind::Other,
    }
}

fn classify_hyper(e: &hyper::Error) -> RequestError {
    let mut kind = None;
    let mut cur: Option<&(dyn std::error::Error + 'static)> = e.source();
    while let Some(s) = cur {
        if let Some(io) = s.downcast_ref::<io::Error>() {
            kind = Some(classify_io(io));
            break;
        }
        cur = s.source();
    }
    let kind = kind.unwrap_or(if e.is_timeout() {
        ErrorKind::Timeout
    } else if e.is_incomplete_message() || e.is_closed() || e.is_canceled() {
        ErrorKind::Reset
    } else if e.is_parse() || e.is_parse_status() || e.is_parse_too_large() {
        ErrorKind::Protocol
    } else {
        ErrorKind::Other
    });
    RequestError::new(kind, pulsecheck::__private::error_chain(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_with_a_reason() {
        for (url, want) in [
            ("localhost:8080/x", "http://"),
            ("127.0.0.1:8080", "http://"),
            ("ftp://example.com/", "ftp"),
            ("http://", "invalid"),
            ("http://exa mple.com/", "invalid"),
            ("http://u:p@example.com/", "Authorization"),
        ] {
            let e = Target::parse(url).unwrap_err().to_string();
            assert!(e.contains(want), "{url}: {e}");
        }
        let t = Target::parse("https://[::1]/").unwrap();
        assert_eq!((t.host(), t.port(), t.is_tls()), ("::1", 443, true));
        assert_eq!(
            t.with_path("/health?x=1").unwrap().url(),
            "https://[::1]/health?x=1"
        );
    }

    #[test]
    fn durations_print_short() {
        assert_eq!(fmt_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(fmt_duration(Duration::from_micros(2500)), "2.5ms");
        assert_eq!(fmt_duration(Duration::from_nanos(80_000)), "80µs");
    }
}
