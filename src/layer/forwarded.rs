//! Which `X-Forwarded-For` hops to believe: `client.address` and the audit log's client come
//! from the header only when the socket peer is a configured proxy, as nginx's `real_ip` module
//! (`set_real_ip_from` with `real_ip_recursive on`) and tower's forwarded-header handling do.
//!
//! Any client can send `X-Forwarded-For: 1.2.3.4`, so by default no peer is trusted and the
//! client is the socket peer. With proxies configured ([`PULSE_TRUSTED_PROXIES`] or
//! [`PulseLayer::trusted_proxies`](super::PulseLayer::trusted_proxies)), the hops are read
//! right to left from a trusted peer, skipping trusted addresses, and the first untrusted one
//! is the client: entries a client put in front of the proxies' own are never reached.
//!
//! ```
//! use std::net::IpAddr;
//! use pulsecheck::layer::TrustedProxies;
//!
//! let trusted = TrustedProxies::parse("10.0.0.0/8, ::1").unwrap();
//! assert!(trusted.contains("10.1.2.3".parse::<IpAddr>().unwrap()));
//! assert!(!trusted.contains("203.0.113.9".parse::<IpAddr>().unwrap()));
//! assert!(TrustedProxies::parse("10.0.0.0/33").is_err());
//! ```

use std::net::{IpAddr, SocketAddr};

use http::HeaderMap;

use crate::env::PULSE_TRUSTED_PROXIES;

/// The proxies whose `X-Forwarded-For` is believed. Defaults to none: the socket peer is
/// the client, whatever `X-Forwarded-For` says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    nets: Vec<(IpAddr, u8)>,
}

/// An entry of the trusted proxy list is not an IP address or a CIDR range.
#[derive(Debug, thiserror::Error)]
#[error(
    "{origin}: `{entry}` is not an IP address or a CIDR range (such as 10.0.0.0/8, 192.168.1.10 or fd00::/8)"
)]
pub struct TrustedProxiesError {
    /// `PULSE_TRUSTED_PROXIES` or `TrustedProxies::parse`.
    pub origin: &'static str,
    /// The rejected entry.
    pub entry: String,
}

impl TrustedProxies {
    /// Trusts no proxy: the client is always the socket peer.
    pub fn none() -> Self {
        Self::default()
    }

    /// IPs and CIDR ranges separated by commas or whitespace.
    pub fn parse(list: &str) -> Result<Self, TrustedProxiesError> {
        Self::parse_from(list, "TrustedProxies::parse")
    }

    /// [`PULSE_TRUSTED_PROXIES`] (IPs and CIDR ranges separated by commas or spaces, such as
    /// `10.0.0.0/8, 192.168.1.10, fd00::/8`), or none when it is unset or empty.
    pub fn from_env() -> Result<Self, TrustedProxiesError> {
        match std::env::var(PULSE_TRUSTED_PROXIES) {
            Ok(v) => Self::parse_from(&v, PULSE_TRUSTED_PROXIES),
            Err(std::env::VarError::NotPresent) => Ok(Self::none()),
            Err(std::env::VarError::NotUnicode(_)) => Err(TrustedProxiesError {
                origin: PULSE_TRUSTED_PROXIES,
                entry: "(not valid UTF-8)".into(),
            }),
        }
    }

    fn parse_from(list: &str, origin: &'static str) -> Result<Self, TrustedProxiesError> {
        let nets = list
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|e| !e.is_empty())
            .map(|entry| {
                parse_net(entry).ok_or_else(|| TrustedProxiesError {
                    origin,
                    entry: entry.to_owned(),
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { nets })
    }

    /// Whether no proxy is trusted.
    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }

    /// Whether `ip` is one of the trusted proxies (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.nets
            .iter()
            .any(|&(net, prefix)| in_net(ip, net, prefix))
    }

    /// The client of a request that came from `peer`: the peer itself unless it is trusted,
    /// else the rightmost `X-Forwarded-For` hop that is not trusted (the leftmost hop when all
    /// are; the last trusted hop when an entry does not parse). `None` without a peer: nothing
    /// says whether the header came through a proxy.
    pub(crate) fn client(&self, headers: &HeaderMap, peer: Option<IpAddr>) -> Option<IpAddr> {
        let peer = peer?.to_canonical();
        if !self.contains(peer) {
            return Some(peer);
        }
        let hops: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        let mut client = peer;
        for hop in hops.iter().rev() {
            let Some(ip) = parse_hop(hop) else {
                break;
            };
            client = ip;
            if !self.contains(ip) {
                break;
            }
        }
        Some(client)
    }
}

/// `ip`, `ip/prefix`.
fn parse_net(entry: &str) -> Option<(IpAddr, u8)> {
    let (addr, prefix) = match entry.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (entry, None),
    };
    let ip = addr.parse::<IpAddr>().ok()?.to_canonical();
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max)?,
        None => max,
    };
    Some((ip, prefix))
}

/// A hop as proxies write it: `ip`, `ip:port` or `[v6]:port`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .map(|ip| ip.to_canonical())
}

fn in_net(ip: IpAddr, net: IpAddr, prefix: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn xff(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn by_default_the_header_is_ignored() {
        let t = TrustedProxies::none();
        let h = xff(&["203.0.113.9"]);
        assert_eq!(t.client(&h, Some(ip("10.0.0.5"))), Some(ip("10.0.0.5")));
        assert_eq!(t.client(&h, None), None);
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_sends() {
        let t = TrustedProxies::parse("10.0.0.0/8").unwrap();
        let h = xff(&["1.1.1.1"]);
        assert_eq!(
            t.client(&h, Some(ip("198.51.100.7"))),
            Some(ip("198.51.100.7"))
        );
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client() {
        let t = TrustedProxies::parse("10.0.0.0/8, 192.168.0.1").unwrap();
        let peer = Some(ip("10.0.0.1"));
        // The client forged the first entry; the proxy appended the real one.
        let h = xff(&["6.6.6.6, 203.0.113.9"]);
        assert_eq!(t.client(&h, peer), Some(ip("203.0.113.9")));
        // Two proxies, two headers.
        let h = xff(&["6.6.6.6, 203.0.113.9", "192.168.0.1"]);
        assert_eq!(t.client(&h, peer), Some(ip("203.0.113.9")));
        // All trusted: the leftmost.
        let h = xff(&["10.9.9.9, 192.168.0.1"]);
        assert_eq!(t.client(&h, peer), Some(ip("10.9.9.9")));
        // Garbage stops the walk at the last trusted hop.
        let h = xff(&["203.0.113.9, unknown, 10.2.2.2"]);
        assert_eq!(t.client(&h, peer), Some(ip("10.2.2.2")));
        // Ports are dropped; no header: the proxy itself.
        let h = xff(&["203.0.113.9:5555"]);
        assert_eq!(t.client(&h, peer), Some(ip("203.0.113.9")));
        assert_eq!(t.client(&HeaderMap::new(), peer), peer);
    }

    #[test]
    fn ranges_and_mapped_addresses() {
        let t = TrustedProxies::parse("127.0.0.1 fd00::/8,0.0.0.0/0").unwrap();
        assert!(t.contains(ip("8.8.8.8")));
        assert!(t.contains(ip("::ffff:10.0.0.1")));
        assert!(t.contains(ip("fd12::1")));
        assert!(!t.contains(ip("fe80::1")));
        let t = TrustedProxies::parse("::/0").unwrap();
        assert!(t.contains(ip("2001:db8::1")));
        assert!(TrustedProxies::parse("").unwrap().is_empty());
    }

    #[test]
    fn bad_entries_are_named() {
        for bad in ["10.0.0.0/33", "not-an-ip", "10.0.0.1/", "::/129"] {
            let e = TrustedProxies::parse(&format!("127.0.0.1, {bad}")).unwrap_err();
            assert_eq!(e.entry, bad);
            assert!(e.to_string().contains(bad), "{e}");
        }
    }
}
