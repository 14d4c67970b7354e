//! Per-request cost the pulsecheck layer adds to a bare axum router, in wall-clock time.
//!
//! Run with: `cargo bench --bench layer_overhead` (about 2 minutes). It ends with a table of
//! the median time per request of every variant that ran, and its ratio to `bare`.
//!
//! Variants (see `benches/common/mod.rs`), all driving the same router in-process (no socket)
//! on a current_thread runtime:
//! - `bare`: the router alone (the baseline); `noop_layer`: one do-nothing tower layer;
//! - `axum_tracing_opentelemetry/sampled`: the axum-tracing-opentelemetry middleware with an
//!   always-on SDK tracer, for comparison (spans only: no request id, no metrics);
//! - `tower_http_trace/sampled[_batch_discard]`: tower-http's `TraceLayer::new_for_http()`
//!   through tracing-opentelemetry with an always-on SDK tracer, with no span processor or with
//!   the SDK batch processor feeding an exporter that discards;
//! - `axum_prometheus`: axum-prometheus 0.10 (metrics-exporter-prometheus);
//! - `otel_histogram_3_attrs`: one OpenTelemetry SDK histogram record with three attributes per
//!   request, by a minimal layer;
//! - `layer/no_tracer[_no_otel_metrics]`: the layer with the global no-op tracer, metrics on an
//!   SDK meter provider (or OpenTelemetry metrics off);
//! - `layer/not_sampled`: an SDK tracer provider with sampler `always_off`;
//! - `layer/sampled`: sampler `always_on`, spans ended with no processor;
//! - `layer/sampled_json_log`: as `sampled`, plus pulsecheck's JSON access-log line (with
//!   trace, span and request ids) written to a sink;
//! - `layer+agg/...`: the layer with the in-process `Aggregator` as its recorder: spans off
//!   (no tracer), or sampled and batch-exported to a discarding exporter; with the SDK
//!   metrics on or off.
//!
//! `PULSE_INTERLEAVE=100 cargo bench --bench layer_overhead` measures instead every variant in
//! turns, 100 rounds of 2000 requests each, and reports medians and per-round ratios to `bare`:
//! slow spells of a shared machine then hit every variant alike.
//!
//! Wall-clock figures on a shared 2-core machine are noisy; `layer_instructions` counts
//! instructions under valgrind for a repeatable view. Results are in BENCHMARKS.md.

mod common;
mod report;

use std::hint::black_box;
use std::time::{Duration, Instant, SystemTime};

use criterion::Criterion;
use tower::ServiceExt;

fn layer_overhead(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for variant in common::VARIANTS {
        let setup = {
            let _entered = rt.enter();
            common::setup(variant)
        };
        let app = setup.app.clone();
        let mut requests = 0u64;
        setup.in_scope(|| {
            c.bench_function(variant, |b| {
                b.to_async(&rt).iter(|| {
                    requests += 1;
                    let app = app.clone();
                    async move { black_box(app.oneshot(common::request()).await.unwrap()) }
                })
            })
        });
        let note = setup.finish();
        if !note.is_empty() {
            println!("{variant}: {requests} requests; {note}");
        }
        drop(setup);
    }
}

/// All variants set up at once and measured in turns: each round times `BATCH` requests of
/// every variant (starting from a different variant each round), so that a slow spell of the
/// machine hits every variant alike. Reports, per variant, the median over rounds of its time
/// per request and of its ratio to `bare` in the same round.
fn interleaved(rounds: usize) {
    const BATCH: u32 = 2000;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let setups: Vec<common::Setup> = common::VARIANTS
        .iter()
        .map(|v| {
            let _entered = rt.enter();
            common::setup(v)
        })
        .collect();
    let drive = |s: &common::Setup| {
        s.in_scope(|| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..BATCH {
                    black_box(s.app.clone().oneshot(common::request()).await.unwrap());
                }
                start.elapsed() / BATCH
            })
        })
    };
    for s in &setups {
        drive(s);
    }
    let n = setups.len();
    let mut times = vec![Vec::with_capacity(rounds); n];
    for round in 0..rounds {
        for k in 0..n {
            let i = (round + k) % n;
            times[i].push(drive(&setups[i]).as_secs_f64() * 1e9);
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let bare = times[0].clone();
    println!(
        "\nInterleaved: {rounds} rounds of {BATCH} requests per variant, same process, same run\n"
    );
    println!(
        "| variant | time/request (median of rounds) | fastest – slowest round | vs bare (median of per-round ratios) |"
    );
    println!("|---|---:|---:|---:|");
    for (i, v) in common::VARIANTS.iter().enumerate() {
        let mut ratios: Vec<f64> = times[i].iter().zip(&bare).map(|(t, b)| t / b).collect();
        let mut t = times[i].clone();
        let (lo, hi) = (
            t.iter().copied().fold(f64::INFINITY, f64::min),
            t.iter().copied().fold(0.0, f64::max),
        );
        println!(
            "| {v} | {} | {} – {} | {:.2}× |",
            report::fmt_ns(median(&mut t)),
            report::fmt_ns(lo),
            report::fmt_ns(hi),
            median(&mut ratios)
        );
    }
    // The aggregator's share: the same layer with and without it, per round, over `bare`.
    let index = |v: &str| common::VARIANTS.iter().position(|x| *x == v).unwrap();
    for (without, with) in [
        ("layer/no_tracer", "layer+agg/no_tracer"),
        (
            "layer/no_tracer_no_otel_metrics",
            "layer+agg/no_tracer_no_otel_metrics",
        ),
    ] {
        let (a, b) = (&times[index(with)], &times[index(without)]);
        let mut d: Vec<f64> = (0..rounds).map(|r| (a[r] - b[r]) / bare[r]).collect();
        d.sort_by(f64::total_cmp);
        println!(
            "\n({with} − {without}) / bare, per round: median {:+.1} %, quartiles {:+.1} % .. {:+.1} %",
            d[rounds / 2] * 100.0,
            d[rounds / 4] * 100.0,
            d[rounds * 3 / 4] * 100.0
        );
    }
    println!();
    for (v, s) in common::VARIANTS.iter().zip(&setups) {
        let note = s.finish();
        if !note.is_empty() {
            println!("{v}: {note}");
        }
    }
}

fn main() {
    if let Some(rounds) = std::env::var("PULSE_INTERLEAVE")
        .ok()
        .and_then(|r| r.parse().ok())
    {
        interleaved(rounds);
        return;
    }
    let started = SystemTime::now();
    let mut c = Criterion::default()
        .output_directory(&report::criterion_dir())
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .sample_size(50)
        .configure_from_args();
    layer_overhead(&mut c);
    c.final_summary();
    report::print_table(
        "Time per request (criterion median), same run",
        &common::VARIANTS,
        "bare",
        started,
    );
}
