//! The sliding windows (`window` label `1m`, `5m`, `1h`): counts, error ratio, latency
//! percentiles and responses, for the service and for each route template (bounded by the
//! layer's route cap). Both scopes read the same [`Snapshot`] figures into their own
//! families, so each is a [`Scope`] table rather than code.

use std::collections::BTreeMap;

use super::exposition::Exposition;
use crate::catalogue::{self as c, Metric};
use crate::window::{Latency, ServiceSnapshot, Snapshot};

/// A figure of a window's [`Snapshot`].
type Figure = fn(&Snapshot) -> f64;
/// A latency percentile, in milliseconds. (`percentile`, not `quantile`: that label is
/// reserved for summaries, whose counts are cumulative.)
type Pick = fn(&Latency) -> f64;

/// The families of one scope, in the order they are written.
struct Scope {
    /// One series per window (and route).
    figures: &'static [(&'static Metric, Figure)],
    /// Latency percentiles, in seconds; absent without requests.
    duration: &'static Metric,
    percentiles: &'static [(&'static str, Pick)],
    /// The slowest request, in seconds; absent without requests.
    max: Option<&'static Metric>,
    /// Requests by response status, under label `by`.
    responses: &'static Metric,
    by: &'static str,
    counts: fn(&Snapshot) -> &BTreeMap<String, u64>,
}

const SERVICE: Scope = Scope {
    figures: &[
        (&c::WINDOW_REQUESTS, |s| s.requests as f64),
        (&c::WINDOW_ERRORS, |s| s.errors as f64),
        (&c::WINDOW_ERROR_RATIO, |s| s.error_rate),
        (&c::WINDOW_COVERED, |s| s.window_s as f64),
    ],
    duration: &c::WINDOW_REQUEST_DURATION,
    percentiles: &[
        ("p50", |l| l.p50),
        ("p90", |l| l.p90),
        ("p95", |l| l.p95),
        ("p99", |l| l.p99),
        ("p999", |l| l.p999),
    ],
    max: Some(&c::WINDOW_REQUEST_DURATION_MAX),
    responses: &c::WINDOW_RESPONSES,
    by: "code",
    counts: |s| &s.status_codes,
};

const ROUTES: Scope = Scope {
    figures: &[
        (&c::ROUTE_WINDOW_REQUESTS, |s| s.requests as f64),
        (&c::ROUTE_WINDOW_ERRORS, |s| s.errors as f64),
        (&c::ROUTE_WINDOW_ERROR_RATIO, |s| s.error_rate),
    ],
    duration: &c::ROUTE_WINDOW_REQUEST_DURATION,
    percentiles: &[("p50", |l| l.p50), ("p95", |l| l.p95), ("p99", |l| l.p99)],
    max: None,
    responses: &c::ROUTE_WINDOW_RESPONSES,
    by: "class",
    counts: |s| &s.status_classes,
};

/// One window's snapshot of the scope, and the labels that say which.
struct Row<'a> {
    labels: Vec<(&'static str, &'a str)>,
    snap: &'a Snapshot,
}

impl Row<'_> {
    /// The row's labels and one more.
    fn with<'b>(&'b self, key: &'static str, value: &'b str) -> Vec<(&'static str, &'b str)> {
        let mut labels = self.labels.clone();
        labels.push((key, value));
        labels
    }
}

pub(super) fn write(e: &mut Exposition, snaps: &[ServiceSnapshot]) {
    let service: Vec<Row<'_>> = snaps
        .iter()
        .map(|s| Row {
            labels: vec![("window", s.window.as_str())],
            snap: &s.service,
        })
        .collect();
    SERVICE.write(e, &service);
    let routes: Vec<Row<'_>> = snaps
        .iter()
        .flat_map(|s| {
            s.routes.iter().map(|(route, r)| Row {
                labels: vec![("window", s.window.as_str()), ("route", route.as_str())],
                snap: r,
            })
        })
        .collect();
    ROUTES.write(e, &routes);
}

impl Scope {
    fn write(&self, e: &mut Exposition, rows: &[Row<'_>]) {
        for (metric, figure) in self.figures {
            e.family(metric);
            for r in rows {
                e.sample(&r.labels, figure(r.snap));
            }
        }
        e.family(self.duration);
        for r in rows {
            if let Some(l) = &r.snap.latency_ms {
                for (p, pick) in self.percentiles {
                    e.sample(&r.with("percentile", p), pick(l) / 1e3);
                }
            }
        }
        if let Some(max) = self.max {
            e.family(max);
            for r in rows {
                if let Some(l) = &r.snap.latency_ms {
                    e.sample(&r.labels, l.max / 1e3);
                }
            }
        }
        e.family(self.responses);
        for r in rows {
            for (status, n) in (self.counts)(r.snap) {
                e.sample(&r.with(self.by, status), *n as f64);
            }
        }
    }
}
