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
use axum::routing::get;
use serde::Serialize;

use crate::budget::{PulseConfig, evaluate, evaluate_slo};
use crate::health::Health;
use crate::window::{Aggregator, ServiceSnapshot, Window};

pub(crate) use auth::AdminAuth;

mod alerts;
mod auth;
mod dashboard;
mod health;
pub(crate) mod monitoring;
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
}

/// The endpoints, for any router state: the public probes, and the admin routes behind the
/// token when one is configured.
pub(crate) fn router<S: Clone + Send + Sync + 'static>(
    state: RouteState,
    prometheus_route: bool,
) -> axum::Router<S> {
    let public = axum::Router::new()
        .route(monitoring::HEALTH, get(health::health))
        .route(monitoring::LIVE, get(health::live))
        .route(monitoring::READY, get(health::ready));
    let admin = admin_routes(prometheus_route);
    let dashboard = axum::Router::new().route(monitoring::DASHBOARD, get(dashboard::dashboard));
    // `route_layer`: only matched admin routes answer 401; an unknown path still reaches the
    // application's fallback.
    let (admin, dashboard) = if state.admin.enabled() {
        let auth = Arc::clone(&state.admin);
        (
            admin.route_layer(axum::middleware::from_fn_with_state(
                Arc::clone(&auth),
                auth::require_admin,
            )),
            dashboard.route_layer(axum::middleware::from_fn_with_state(
                auth,
                auth::require_admin_for_data,
            )),
        )
    } else {
        (admin, dashboard)
    };
    public.merge(admin).merge(dashboard).with_state(state)
}

/// Every route here requires the admin token when one is set: add new endpoints here, not to
/// the public probes.
fn admin_routes(prometheus_route: bool) -> axum::Router<RouteState> {
    let router = axum::Router::new()
        .route(monitoring::DETAILED, get(health::detailed))
        .route(monitoring::METRICS_JSON, get(metrics))
        .route(monitoring::BUDGET, get(budget))
        .route(monitoring::SYSTEM, get(system::system))
        .route(monitoring::ALERTS, get(alerts::alerts))
        .route(monitoring::STATUS, get(alerts::status));
    if prometheus_route {
        router.route(monitoring::PROMETHEUS, get(prometheus::metrics))
    } else {
        router
    }
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
            None => json(
                StatusCode::NOT_FOUND,
                &serde_json::json!({ "error": "no data for that route in this window; routes are templates such as /api/courses/{id}" }),
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
    let report = evaluate(b, snapshot, crate::process::rss_bytes());
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
