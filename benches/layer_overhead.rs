//! Per-request cost the pulsecheck layer adds to a bare axum router, in wall-clock time.
//!
//! Run with: `cargo bench --bench layer_overhead`
//!
//! Variants (see `benches/common/mod.rs`), all driving the same router in-process (no socket)
//! on a current_thread runtime:
//! - `bare`: the router alone (the baseline);
//! - `axum_tracing_opentelemetry/sampled`: the axum-tracing-opentelemetry middleware with an
//!   always-on SDK tracer, for comparison (spans only: no request id, no metrics);
//! - `layer/no_tracer`: the layer with the global no-op tracer, metrics on an SDK meter
//!   provider;
//! - `layer/not_sampled`: an SDK tracer provider with sampler `always_off`;
//! - `layer/sampled`: sampler `always_on`, spans ended with no processor;
//! - `layer/sampled_json_log`: as `sampled`, plus pulsecheck's JSON access-log line (with
//!   trace, span and request ids) written to a sink.
//!
//! Wall-clock figures on a shared 2-core machine are noisy; `layer_instructions` counts
//! instructions under callgrind for a repeatable view. Results are in BENCHMARKS.md.

mod common;

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use tower::ServiceExt;

fn layer_overhead(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for variant in common::VARIANTS {
        let setup = common::setup(variant);
        let app = setup.app.clone();
        c.bench_function(variant, |b| {
            b.to_async(&rt).iter(|| {
                let app = app.clone();
                async move { black_box(app.oneshot(common::request()).await.unwrap()) }
            })
        });
        drop(setup);
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .sample_size(50);
    targets = layer_overhead
}
criterion_main!(benches);
