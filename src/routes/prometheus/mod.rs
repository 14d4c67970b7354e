//! `GET /metrics`: the Prometheus text exposition format (0.0.4), or OpenMetrics 1.0.0 when
//! the `Accept` header prefers it ([`Format::negotiate`]), rendered from snapshots
//! (aggregator windows, cached health, the latest system sample); nothing is probed or
//! recomputed from raw requests. A render is reused for up to a second ([`RENDER_TTL`]).
//!
//! The two formats carry the same series. OpenMetrics adds what 0.0.4 cannot say: `# UNIT`,
//! the build info as an `info` family, and exemplars on the request-duration buckets, the
//! latest sampled request's `trace_id` per bucket, so that a latency panel links to traces.
//!
//! Request figures come twice: all-time counters for `rate()` and `histogram_quantile()`
//! (`pulsecheck_http_server_request_duration_seconds` by route and method on the
//! semantic-convention buckets, `pulsecheck_http_server_requests_total` by route, method and
//! status code), and gauges over the aggregator's sliding windows (`window` label `1m`, `5m`,
//! `1h`): counts, error ratio and latency percentiles, for the service and per route template.

//!
//! Every family is defined once in the [catalogue](crate::catalogue); the writers here, one
//! per domain, only say which figures go in it: [`http`] (all-time requests), [`windows`],
//! [`budgets`], [`health`] (checks and breakers), [`alerts`] and [`system`] (pools, process,
//! host, log writer), over the format-aware [`Exposition`].

use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::RouteState;
use super::openmetrics::Format;
use crate::catalogue::{BUILD_INFO, UPTIME};
use crate::window::Window;
use exposition::Exposition;

mod alerts;
mod budgets;
mod exposition;
mod health;
mod http;
mod system;
mod windows;

/// How long a rendered exposition is served again: the aggregator folds once a second, so a
/// newer render could not show newer request figures.
pub(crate) const RENDER_TTL: Duration = Duration::from_secs(1);

/// The latest rendered exposition of each format. Scrapes within [`RENDER_TTL`] share it,
/// and concurrent scrapes of a stale one wait for a single render, so hammering `/metrics`
/// costs a lock and a reference count, not a render each.
#[derive(Default)]
pub(crate) struct RenderCache {
    slot: tokio::sync::Mutex<[Option<(Instant, Bytes)>; Format::ALL.len()]>,
}

pub(super) async fn metrics(State(st): State<RouteState>, headers: HeaderMap) -> Response {
    let format = Format::negotiate(&headers);
    let body = {
        let mut slots = st.metrics_cache.slot.lock().await;
        let slot = &mut slots[format.index()];
        match &*slot {
            Some((at, body)) if at.elapsed() < RENDER_TTL => body.clone(),
            _ => {
                let body = Bytes::from(render(&st, format));
                *slot = Some((Instant::now(), body.clone()));
                body
            }
        }
    };
    let mut r = (StatusCode::OK, body).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    h.insert(header::VARY, HeaderValue::from_static("accept"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// The whole exposition, in `format`, from one snapshot of each source.
pub(crate) fn render(st: &RouteState, format: Format) -> String {
    let mut e = Exposition::new(format);
    let snaps: Vec<_> = Window::ALL
        .iter()
        .map(|w| st.aggregator.snapshot(*w))
        .collect();
    let sample = st.system.latest();
    let health = st.health.cached_report();

    build(&mut e, st);
    http::write(&mut e, &st.aggregator.totals());
    windows::write(&mut e, &snaps);
    budgets::write(&mut e, &st.config.budgets, &snaps, sample.process.rss_bytes);
    health::write(&mut e, &health);
    health::breakers(&mut e, st.health.breakers());
    alerts::write(&mut e, &st.alerts.snapshot());
    system::pools(&mut e, &health);
    system::resources(&mut e, &sample);
    system::logs(&mut e);
    e.finish()
}

/// What is running: the service's and pulsecheck's versions, and for how long.
fn build(e: &mut Exposition, st: &RouteState) {
    e.family(&BUILD_INFO);
    e.sample(
        &[
            ("version", st.version.as_deref().unwrap_or("")),
            ("pulsecheck_version", env!("CARGO_PKG_VERSION")),
        ],
        1.0,
    );
    e.family(&UPTIME);
    e.sample(&[], st.aggregator.uptime_s() as f64);
}
