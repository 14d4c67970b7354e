//! Health endpoint costs.
//!
//! - `cached`: `/health` with 8 cached checks through the router, against `/health/live`
//!   (no checks read) as the baseline measured in the same run.
//! - `cold`: an on-demand report whose four checks sleep 20, 40, 60 and 80 ms: it should take
//!   about the slowest (80 ms), not the sum (200 ms).
//!
//! `cargo bench --bench health`

use std::borrow::Cow;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use criterion::{Criterion, criterion_group, criterion_main};
use http::Request;
use pulsecheck::Pulse;
use pulsecheck::health::{Check, CheckError, CheckExt, Health, HealthConfig, Observation, Refresh};
use tower::ServiceExt as _;

struct Sleepy {
    name: &'static str,
    ms: u64,
}

impl Check for Sleepy {
    fn name(&self) -> Cow<'static, str> {
        self.name.into()
    }
    async fn check(&self) -> Result<Observation, CheckError> {
        tokio::time::sleep(Duration::from_millis(self.ms)).await;
        Ok(Observation::pass().measured("connections", 3, None))
    }
}

const NAMES: [&str; 8] = [
    "db", "cache", "stripe", "paypal", "smtp", "search", "queue", "auth",
];

fn cached(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let app: Router = rt.block_on(async {
        let mut b = Pulse::builder().without_telemetry();
        for n in NAMES {
            b = b.check(Sleepy { name: n, ms: 1 }.ttl(Duration::from_secs(3600)));
        }
        let pulse = b.build().expect("pulse");
        // Let the background refresh fill the cache.
        let mut watch = pulse.health().subscribe();
        while !watch.borrow_and_update().ready {
            let _ = watch.changed().await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        Router::new().merge(pulse.routes()).layer(pulse.layer())
    });
    let mut g = c.benchmark_group("health_endpoint");
    for path in ["/health/live", "/health", "/health/detailed"] {
        g.bench_function(path, |b| {
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

fn cold(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let health = rt.block_on(async {
        let mut b = Health::builder().config(HealthConfig {
            refresh: Refresh::OnDemand,
            ..HealthConfig::default()
        });
        for (i, ms) in [20, 40, 60, 80].into_iter().enumerate() {
            b = b.check(
                Sleepy { name: NAMES[i], ms }
                    .ttl(Duration::ZERO)
                    .failure_ttl(Duration::ZERO),
            );
        }
        b.build()
    });
    let mut g = c.benchmark_group("health_cold");
    g.sample_size(10);
    g.bench_function("four_checks_20_40_60_80ms", |b| {
        b.to_async(&rt).iter(|| health.report())
    });
    g.finish();
}

criterion_group!(benches, cached, cold);
criterion_main!(benches);
