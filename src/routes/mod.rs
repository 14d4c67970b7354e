//! HTTP endpoints: health and probes (`health.rs`), the aggregator's state
//! (`/health/metrics`, `/health/budget`), alerts (`alerts.rs`) and everything at once
//! (`dashboard.rs`), behind admin authentication (`auth.rs`) except for the probes.
//! Each answer costs a snapshot read, never a computation over raw requests, and is never
//! cached by intermediaries (`Cache-Control: no-store`).

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get};
use serde::Serialize;
use tower_layer::Layer as _;

use crate::budget::{evaluate, evaluate_slo};
use crate::config::PulseConfig;
use crate::endpoints;
use crate::health::Health;
use crate::window::{Aggregator, ServiceSnapshot, Window};

pub(crate) use auth::AdminAuth;

mod alerts;
mod auth;
mod dashboard;
mod health;

mod negotiate;
mod openmetrics;
mod prometheus;
mod system;

#[derive(Clone)]
pub(crate) struct RouteState {
    pub(crate) aggregator: Aggregator,
    pub(crate) config: Arc<PulseConfig>,
    pub(crate) health: Health,
    pub(crate) version: Option<Arc<str>>,
    pub(crate) system: crate::system::SystemMonitor,
    pub(crate) alerts: crate::alert::Alerts,
    pub(crate) notifications: Option<crate::alert::notify::Dispatcher>,
    pub(crate) metrics_cache: Arc<prometheus::RenderCache>,
    pub(crate) admin: Arc<AdminAuth>,
    /// The dashboard's trace link template (`PULSE_TRACE_URL`), validated.
    pub(crate) trace_url: Option<Arc<str>>,
}

/// The endpoints, for any router state: the public probes, and the admin routes behind the
/// token when one is configured.
pub(crate) fn router<S: Clone + Send + Sync + 'static>(
    state: RouteState,
    prometheus_route: bool,
) -> axum::Router<S> {
    let public = axum::Router::new()
        .route(endpoints::HEALTH, get(health::health))
        .route(endpoints::LIVE, get(health::live))
        .route(endpoints::READY, get(health::ready))
        .route(endpoints::HEALTH_GROUP, get(health::group));
    let mut router = public.with_state(state.clone());
    let auth = Arc::clone(&state.admin);
    for (path, methods) in admin_routes(prometheus_route) {
        let methods = methods.with_state(state.clone());
        // Authentication wraps the whole method router, its 405 fallback and `Allow` header
        // included: without the token every method answers the same 401, so a caller cannot
        // learn which methods an admin path serves. (`route_layer` wraps each method's handler
        // and the fallback, but axum adds `Allow` outside them.) An unknown path still
        // reaches the application's fallback.
        router = match (state.admin.enabled(), path) {
            (false, _) => router.route_service(path, methods),
            (true, endpoints::DASHBOARD) => router.route_service(
                path,
                axum::middleware::from_fn_with_state(
                    Arc::clone(&auth),
                    auth::require_admin_for_data,
                )
                .layer(methods),
            ),
            (true, _) => router.route_service(
                path,
                axum::middleware::from_fn_with_state(Arc::clone(&auth), auth::require_admin)
                    .layer(methods),
            ),
        };
    }
    router
}

/// Every route here requires the admin token when one is set (the dashboard only for its
/// JSON): add new endpoints here, not to the public probes.
fn admin_routes(prometheus_route: bool) -> Vec<(&'static str, MethodRouter<RouteState>)> {
    let mut routes = vec![
        (endpoints::DETAILED, get(health::detailed)),
        (endpoints::METRICS_JSON, get(metrics)),
        (endpoints::BUDGET, get(budget)),
        (endpoints::SYSTEM, get(system::system)),
        (endpoints::ALERTS, get(alerts::alerts)),
        (endpoints::STATUS, get(alerts::status)),
        (endpoints::DASHBOARD, get(dashboard::dashboard)),
    ];
    if prometheus_route {
        routes.push((endpoints::PROMETHEUS, get(prometheus::metrics)));
    }
    routes
}

fn json<T: Serialize>(status: StatusCode, body: &T) -> Response {
    let mut r = (status, Json(body)).into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn bad_request(message: &str) -> Response {
    json(
        StatusCode::BAD_REQUEST,
        &serde_json::json!({ "error": message }),
    )
}

async fn metrics(
    State(st): State<RouteState>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let window = match q.get("window").map(String::as_str) {
        None => Window::FiveMinutes,
        Some(w) => match Window::parse(w) {
            Some(w) => w,
            None => return bad_request("window must be one of 1m, 5m, 1h"),
        },
    };
    match q.get("route") {
        None => json(StatusCode::OK, &st.aggregator.snapshot(window)),
        Some(route) => match st.aggregator.route_snapshot(route, window) {
            Some(s) => json(
                StatusCode::OK,
                &serde_json::json!({ "window": window, "route": route, "metrics": s }),
            ),
            // Echo the route looked up: a shell or `curl` (globbing `{id}` into `id`) may have
            // changed it on the way, and the caller should see what arrived.
            None => json(
                StatusCode::NOT_FOUND,
                &serde_json::json!({
                    "error": format!("no data for route `{route}` in this window; routes are templates such as /api/courses/{{id}}"),
                    "route": route,
                }),
            ),
        },
    }
}

#[derive(Serialize)]
struct BudgetBody {
    #[serde(flatten)]
    report: crate::budget::BudgetReport,
    slos: Vec<SloEntry>,
}

/// One SLO in `/health/budget`: its report, or why it has none.
#[derive(Serialize)]
#[serde(untagged)]
enum SloEntry {
    Report(crate::budget::SloReport),
    Error { name: String, error: String },
}

/// The `/health/budget` body; `snapshot` must be of the budgets' window.
fn budget_body(st: &RouteState, snapshot: &ServiceSnapshot) -> BudgetBody {
    let b = &st.config.budgets;
    let report = evaluate(b, snapshot, crate::system::rss_bytes());
    let slos = st
        .config
        .slos()
        .map(|s| match evaluate_slo(s, &st.aggregator, b.min_requests) {
            Ok(r) => SloEntry::Report(r),
            Err(e) => SloEntry::Error {
                name: s.name.clone(),
                error: e.to_string(),
            },
        })
        .collect();
    BudgetBody { report, slos }
}

async fn budget(State(st): State<RouteState>) -> Response {
    let snapshot = st.aggregator.snapshot(st.config.budgets.window);
    json(StatusCode::OK, &budget_body(&st, &snapshot))
}
