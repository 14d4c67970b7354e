//! What one alert evaluation costs, against the aggregator snapshot it reads as the
//! baseline measured in the same run, and what `/health/alerts` and `/health/status` cost
//! through the router against `/health/live`.
//!
//! Setup: 20 routes with per-route budgets for 5 of them, two SLOs (availability and
//! latency), 8 cached checks, 20,000 recorded requests (some slow, some failed) so that
//! budget alerts fire and carry exemplars.
//!
//! `cargo bench --bench alerts`

use std::borrow::Cow;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use criterion::{Criterion, criterion_group, criterion_main};
use http::Request;
use pulsecheck::Pulse;
use pulsecheck::config::{Budgets, PulseConfig, RouteBudget, Slo};
use pulsecheck::health::{Check, CheckError, CheckExt, Observation};
use pulsecheck::layer::{HttpMethod, RequestRecord};
use pulsecheck::otel::opentelemetry::trace::TraceId;
use pulsecheck::window::Window;
use tower::ServiceExt as _;

struct Ok1(&'static str);

impl Check for Ok1 {
    fn name(&self) -> Cow<'static, str> {
        self.0.into()
    }
    async fn check(&self) -> Result<Observation, CheckError> {
        Ok(Observation::pass())
    }
}

fn setup(rt: &tokio::runtime::Runtime) -> (Pulse, Router) {
    rt.block_on(async {
        let mut budgets = Budgets {
            p95_ms: 200.0,
            min_requests: 5,
            ..Budgets::default()
        };
        for i in 0..5 {
            budgets.routes.insert(
                format!("/r{i}"),
                RouteBudget {
                    p95_ms: Some(100.0),
                    ..RouteBudget::default()
                },
            );
        }
        let config = PulseConfig {
            budgets,
            slo: vec![
                Slo::availability(0.999),
                Slo::latency(0.99, Duration::from_millis(250)),
            ],
            ..PulseConfig::default()
        };
        let mut b = Pulse::builder().without_telemetry().config(config);
        for n in [
            "db", "cache", "stripe", "paypal", "smtp", "search", "queue", "auth",
        ] {
            b = b.check(Ok1(n).ttl(Duration::from_secs(3600)));
        }
        let pulse = b.build().expect("pulse");
        let table = pulse.layer().route_table().clone();
        let routes: Vec<_> = (0..20)
            .map(|i| Some(table.resolve(&format!("/r{i}"))))
            .collect();
        for i in 0..20_000u64 {
            pulse.aggregator().record(&RequestRecord {
                method: HttpMethod::Get,
                route: routes[(i % 20) as usize],
                status: if i % 50 == 0 { 500 } else { 200 },
                duration: Duration::from_millis(if i % 4 == 0 { 400 } else { 20 }),
                trace_id: Some(TraceId::from_bytes((u128::from(i) + 1).to_be_bytes())),
            });
        }
        let mut watch = pulse.health().subscribe();
        while !watch.borrow_and_update().ready {
            let _ = watch.changed().await;
        }
        tokio::time::sleep(Duration::from_millis(1100)).await;
        pulse.alerts().evaluate_now();
        let router = Router::new().merge(pulse.routes()).layer(pulse.layer());
        (pulse, router)
    })
}

fn evaluation(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let (pulse, app) = setup(&rt);
    let firing = pulse.alerts().snapshot().alerts.len();
    assert!(firing > 0, "the setup should raise alerts");
    let mut g = c.benchmark_group("alerts");
    g.bench_function("baseline/snapshot_5m", |b| {
        b.iter(|| pulse.aggregator().snapshot(Window::FiveMinutes))
    });
    g.bench_function("evaluate_now", |b| b.iter(|| pulse.alerts().evaluate_now()));
    for path in ["/health/live", "/health/alerts", "/health/status"] {
        g.bench_function(format!("endpoint{path}"), |b| {
            b.to_async(&rt).iter(|| {
                let app = app.clone();
                async move {
                    let resp = app
                        .oneshot(Request::get(path).body(Body::empty()).expect("request"))
                        .await
                        .expect("response");
                    assert_eq!(resp.status(), 200);
                    axum::body::to_bytes(resp.into_body(), usize::MAX)
                        .await
                        .expect("body")
                }
            })
        });
    }
    g.finish();
}

criterion_group!(benches, evaluation);
criterion_main!(benches);
