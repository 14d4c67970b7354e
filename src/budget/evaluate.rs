//! Budgets checked against a window: each limit's utilisation and status.

use serde::Serialize;

use super::kind::BudgetKind;
use crate::config::Budgets;
use crate::window::{ServiceSnapshot, Snapshot};

/// Where a budget stands: each line's status, and the report's (its worst line's).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BudgetStatus {
    /// Under the warning threshold (or too few requests to judge).
    Ok,
    /// At or over the warning ratio of the limit.
    Warning,
    /// Over the limit.
    Critical,
}

impl BudgetStatus {
    /// `ok`, `warning` or `critical`: a line's word in `/health/budget`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Warning => "warning",
            Self::Critical => "critical",
        }
    }

    /// `healthy`, `warning` or `critical`: the report's word in `/health/budget`, the word
    /// `/health` uses for a status with nothing wrong.
    pub fn overall_str(self) -> &'static str {
        match self {
            Self::Ok => "healthy",
            other => other.as_str(),
        }
    }
}

fn serialize_overall<S: serde::Serializer>(s: &BudgetStatus, ser: S) -> Result<S::Ok, S::Error> {
    ser.serialize_str(s.overall_str())
}

/// One limit.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BudgetLine {
    /// What it limits: `latency_p95_ms`, `latency_p99_ms`, `error_rate` or `memory_mib`.
    pub name: BudgetKind,
    /// The route it applies to; absent for service-wide budgets.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    /// The limit.
    pub limit: f64,
    /// The measured value (absent when there is nothing to measure).
    pub value: Option<f64>,
    /// `value / limit`.
    pub utilization: Option<f64>,
    /// The objective below the limit, where there is one (error rate).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<f64>,
    /// The status.
    pub status: BudgetStatus,
    /// Why the status is `ok` despite the value, when it is held there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// All budgets; `status` is the worst line.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BudgetReport {
    /// The worst line's status; in JSON `healthy` (for [`BudgetStatus::Ok`]), `warning` or
    /// `critical`.
    #[serde(serialize_with = "serialize_overall")]
    pub status: BudgetStatus,
    /// The window checked.
    pub window: crate::window::Window,
    /// Requests in that window.
    pub requests: u64,
    /// Every limit.
    pub budgets: Vec<BudgetLine>,
}

fn line(
    name: BudgetKind,
    route: Option<&str>,
    limit: f64,
    value: Option<f64>,
    warn_ratio: f64,
    enough: bool,
    min_requests: u64,
) -> BudgetLine {
    let utilization = value.map(|v| v / limit);
    let mut note = None;
    let status = match utilization {
        _ if !enough => {
            note = Some(format!("fewer than {min_requests} requests in the window"));
            BudgetStatus::Ok
        }
        Some(u) if u > 1.0 => BudgetStatus::Critical,
        Some(u) if u >= warn_ratio => BudgetStatus::Warning,
        _ => BudgetStatus::Ok,
    };
    BudgetLine {
        name,
        route: route.map(str::to_owned),
        limit,
        value,
        utilization,
        target: None,
        status,
        note,
    }
}

fn request_lines(
    b: &Budgets,
    s: &Snapshot,
    route: Option<&str>,
    p95: f64,
    p99: f64,
    err: f64,
) -> [BudgetLine; 3] {
    let enough = s.requests >= b.min_requests;
    let lat = s.latency_ms.as_ref();
    let mut e = line(
        BudgetKind::ErrorRate,
        route,
        err,
        (s.requests > 0).then_some(s.error_rate),
        b.warn_ratio,
        enough,
        b.min_requests,
    );
    e.target = Some(b.error_target);
    [
        line(
            BudgetKind::LatencyP95,
            route,
            p95,
            lat.map(|l| l.p95),
            b.warn_ratio,
            enough,
            b.min_requests,
        ),
        line(
            BudgetKind::LatencyP99,
            route,
            p99,
            lat.map(|l| l.p99),
            b.warn_ratio,
            enough,
            b.min_requests,
        ),
        e,
    ]
}

/// Checks `budgets` against a snapshot of their window and the process memory.
pub fn evaluate(budgets: &Budgets, snap: &ServiceSnapshot, rss_bytes: Option<u64>) -> BudgetReport {
    let b = budgets;
    let mut lines: Vec<BudgetLine> =
        request_lines(b, &snap.service, None, b.p95_ms, b.p99_ms, b.error_rate).into();
    let mut mem = line(
        BudgetKind::Memory,
        None,
        b.memory_mib,
        rss_bytes.map(|r| r as f64 / (1024.0 * 1024.0)),
        b.warn_ratio,
        true,
        0,
    );
    if rss_bytes.is_none() {
        mem.note = Some("process memory unavailable on this platform".into());
    }
    lines.push(mem);
    for (route, r) in &b.routes {
        let Some(s) = snap.routes.get(route) else {
            continue;
        };
        lines.extend(request_lines(
            b,
            s,
            Some(route),
            r.p95_ms.unwrap_or(b.p95_ms),
            r.p99_ms.unwrap_or(b.p99_ms),
            r.error_rate.unwrap_or(b.error_rate),
        ));
    }
    let worst = lines
        .iter()
        .map(|l| l.status)
        .max()
        .unwrap_or(BudgetStatus::Ok);
    BudgetReport {
        status: worst,
        window: snap.window,
        requests: snap.service.requests,
        budgets: lines,
    }
}
