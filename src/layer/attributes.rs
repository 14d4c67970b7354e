//! Span attributes read from the request: scheme, server address, client address, query.

use std::net::{IpAddr, SocketAddr};

use axum::extract::ConnectInfo;
use http::{HeaderMap, HeaderValue, Request, Uri, Version};
use opentelemetry::StringValue;

use std::sync::Arc;

use super::TrustedProxies;
use super::limits::truncate;

pub(crate) fn scheme(uri: &Uri, forwarded_proto: Option<&HeaderValue>) -> &'static str {
    match uri.scheme_str() {
        Some("https") => "https",
        Some(_) => "http",
        None => match forwarded_proto.map(HeaderValue::as_bytes) {
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
/// `server.address` (cut to `limit`) and `server.port`: the URI's authority (HTTP/2, absolute
/// form), else the `Host` header, parsed again only when its bytes change.
pub(crate) fn server(
    uri: &Uri,
    host: Option<&HeaderValue>,
    limit: usize,
) -> Option<(StringValue, Option<u16>)> {
    if let Some(a) = uri.authority() {
        let host =
            super::repeated::text(&super::repeated::SERVER_ADDRESS, truncate(a.host(), limit));
        return Some((host, a.port_u16()));
    }
    super::repeated::header(&super::repeated::HOST_HEADER, host?, limit, |text| {
        let (host, port) = host_and_port(text)?;
        Some((
            StringValue::from(Arc::<str>::from(truncate(host, limit))),
            port,
        ))
    })
}

/// `[v6]:port`, `name:port`, `[v6]`, `name`.
fn host_and_port(text: &str) -> Option<(&str, Option<u16>)> {
    let host = text.trim();
    if host.is_empty() {
        return None;
    }
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

    fn server_of(
        uri: &str,
        host: Option<&'static str>,
        limit: usize,
    ) -> Option<(String, Option<u16>)> {
        let uri: Uri = uri.parse().unwrap();
        let host = host.map(HeaderValue::from_static);
        server(&uri, host.as_ref(), limit).map(|(h, p)| (h.as_str().to_owned(), p))
    }

    #[test]
    fn server_address_from_host_header() {
        let some = |h: &str, p| Some((h.to_owned(), p));
        assert_eq!(
            server_of("/x", Some("example.com:8443"), 100),
            some("example.com", Some(8443))
        );
        assert_eq!(
            server_of("/x", Some("[::1]:80"), 100),
            some("[::1]", Some(80))
        );
        assert_eq!(server_of("/x", Some("[::1]"), 100), some("[::1]", None));
        assert_eq!(server_of("/x", Some("::1"), 100), some("::1", None));
        assert_eq!(server_of("/x", Some("  "), 100), None);
        assert_eq!(server_of("/x", None, 100), None);
        // The URI's authority wins; the limit applies to both sources.
        assert_eq!(
            server_of("http://a.example:81/x", Some("b.example"), 100),
            some("a.example", Some(81))
        );
        assert_eq!(
            server_of("/x", Some("example.com:8443"), 3),
            some("exa", Some(8443))
        );
    }

    #[test]
    fn a_repeated_host_header_is_parsed_once_and_a_changed_one_again() {
        let a = HeaderValue::from_static("one.example:1");
        let b = HeaderValue::from_static("two.example:2");
        let first = server(&Uri::from_static("/"), Some(&a), 100).unwrap();
        let again = server(&Uri::from_static("/"), Some(&a), 100).unwrap();
        assert!(
            std::ptr::eq(first.0.as_str(), again.0.as_str()),
            "not shared"
        );
        let other = server(&Uri::from_static("/"), Some(&b), 100).unwrap();
        assert_eq!((other.0.as_str(), other.1), ("two.example", Some(2)));
        // Another limit is another value.
        let cut = server(&Uri::from_static("/"), Some(&b), 2).unwrap();
        assert_eq!(cut.0.as_str(), "tw");
        let not_text = HeaderValue::from_bytes(b"caf\xc3\xa9.example").unwrap();
        // Not visible ASCII: no address.
        assert!(server(&Uri::from_static("/"), Some(&not_text), 100).is_none());
    }
}
