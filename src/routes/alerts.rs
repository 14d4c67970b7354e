//! `/health/alerts` (the alert engine's state) and `/health/status` (one screen: health,
//! budgets, firing alerts). Both read the latest snapshots; nothing is evaluated here.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{RouteState, bad_request, json as json_response};
use crate::alert::{AlertState, AlertView, AlertsSnapshot, HistoryEntry};
use crate::budget::{BudgetStatus, evaluate};

/// Transitions listed by default; `?history=N` asks for up to [`MAX_HISTORY`].
const DEFAULT_HISTORY: usize = 20;
const MAX_HISTORY: usize = 500;

#[derive(Deserialize)]
pub(crate) struct AlertsQuery {
    status: Option<String>,
    history: Option<String>,
}

#[derive(Serialize)]
struct AlertsBody<'a> {
    alerts: Vec<&'a AlertView>,
    thresholds: Value,
    #[serde(serialize_with = "crate::rfc3339::serialize_opt")]
    evaluated_at: Option<std::time::SystemTime>,
    evaluations: u64,
    history: &'a [HistoryEntry],
    /// Delivery counts per notifier (empty when none is configured).
    notifiers: Vec<crate::alert::notify::NotifierStats>,
}

/// Limits the rules compare against, so a reader sees why something fires.
fn thresholds(st: &RouteState) -> Value {
    let b = &st.config.budgets;
    let a = &st.config.alerts;
    json!({
        "window": b.window,
        "latency_p95_ms": b.p95_ms,
        "latency_p99_ms": b.p99_ms,
        "error_rate": b.error_rate,
        "memory_mib": b.memory_mib,
        "warn_ratio": b.warn_ratio,
        "min_requests": b.min_requests,
        "routes": b.routes.iter().map(|(r, rb)| (r.clone(), json!({
            "latency_p95_ms": rb.p95_ms.unwrap_or(b.p95_ms),
            "latency_p99_ms": rb.p99_ms.unwrap_or(b.p99_ms),
            "error_rate": rb.error_rate.unwrap_or(b.error_rate),
        }))).collect::<serde_json::Map<_, _>>(),
        "slo": st.config.slos().map(|s| json!({"name": s.name, "objective": s.objective})).collect::<Vec<_>>(),
        "slo_burn_rates": crate::budget::TIERS.iter().map(|t| json!({
            "severity": t.severity, "long_minutes": t.long_minutes,
            "short_minutes": t.short_minutes, "burn_rate": t.burn_rate,
        })).collect::<Vec<_>>(),
        "cpu_utilization": a.cpu_utilization,
        "host_memory_utilization": a.host_memory_utilization,
        "interval_s": a.interval.as_secs_f64(),
        "for_s": a.pending_for.as_secs_f64(),
        "for_rule_s": a.for_rule.iter().map(|(k, v)| (k.clone(), json!(v.as_secs_f64()))).collect::<serde_json::Map<_, _>>(),
        "keep_firing_for_s": a.keep_firing_for.as_secs_f64(),
    })
}

/// The `/health/alerts` body of `snap`, also embedded in the dashboard.
pub(crate) fn alerts_json(st: &RouteState, snap: &AlertsSnapshot) -> Value {
    serde_json::to_value(body(st, snap, None, DEFAULT_HISTORY)).unwrap_or(Value::Null)
}

/// The overall status, `ok`, `warning` or `critical`: the worst of health, budgets and
/// firing alerts. `/health/status` and the dashboard's header both say this, so the two can
/// never tell different stories.
pub(crate) fn overall(
    health: crate::health::HealthStatus,
    budgets: &[crate::budget::BudgetLine],
    alerts: &AlertsSnapshot,
) -> &'static str {
    use crate::health::HealthStatus;
    let mut level = 0u8;
    match health {
        HealthStatus::Healthy => {}
        HealthStatus::Degraded => level = level.max(1),
        HealthStatus::Unhealthy | HealthStatus::Unknown => level = 2,
    }
    match budgets.iter().map(|l| l.status).max() {
        Some(BudgetStatus::Critical) => level = 2,
        Some(BudgetStatus::Warning) => level = level.max(1),
        _ => {}
    }
    for a in alerts.firing() {
        level = level.max(if a.severity.is_urgent() { 2 } else { 1 });
    }
    ["ok", "warning", "critical"][usize::from(level)]
}

fn body<'a>(
    st: &RouteState,
    snap: &'a AlertsSnapshot,
    status: Option<AlertState>,
    history: usize,
) -> AlertsBody<'a> {
    let h = &snap.history;
    AlertsBody {
        alerts: snap
            .alerts
            .iter()
            .filter(|a| status.is_none_or(|s| a.status == s))
            .collect(),
        thresholds: thresholds(st),
        evaluated_at: snap.evaluated_at,
        evaluations: snap.evaluations,
        history: &h[h.len().saturating_sub(history)..],
        notifiers: st
            .notifications
            .as_ref()
            .map(|d| d.stats())
            .unwrap_or_default(),
    }
}

pub(crate) async fn alerts(State(st): State<RouteState>, Query(q): Query<AlertsQuery>) -> Response {
    let status = match q.status.as_deref() {
        None | Some("") => None,
        Some("firing") => Some(AlertState::Firing),
        Some("pending") => Some(AlertState::Pending),
        Some("resolved") => Some(AlertState::Resolved),
        Some(_) => return bad_request("status must be one of firing, pending, resolved"),
    };
    let history = match q.history.as_deref() {
        None => DEFAULT_HISTORY,
        Some(h) => match h.parse::<usize>() {
            Ok(n) => n.min(MAX_HISTORY),
            Err(_) => return bad_request("history must be a number of entries"),
        },
    };
    let snap = st.alerts.snapshot();
    json_response(StatusCode::OK, &body(&st, &snap, status, history))
}

/// `/health/status`: `ok`, `warning` or `critical` from the worst of health, budgets and
/// firing alerts, with the few facts behind it. Always 200: it is a view, not a probe.
pub(crate) async fn status(State(st): State<RouteState>) -> Response {
    json_response(StatusCode::OK, &status_json(&st))
}

pub(crate) fn status_json(st: &RouteState) -> Value {
    let report = st.health.cached_report();
    let b = &st.config.budgets;
    let snap = st.aggregator.snapshot(b.window);
    let budget = evaluate(b, &snap, st.system.latest().process.rss_bytes);
    let alerts = st.alerts.snapshot();
    let firing: Vec<&AlertView> = alerts.firing().collect();
    let overall = overall(report.status, &budget.budgets, &alerts);
    let checks: serde_json::Map<String, Value> = report
        .checks
        .iter()
        .map(|c| (c.name.clone(), Value::from(c.status().as_str())))
        .collect();
    let s = &snap.service;
    json!({
        "status": overall,
        "service": st.alerts.service(),
        "version": st.version.as_deref(),
        "uptime_s": st.aggregator.uptime_s(),
        "health": {
            "status": report.status,
            "ready": report.ready,
            "shutting_down": report.shutting_down,
            "checks": checks,
        },
        "budget": {
            "status": budget.status,
            "window": budget.window,
            "over": budget.budgets.iter().filter(|l| l.status != BudgetStatus::Ok).collect::<Vec<_>>(),
        },
        "traffic": {
            "window": snap.window,
            "requests": s.requests,
            "throughput_rpm": s.throughput_rpm,
            "error_rate": s.error_rate,
            "p50_ms": s.latency_ms.as_ref().map(|l| l.p50),
            "p95_ms": s.latency_ms.as_ref().map(|l| l.p95),
            "p99_ms": s.latency_ms.as_ref().map(|l| l.p99),
        },
        "alerts": {
            "firing": firing.len(),
            "list": firing.iter().map(|a| json!({
                "name": a.name, "severity": a.severity, "since": crate::rfc3339::format(a.since),
                "summary": a.summary, "labels": a.labels,
            })).collect::<Vec<_>>(),
        },
    })
}
