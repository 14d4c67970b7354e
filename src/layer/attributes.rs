//! Span attributes read from the request: scheme, server address, client address, query.

use std::borrow::Cow;
use std::net::SocketAddr;

use axum::extract::ConnectInfo;
use http::{Request, Version, header};

pub(crate) fn scheme<B>(req: &Request<B>) -> &'static str {
    match req.uri().scheme_str() {
        Some("https") => "https",
        Some(_) => "http",
        None => match req.headers().get("x-forwarded-proto").map(|v| v.as_bytes()) {
            Some(b"https") => "https",
            _ => "http",
        },
    }
}

pub(crate) fn protocol_version(v: Version) -> Option<&'static str> {
    Some(match v {
        Version::HTTP_09 => "0.9",
        Version::HTTP_10 => "1.0",
        Version::HTTP_11 => "1.1",
        Version::HTTP_2 => "2",
        Version::HTTP_3 => "3",
        _ => return None,
    })
}

/// `server.address` and `server.port`: the URI authority (HTTP/2), else the `Host` header.
pub(crate) fn server<B>(req: &Request<B>) -> Option<(String, Option<u16>)> {
    if let Some(a) = req.uri().authority() {
        return Some((a.host().to_owned(), a.port_u16()));
    }
    let host = req.headers().get(header::HOST)?.to_str().ok()?;
    let a: http::uri::Authority = host.parse().ok()?;
    Some((a.host().to_owned(), a.port_u16()))
}

/// The peer address when the server was started with connect info.
pub(crate) fn peer<B>(req: &Request<B>) -> Option<SocketAddr> {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(a)| *a)
}

/// `client.address`: the first `X-Forwarded-For` hop when it parses as an IP, else the peer.
pub(crate) fn client<B>(req: &Request<B>, peer: Option<SocketAddr>) -> Option<String> {
    let forwarded = req
        .headers()
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(str::trim)
        .and_then(|v| v.parse::<std::net::IpAddr>().ok());
    forwarded.or(peer.map(|p| p.ip())).map(|ip| ip.to_string())
}

const SENSITIVE_KEYS: [&str; 12] = [
    "token",
    "key",
    "secret",
    "password",
    "passwd",
    "pwd",
    "auth",
    "signature",
    "sig",
    "session",
    "credential",
    "code",
];

/// The query with values of credential-like parameters replaced by `REDACTED`.
pub(crate) fn redact_query(query: &str) -> Cow<'_, str> {
    let sensitive = |k: &str| {
        let k = k.to_ascii_lowercase();
        SENSITIVE_KEYS.iter().any(|s| k.contains(s))
    };
    if !query
        .split('&')
        .any(|p| sensitive(p.split('=').next().unwrap_or("")))
    {
        return Cow::Borrowed(query);
    }
    let parts: Vec<String> = query
        .split('&')
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            if sensitive(k) && !v.is_empty() {
                format!("{k}=REDACTED")
            } else {
                p.to_owned()
            }
        })
        .collect();
    Cow::Owned(parts.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_credentials_in_query() {
        assert_eq!(redact_query("a=1&b=2"), "a=1&b=2");
        assert_eq!(
            redact_query("page=2&api_key=s3cret&Token=abc"),
            "page=2&api_key=REDACTED&Token=REDACTED"
        );
    }

    #[test]
    fn server_address_from_host_header() {
        let req = Request::builder()
            .uri("/x")
            .header("host", "example.com:8443")
            .body(())
            .unwrap();
        assert_eq!(server(&req), Some(("example.com".into(), Some(8443))));
        let req = Request::builder()
            .uri("/x")
            .header("host", "[::1]:80")
            .body(())
            .unwrap();
        assert_eq!(server(&req), Some(("[::1]".into(), Some(80))));
    }

    #[test]
    fn client_address_prefers_forwarded_ip() {
        let req = Request::builder()
            .uri("/")
            .header("x-forwarded-for", "203.0.113.7, 10.0.0.1")
            .body(())
            .unwrap();
        assert_eq!(client(&req, None).as_deref(), Some("203.0.113.7"));
        let req = Request::builder()
            .uri("/")
            .header("x-forwarded-for", "not-an-ip")
            .body(())
            .unwrap();
        let peer: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        assert_eq!(client(&req, Some(peer)).as_deref(), Some("127.0.0.1"));
    }
}
