//! The series the rules read, by [`Source`]: the request counter and the latency histogram,
//! which status codes count as errors (as in-process), and the routes left out as monitoring
//! traffic (as in-process).

use super::Source;
use super::writer::{ErrorSeries, Gen, q};
use crate::config::PulseConfig;

/// The series every rule is computed from, for either style.
pub(super) struct Series {
    pub(super) errors: ErrorSeries,
    /// A counter of requests with a status code label.
    pub(super) requests: &'static str,
    /// The latency histogram's `_bucket` and `_count`.
    pub(super) bucket: String,
    pub(super) count: String,
    /// `on (<by>)`, to match the windows of one group in an alert.
    pub(super) on: String,
}

impl Series {
    /// The series of `source`, errors as `cfg` counts them, matched on `g`'s groups.
    pub(super) fn new(cfg: &PulseConfig, source: Source, g: &Gen) -> Self {
        let requests = source.requests();
        Self {
            errors: ErrorSeries {
                source,
                requests,
                bad_status: format!("http_response_status_code=~{}", q(&error_status_regex(cfg))),
                cancelled: cfg.errors.count_cancelled,
            },
            requests,
            bucket: format!("{}_bucket", source.histogram()),
            count: format!("{}_count", source.histogram()),
            on: format!("on ({})", g.by),
        }
    }
}

/// The `http_route` matcher that leaves monitoring traffic out of every rule: the routes the
/// aggregator leaves out of service-wide figures ([`Monitoring::excluded_routes`], pulsecheck's
/// own endpoints plus `[monitoring] exclude`), or none when `count_monitoring` counts them, so
/// Prometheus and `/health/budget` judge the same requests.
///
/// [`Monitoring::excluded_routes`]: crate::budget::Monitoring::excluded_routes
pub(super) fn monitoring_matcher(cfg: &PulseConfig) -> Option<String> {
    let routes = cfg.monitoring.excluded_routes();
    if routes.is_empty() {
        return None;
    }
    let alternatives: Vec<String> = routes.iter().map(|r| regex_escape(r)).collect();
    Some(format!("http_route!~{}", q(&alternatives.join("|"))))
}

/// The status codes counted as errors, as an `http_response_status_code` regular expression:
/// `[errors]` classes and statuses, and 499 (a request the client abandoned) decided by
/// `count_cancelled` as in-process, whatever the classes say.
pub(super) fn error_status_regex(cfg: &PulseConfig) -> String {
    const CANCELLED: u16 = crate::layer::CANCELLED_STATUS;
    let e = &cfg.errors;
    let mut alts: Vec<String> = e
        .classes
        .iter()
        .map(|&c| {
            if !e.count_cancelled && c == CANCELLED / 100 {
                // Every 4xx but 499.
                format!("{c}[0-8].|{c}9[0-8]")
            } else {
                format!("{c}..")
            }
        })
        .collect();
    alts.extend(
        e.statuses
            .iter()
            .filter(|&&s| s != CANCELLED || e.count_cancelled)
            .map(u16::to_string),
    );
    let covered = e.classes.contains(&(CANCELLED / 100)) || e.statuses.contains(&CANCELLED);
    if e.count_cancelled && !covered {
        alts.push(CANCELLED.to_string());
    }
    alts.join("|")
}

/// Whether `l` is a valid Prometheus label name.
pub(super) fn label_ok(l: &str) -> bool {
    let mut c = l.chars();
    c.next()
        .is_some_and(|f| f.is_ascii_alphabetic() || f == '_')
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
}

/// `s` matched literally in a PromQL regular expression.
pub(super) fn regex_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            o.push('\\');
        }
        o.push(c);
    }
    o
}
