//! Span attributes read from the request: scheme, server address, client address, query.

use std::net::{IpAddr, SocketAddr};

use axum::extract::ConnectInfo;
use http::{HeaderMap, Request, Version, header};

use super::TrustedProxies;

/// Looked up by its `HeaderName`, not by text: a text key is parsed and checked on every
/// request (~150 instructions).
static X_FORWARDED_PROTO: http::HeaderName = http::HeaderName::from_static("x-forwarded-proto");

pub(crate) fn scheme<B>(req: &Request<B>) -> &'static str {
    match req.uri().scheme_str() {
        Some("https") => "https",
        Some(_) => "http",
        None => match req.headers().get(&X_FORWARDED_PROTO).map(|v| v.as_bytes()) {
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

/// `client.address`: the peer, or the rightmost untrusted `X-Forwarded-For` hop when the peer
/// is a trusted proxy (see [`TrustedProxies`]).
pub(crate) fn client(
    headers: &HeaderMap,
    peer: Option<SocketAddr>,
    trusted: &TrustedProxies,
) -> Option<IpAddr> {
    trusted.client(headers, peer.map(|p| p.ip()))
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
