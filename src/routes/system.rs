//! `GET /health/system`: the latest process and host sample, and the connection pools that
//! health checks report (the PostgreSQL check's `pool_size`, `open`, `idle`, `in_use`).

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;

use super::{RouteState, json};
use crate::health::HealthReport;
use crate::system::SystemSample;

/// One connection pool, as its health check last saw it.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub(crate) struct Pool {
    pub(crate) pool_size: Option<u64>,
    pub(crate) open: Option<u64>,
    pub(crate) idle: Option<u64>,
    pub(crate) in_use: Option<u64>,
}

/// Pools from the cached report: every check whose latest result has a numeric
/// `pool_size` detail.
pub(crate) fn pools(report: &HealthReport) -> BTreeMap<String, Pool> {
    report
        .checks
        .iter()
        .filter_map(|c| {
            let d = &c.result.as_ref()?.details;
            let n = |k: &str| d.get(k).and_then(serde_json::Value::as_u64);
            let pool_size = Some(n("pool_size")?);
            Some((
                c.name.clone(),
                Pool {
                    pool_size,
                    open: n("open"),
                    idle: n("idle"),
                    in_use: n("in_use"),
                },
            ))
        })
        .collect()
}

/// The `/health/system` body.
#[derive(Serialize)]
pub(super) struct Body {
    #[serde(flatten)]
    sample: SystemSample,
    interval_s: f64,
    pools: BTreeMap<String, Pool>,
}

/// The `/health/system` body, pools taken from `report`.
pub(super) fn system_body(st: &RouteState, report: &HealthReport) -> Body {
    Body {
        // A copy of a few numbers: the body owns it, so callers can compose it.
        sample: SystemSample::clone(&st.system.latest()),
        interval_s: st.system.interval().as_secs_f64(),
        pools: pools(report),
    }
}

pub(super) async fn system(State(st): State<RouteState>) -> Response {
    json(
        StatusCode::OK,
        &system_body(&st, &st.health.cached_report()),
    )
}
