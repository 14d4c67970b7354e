//! Span attributes read from the request: scheme, server address, client address, query.

use std::borrow::Cow;
use std::net::{IpAddr, SocketAddr};

use axum::extract::ConnectInfo;
use http::{HeaderMap, Request, Version, header};

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
/// Borrowed: no allocation.
pub(crate) fn server<B>(req: &Request<B>) -> Option<(&str, Option<u16>)> {
    if let Some(a) = req.uri().authority() {
        return Some((a.host(), a.port_u16()));
    }
    let host = req.headers().get(header::HOST)?.to_str().ok()?.trim();
    if host.is_empty() {
        return None;
    }
    // `[v6]:port`, `name:port`, `[v6]`, `name`.
    match host.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() && (h.ends_with(']') || !h.contains(':')) => {
            Some((h, p.parse().ok()))
        }
        _ => Some((host, None)),
    }
}

/// The peer address when the server was started with connect info.
pub(crate) fn peer<B>(req: &Request<B>) -> Option<SocketAddr> {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(a)| *a)
}

/// `client.address`: the first `X-Forwarded-For` hop when it parses as an IP, else the peer.
pub(crate) fn client(headers: &HeaderMap, peer: Option<SocketAddr>) -> Option<IpAddr> {
    headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .and_then(|v| v.trim().parse::<IpAddr>().ok())
        .or(peer.map(|p| p.ip()))
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
        assert_eq!(server(&req), Some(("example.com", Some(8443))));
        let req = Request::builder()
            .uri("/x")
            .header("host", "[::1]:80")
            .body(())
            .unwrap();
        assert_eq!(server(&req), Some(("[::1]", Some(80))));
    }

    #[test]
    fn client_address_prefers_forwarded_ip() {
        let req = Request::builder()
            .uri("/")
            .header("x-forwarded-for", "203.0.113.7, 10.0.0.1")
            .body(())
            .unwrap();
        assert_eq!(client(req.headers(), None), "203.0.113.7".parse().ok());
        let req = Request::builder()
            .uri("/")
            .header("x-forwarded-for", "not-an-ip")
            .body(())
            .unwrap();
        let peer: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        assert_eq!(client(req.headers(), Some(peer)), "127.0.0.1".parse().ok());
    }
}
