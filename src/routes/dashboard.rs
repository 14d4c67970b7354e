//! `GET /health/dashboard`: everything the other endpoints answer, in one JSON, or, for a
//! browser, a self-contained HTML page that draws it and refreshes itself.
//!
//! Which one is served: `?format=json` or `?format=html` decide; otherwise HTML when the
//! `Accept` header names `text/html` with a weight at least that of `application/json`
//! (what browsers send), JSON for everything else (curl, scripts, the page's own fetches).
//!
//! The JSON is composed from the same body builders as `/health`, `/health/budget`,
//! `/health/metrics`, `/health/system` and `/health/alerts`, plus [`Aggregator::series`] for
//! the charts' history: snapshot reads only. Its size is bounded: at most 61 series points,
//! the [`MAX_ROUTES`] busiest routes, and the configured checks.
//!
//! The page (`dashboard.html`) holds no data: it fetches the JSON from its own origin, with
//! `Authorization: Bearer` when a token was given in the page's `#token=` fragment. Its
//! `Content-Security-Policy` allows nothing but that same-origin fetch and its own inline
//! script and style (by a per-response nonce), so it cannot load or send anything elsewhere.
//!
//! [`Aggregator::series`]: crate::window::Aggregator::series

use std::collections::HashMap;
use std::time::SystemTime;

use axum::extract::{Query, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::{RouteState, bad_request, json};
use crate::window::{Series, ServiceSnapshot, Window};

/// The page; `{{NONCE}}` is replaced per response.
const PAGE: &str = include_str!("dashboard.html");
const NONCE_MARK: &str = "{{NONCE}}";
/// Routes listed in the JSON, the service's own before monitoring routes, busiest first; the rest are counted in `routes_omitted`.
pub(crate) const MAX_ROUTES: usize = 20;

/// The JSON body.
#[derive(Serialize)]
struct Body<H: Serialize, B: Serialize, S: Serialize> {
    /// The overall status, as `/health/status` says it: worst of health, budgets and alerts.
    status: &'static str,
    /// The trace link template (`PULSE_TRACE_URL`), absent when none is set.
    trace_url: Option<String>,
    service: String,
    version: Option<String>,
    generated_at: String,
    uptime_s: u64,
    window: Window,
    health: H,
    budget: B,
    metrics: Metrics,
    series: Series,
    alerts: serde_json::Value,
    system: S,
}

/// The window's snapshot with at most [`MAX_ROUTES`] routes.
#[derive(Serialize)]
struct Metrics {
    #[serde(flatten)]
    snapshot: ServiceSnapshot,
    routes_omitted: usize,
}

fn bounded(mut snapshot: ServiceSnapshot) -> Metrics {
    let total = snapshot.routes.len();
    if total > MAX_ROUTES {
        // The service's own routes first: a busy probe must not push them off the page.
        let mut by_requests: Vec<(bool, u64, String)> = snapshot
            .routes
            .iter()
            .map(|(k, v)| (v.monitoring, v.requests, k.clone()))
            .collect();
        by_requests.sort_unstable_by(|a, b| {
            a.0.cmp(&b.0)
                .then_with(|| b.1.cmp(&a.1))
                .then_with(|| a.2.cmp(&b.2))
        });
        for (_, _, name) in by_requests.into_iter().skip(MAX_ROUTES) {
            snapshot.routes.remove(&name);
        }
    }
    Metrics {
        routes_omitted: total - snapshot.routes.len(),
        snapshot,
    }
}

pub(super) async fn dashboard(
    State(st): State<RouteState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    // Decided by the same function an auth layer uses to let the page through, on the raw
    // query, so the two can never disagree about which requests get data.
    if super::negotiate::wants_html(&headers, raw.as_deref()) {
        return page();
    }
    if q.get("format").is_some_and(|f| f != "json") {
        return bad_request("format must be json or html");
    }
    let window = match q.get("window").map(String::as_str) {
        None => Window::FiveMinutes,
        Some(w) => match Window::parse(w) {
            Some(w) => w,
            None => return bad_request("window must be one of 1m, 5m, 1h"),
        },
    };
    // As `/health` does: with background refresh (the default) a read of the cache; with
    // on-demand refresh, the caller chose that readers trigger the shared probes.
    let report = st.health.report().await;
    let snapshot = st.aggregator.snapshot(window);
    let budget_window = st.config.budgets.window;
    let budget = if budget_window == window {
        super::budget_body(&st, &snapshot)
    } else {
        super::budget_body(&st, &st.aggregator.snapshot(budget_window))
    };
    let alert_snap = st.alerts.snapshot();
    let body = Body {
        status: super::alerts::overall(report.status, &budget.report.budgets, &alert_snap),
        trace_url: st.trace_url.as_deref().map(str::to_owned),
        service: st.alerts.service().to_owned(),
        version: st.version.as_deref().map(str::to_owned),
        generated_at: crate::rfc3339::format(SystemTime::now()),
        uptime_s: st.aggregator.uptime_s(),
        window,
        health: super::health::health_body(&st, &report),
        budget,
        metrics: bounded(snapshot),
        series: st.aggregator.series(window),
        alerts: super::alerts::alerts_json(&st, &alert_snap),
        system: super::system::system_body(&st, &report),
    };
    let mut r = json(StatusCode::OK, &body);
    r.headers_mut()
        .insert(header::VARY, HeaderValue::from_static("accept"));
    r
}

/// The page with a fresh nonce, and headers that keep it from loading anything external.
fn page() -> Response {
    let nonce = uuid::Uuid::new_v4().simple().to_string();
    let body = PAGE.replace(NONCE_MARK, &nonce);
    let csp = format!(
        "default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; \
         connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; \
         frame-ancestors 'none'"
    );
    let mut r = (StatusCode::OK, body).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::VARY, HeaderValue::from_static("accept"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    // A nonce is 32 hex digits: always a valid header value.
    if let Ok(v) = HeaderValue::from_str(&csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_has_one_nonce_mark_per_inline_block_and_no_external_reference() {
        assert_eq!(PAGE.matches(NONCE_MARK).count(), 2);
        // The SVG namespace is a name, not a request.
        let page = PAGE.replace("http://www.w3.org/2000/svg", "");
        for needle in [
            "http://",
            "https://",
            "//cdn",
            "@import",
            "innerHTML",
            "eval(",
        ] {
            assert!(!page.contains(needle), "the page contains {needle}");
        }
    }
}
