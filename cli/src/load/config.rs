//! What a run does: target, request, model (closed or open), limits.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method};

use super::error::LoadError;

/// The longest run, warm-up or request timeout: a year, far from where `Instant + Duration`
/// overflows (a panic deep in the run otherwise).
pub const MAX_RUN_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);

/// When a run ends.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Stop {
    /// After this long (warm-up not included).
    After(Duration),
    /// After this many requests (warm-up not included).
    Requests(u64),
}

/// A load test's settings. [`LoadConfig::new`] gives the defaults: 10 connections for 60 s,
/// `GET`, HTTP/1.1, 30 s request timeout, no warm-up, no rate (closed model).
///
/// ```
/// use pulsecheck_cli::load::{LoadConfig, Stop};
/// use std::time::Duration;
/// let mut cfg = LoadConfig::new("http://127.0.0.1:8080/api/courses");
/// cfg.stop = Stop::Requests(1000);
/// cfg.rate = Some(200.0); // open model: 200 requests/s on a schedule
/// assert!(cfg.validate().is_ok());
/// cfg.connections = 0;
/// assert!(cfg.validate().is_err());
/// cfg.connections = 10;
/// cfg.timeout = Duration::from_secs(u64::MAX); // would overflow `Instant + timeout`
/// assert!(cfg.validate().unwrap_err().to_string().contains("timeout"));
/// ```
#[derive(Clone, Debug)]
pub struct LoadConfig {
    /// The URL every request goes to.
    pub url: String,
    /// Method. Defaults to `GET`.
    pub method: Method,
    /// Extra headers sent on every request.
    pub headers: HeaderMap,
    /// Request body. Defaults to empty.
    pub body: Bytes,
    /// HTTP/2 (prior knowledge on `http://`, ALPN on `https://`). Defaults to HTTP/1.1.
    pub http2: bool,
    /// Skip TLS certificate verification. Defaults to `false`.
    pub insecure: bool,
    /// Connections, each carrying one request at a time. Defaults to 10.
    pub connections: usize,
    /// When to stop. Defaults to 60 s.
    pub stop: Stop,
    /// Open model: requests per second on a fixed schedule, latency measured from each
    /// request's intended send time. Defaults to none (closed model).
    pub rate: Option<f64>,
    /// Per-request timeout (connect included). Defaults to 30 s.
    pub timeout: Duration,
    /// Requests during this first period are sent but not counted. Defaults to zero.
    pub warmup: Duration,
    /// A W3C `traceparent` and an `x-request-id` on every request. Defaults to `false`.
    pub trace: bool,
    /// Threads, each a single-threaded runtime with its share of the connections. Defaults
    /// to the number of CPUs.
    pub threads: usize,
}

impl LoadConfig {
    /// The defaults, for `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            method: Method::GET,
            headers: HeaderMap::new(),
            body: Bytes::new(),
            http2: false,
            insecure: false,
            connections: 10,
            stop: Stop::After(Duration::from_secs(60)),
            rate: None,
            timeout: Duration::from_secs(30),
            warmup: Duration::ZERO,
            trace: false,
            threads: std::thread::available_parallelism().map_or(1, usize::from),
        }
    }

    /// Checks the settings (not the URL's reachability).
    pub fn validate(&self) -> Result<(), LoadError> {
        let bad = |field, reason: &str| {
            Err(LoadError::Invalid {
                field,
                reason: reason.to_owned(),
            })
        };
        if self.connections == 0 || self.connections > 100_000 {
            return bad("connections", "must be 1..=100000");
        }
        let too_long = pulsecheck::__private::DurationError::TooLarge {
            max: MAX_RUN_DURATION,
        }
        .to_string();
        match self.stop {
            Stop::After(d) if d.is_zero() => return bad("duration", "must be more than zero"),
            Stop::After(d) if d > MAX_RUN_DURATION => return bad("duration", &too_long),
            Stop::Requests(0) => return bad("requests", "must be at least 1"),
            _ => {}
        }
        if let Some(r) = self.rate
            && !(r.is_finite() && (0.001..=10_000_000.0).contains(&r))
        {
            return bad("rate", "must be 0.001 to 10000000 requests per second");
        }
        if self.threads == 0 || self.threads > 1024 {
            return bad("threads", "must be 1..=1024");
        }
        if self.timeout.is_zero() {
            return bad("timeout", "must be more than zero");
        }
        if self.timeout > MAX_RUN_DURATION {
            return bad("timeout", &too_long);
        }
        if self.warmup > MAX_RUN_DURATION {
            return bad("warmup", &too_long);
        }
        super::client::Target::parse(&self.url)?;
        Ok(())
    }
}
