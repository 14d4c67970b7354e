//! Cost of one `/metrics` render (the Prometheus exposition) with 20 active routes.
//!
//! Run with: `cargo bench --bench metrics_render`. A service of 20 route templates has seen
//! 60,000 requests (GET on every route, POST on five, 200/404/503 mixed) folded by the
//! aggregator's ticker. Each iteration scrapes `/metrics` through a freshly built
//! `pulse.routes()` router with `oneshot`: a new router has an empty render cache, so every
//! iteration renders (building the router is setup, not timed). Baseline, same run:
//! `/health/live` through the same kind of router (reads one atomic). `metrics_20_routes_openmetrics`
//! asks for OpenMetrics as Prometheus does (one request in 100 carries a trace id, so every
//! route's busy buckets have exemplars). Results in BENCHMARKS.md.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use http::Request;
use http_body_util::BodyExt as _;
use pulsecheck::Pulse;
use pulsecheck::config::PulseConfig;
use pulsecheck::layer::{HttpMethod, RequestRecord};
use pulsecheck::window::Window;
use tower::ServiceExt as _;

const ROUTES: usize = 20;

fn pulse_with_traffic(rt: &tokio::runtime::Runtime) -> Pulse {
    let _entered = rt.enter();
    let pulse = Pulse::builder()
        .without_telemetry()
        .config(PulseConfig::default())
        .build()
        .expect("pulse");
    let table = pulse.layer().route_table().clone();
    for r in 0..ROUTES {
        let id = Some(table.resolve(&format!("/api/r{r}/{{id}}")));
        for i in 0..3000u64 {
            let method = if r % 4 == 0 && i % 3 == 0 {
                HttpMethod::Post
            } else {
                HttpMethod::Get
            };
            let status = match i % 50 {
                0 => 503,
                1..=3 => 404,
                _ => 200,
            };
            pulse.aggregator().record(&RequestRecord {
                method,
                route: id,
                status,
                duration: Duration::from_micros(200 + (i * 7919) % 400_000),
                trace_id: (i % 100 == 0)
                    .then(|| opentelemetry::trace::TraceId::from(u128::from(i + 1))),
            });
        }
    }
    // The ticker folds once a second.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while pulse.aggregator().snapshot(Window::OneMinute).routes.len() < ROUTES {
        assert!(std::time::Instant::now() < deadline, "never folded");
        std::thread::sleep(Duration::from_millis(100));
    }
    pulse
}

fn render(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let pulse = pulse_with_traffic(&rt);
    let router = || Router::<()>::new().merge(pulse.routes());
    const OPENMETRICS: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    for accept in ["*/*", OPENMETRICS] {
        let body = rt.block_on(async {
            let req = Request::get("/metrics").header("accept", accept);
            let resp = router()
                .oneshot(req.body(Body::empty()).unwrap())
                .await
                .unwrap();
            resp.into_body().collect().await.unwrap().to_bytes()
        });
        let exemplars = String::from_utf8_lossy(&body).matches(" # {").count();
        eprintln!(
            "exposition with {ROUTES} routes, Accept {accept}: {} bytes, {exemplars} exemplars",
            body.len()
        );
    }

    let mut g = c.benchmark_group("metrics_render");
    for (name, path, accept) in [
        ("health_live_baseline", "/health/live", "*/*"),
        ("metrics_20_routes", "/metrics", "*/*"),
        ("metrics_20_routes_openmetrics", "/metrics", OPENMETRICS),
    ] {
        g.bench_function(name, |b| {
            b.to_async(&rt).iter_batched(
                router,
                |app| async move {
                    let req = Request::get(path).header("accept", accept);
                    let resp = app.oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
                    resp.into_body().collect().await.unwrap().to_bytes()
                },
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(5));
    targets = render
}
criterion_main!(benches);
