//! The security audit trail: denied admin requests, rejected hostile headers and oversized
//! requests, logged on their own target ([`AUDIT_TARGET`]) so they can be routed, kept and
//! alerted on apart from the access log.
//!
//! Every event is a `WARN` on `pulsecheck::audit` with these fields:
//!
//! | field | value |
//! |---|---|
//! | `audit.event` | `auth.missing`, `auth.invalid`, `header.rejected` or `request.oversized` |
//! | `reason` | a short fixed text |
//! | `url.path` | the request path, at most 256 bytes |
//! | `client.address` | the peer, or the rightmost untrusted `X-Forwarded-For` hop when the peer is a [trusted proxy](crate::layer::TrustedProxies) |
//! | `network.peer.address` | the socket peer (when the server has connect info) |
//! | `suppressed` | events of the same kind dropped by the rate limit since the last one |
//!
//! plus `http.header` and `header.length` for a rejected header, and `content_length`,
//! `limit` and `rejected` for an oversized request. What the client sent is never logged: not
//! the presented token, not the rejected header's value.
//!
//! An attacker controls how many of these events happen, so each kind has its own token
//! bucket (by default 10 events per second, bursts of 20): past it, events are counted, not
//! written, and the next written event of that kind reports the count in `suppressed`. The
//! bucket is one atomic compare-and-swap (GCRA), shared by all threads.
//!
//! ```
//! use pulsecheck::layer::audit::AuditLog;
//! use pulsecheck::layer::PulseLayer;
//!
//! // At most 2 audit events per second and kind, in bursts of 5.
//! let layer = PulseLayer::new().audit_log(AuditLog::new(2, 5));
//! assert_eq!(layer.audit().limits(), (2, 5));
//! ```

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// The tracing target of every audit event.
pub const AUDIT_TARGET: &str = "pulsecheck::audit";
/// Default events per second and kind.
pub const AUDIT_RATE_DEFAULT: u32 = 10;
/// Default burst per kind.
pub const AUDIT_BURST_DEFAULT: u32 = 20;

/// Longest path written to an audit event, in bytes.
const MAX_PATH: usize = 256;

/// What an audit event reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AuditKind {
    /// An admin endpoint was called without `Authorization: Bearer`.
    AuthMissing,
    /// An admin endpoint was called with a token that does not match.
    AuthInvalid,
    /// A request header was refused (a hostile request id).
    HeaderRejected,
    /// A request declared a body larger than the configured limit.
    Oversized,
}

impl AuditKind {
    const COUNT: usize = 4;

    fn index(self) -> usize {
        self as usize
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::AuthMissing => "auth.missing",
            Self::AuthInvalid => "auth.invalid",
            Self::HeaderRejected => "header.rejected",
            Self::Oversized => "request.oversized",
        }
    }
}

/// Where a request came from, as far as the server knows.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Origin {
    pub(crate) client: Option<IpAddr>,
    pub(crate) peer: Option<IpAddr>,
}

impl Origin {
    pub(crate) fn of<B>(
        req: &http::Request<B>,
        trusted: &super::forwarded::TrustedProxies,
    ) -> Self {
        let peer = super::attributes::peer(req);
        Self {
            client: super::attributes::client(req.headers(), peer, trusted),
            peer: peer.map(|p| p.ip()),
        }
    }
}

/// The audit trail of one service: where the layer and the admin endpoints report security
/// events, rate-limited per kind. Cheap to clone (clones share the limits). See the
/// [module docs](self).
#[derive(Clone)]
pub struct AuditLog {
    inner: Arc<Inner>,
}

struct Inner {
    epoch: Instant,
    per_second: u32,
    burst: u32,
    buckets: [Bucket; AuditKind::COUNT],
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("per_second", &self.inner.per_second)
            .field("burst", &self.inner.burst)
            .finish_non_exhaustive()
    }
}

impl Default for AuditLog {
    /// [`AUDIT_RATE_DEFAULT`] events per second and kind, bursts of [`AUDIT_BURST_DEFAULT`].
    fn default() -> Self {
        Self::new(AUDIT_RATE_DEFAULT, AUDIT_BURST_DEFAULT)
    }
}

impl AuditLog {
    /// At most `per_second` events per second of each kind, after a burst of `burst` (both at
    /// least 1; 0 counts as 1).
    pub fn new(per_second: u32, burst: u32) -> Self {
        let per_second = per_second.max(1);
        let burst = burst.max(1);
        let interval = 1_000_000_000 / u64::from(per_second);
        let tolerance = interval * u64::from(burst - 1);
        Self {
            inner: Arc::new(Inner {
                epoch: Instant::now(),
                per_second,
                burst,
                buckets: std::array::from_fn(|_| Bucket::new(interval, tolerance)),
            }),
        }
    }

    /// `(per_second, burst)`.
    pub fn limits(&self) -> (u32, u32) {
        (self.inner.per_second, self.inner.burst)
    }

    /// `Some(suppressed)` when an event of `kind` may be written now.
    fn admit(&self, kind: AuditKind) -> Option<u64> {
        let now = u64::try_from(self.inner.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.inner.buckets[kind.index()].admit(now)
    }

    /// An admin endpoint refused a request.
    pub(crate) fn admin_denied(&self, kind: AuditKind, path: &str, origin: Origin) {
        let Some(suppressed) = self.admit(kind) else {
            return;
        };
        let reason = match kind {
            AuditKind::AuthMissing => "no bearer token",
            _ => "token does not match",
        };
        tracing::event!(
            target: AUDIT_TARGET,
            tracing::Level::WARN,
            audit.event = kind.as_str(),
            reason,
            url.path = bounded(path),
            client.address = origin.client.map(tracing::field::display),
            network.peer.address = origin.peer.map(tracing::field::display),
            suppressed,
            "admin request denied"
        );
    }

    /// A header's value was refused; only its name and length are logged.
    pub(crate) fn header_rejected(
        &self,
        header: &http::HeaderName,
        len: usize,
        reason: &'static str,
        path: &str,
        origin: Origin,
    ) {
        let Some(suppressed) = self.admit(AuditKind::HeaderRejected) else {
            return;
        };
        tracing::event!(
            target: AUDIT_TARGET,
            tracing::Level::WARN,
            audit.event = AuditKind::HeaderRejected.as_str(),
            reason,
            http.header = header.as_str(),
            header.length = len,
            url.path = bounded(path),
            client.address = origin.client.map(tracing::field::display),
            network.peer.address = origin.peer.map(tracing::field::display),
            suppressed,
            "hostile header rejected"
        );
    }

    /// A request declared a body over the limit.
    pub(crate) fn oversized(
        &self,
        content_length: u64,
        limit: u64,
        rejected: bool,
        path: &str,
        origin: Origin,
    ) {
        let Some(suppressed) = self.admit(AuditKind::Oversized) else {
            return;
        };
        tracing::event!(
            target: AUDIT_TARGET,
            tracing::Level::WARN,
            audit.event = AuditKind::Oversized.as_str(),
            reason = "content-length over the limit",
            content_length,
            limit,
            rejected,
            url.path = bounded(path),
            client.address = origin.client.map(tracing::field::display),
            network.peer.address = origin.peer.map(tracing::field::display),
            suppressed,
            "oversized request"
        );
    }
}

/// The first [`MAX_PATH`] bytes of `path`, cut at a character boundary.
fn bounded(path: &str) -> &str {
    super::limits::truncate(path, MAX_PATH)
}

/// A GCRA token bucket: `tat` is the theoretical arrival time of the next event in
/// nanoseconds since the log's epoch. An event is admitted when `tat` is at most `tolerance`
/// ahead of now, and pushes it `interval` further; one CAS, no lock.
struct Bucket {
    tat: AtomicU64,
    suppressed: AtomicU64,
    interval: u64,
    tolerance: u64,
}

impl Bucket {
    fn new(interval: u64, tolerance: u64) -> Self {
        Self {
            tat: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
            interval,
            tolerance,
        }
    }

    fn admit(&self, now: u64) -> Option<u64> {
        let mut tat = self.tat.load(Ordering::Relaxed);
        loop {
            let base = tat.max(now);
            if base - now > self.tolerance {
                self.suppressed.fetch_add(1, Ordering::Relaxed);
                return None;
            }
            match self.tat.compare_exchange_weak(
                tat,
                base.saturating_add(self.interval),
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Some(self.suppressed.swap(0, Ordering::Relaxed)),
                Err(current) => tat = current,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: u64 = 1_000_000_000;

    #[test]
    fn bucket_admits_a_burst_then_the_rate_and_counts_the_rest() {
        // 10 per second, burst 3.
        let b = Bucket::new(SECOND / 10, SECOND / 10 * 2);
        assert_eq!(b.admit(0), Some(0));
        assert_eq!(b.admit(0), Some(0));
        assert_eq!(b.admit(0), Some(0));
        for _ in 0..100 {
            assert_eq!(b.admit(1), None);
        }
        // One token back after 100 ms, carrying the count of what was dropped.
        assert_eq!(b.admit(SECOND / 10), Some(100));
        assert_eq!(b.admit(SECOND / 10), None);
        // A long quiet spell refills the burst, not more.
        let later = 60 * SECOND;
        assert_eq!(b.admit(later), Some(1));
        assert_eq!(b.admit(later), Some(0));
        assert_eq!(b.admit(later), Some(0));
        assert_eq!(b.admit(later), None);
    }

    #[test]
    fn concurrent_callers_share_one_burst() {
        let b = std::sync::Arc::new(Bucket::new(SECOND / 10, SECOND / 10 * 19));
        let admitted: u64 = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| {
                    let b = &b;
                    s.spawn(move || (0..10_000).filter(|_| b.admit(5).is_some()).count() as u64)
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(admitted, 20);
        assert_eq!(b.suppressed.load(Ordering::Relaxed), 40_000 - 20);
    }

    #[test]
    fn each_kind_has_its_own_bucket() {
        let log = AuditLog::new(1, 1);
        assert_eq!(log.admit(AuditKind::AuthMissing), Some(0));
        assert_eq!(log.admit(AuditKind::AuthMissing), None);
        assert_eq!(log.admit(AuditKind::Oversized), Some(0));
    }

    #[test]
    fn zero_limits_count_as_one() {
        assert_eq!(AuditLog::new(0, 0).limits(), (1, 1));
    }

    #[test]
    fn long_paths_are_cut_at_a_char_boundary() {
        let p = format!("/{}", "é".repeat(300));
        let b = bounded(&p);
        assert!(b.len() <= MAX_PATH && p.starts_with(b));
        assert_eq!(bounded("/short"), "/short");
    }
}
