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

#[derive(Serialize)]
struct Body<'a> {
    #[serde(flatten)]
    sample: &'a SystemSample,
    interval_s: f64,
    pools: BTreeMap<String, Pool>,
}

pub(super) async fn system(State(st): State<RouteState>) -> Response {
    let sample = st.system.latest();
    json(
        StatusCode::OK,
        &Body {
            sample: &sample,
            interval_s: st.system.interval().as_secs_f64(),
            pools: pools(&st.health.cached_report()),
        },
    )
}
