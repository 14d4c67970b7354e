//! Accuracy of the aggregator's latency quantiles against exact nearest-rank quantiles.
//!
//! Run with: `cargo bench --bench accuracy` (a few seconds). For each distribution it draws
//! 1,000,000 latencies from a seeded generator (`PULSE_ACCURACY_N` changes the count), records
//! them all with `Aggregator::record` on a `ManualClock`, ticks once, reads
//! `snapshot(Window::OneMinute)` and compares p50, p90, p95, p99 and p99.9 with the exact
//! nearest-rank quantiles of the same samples (the value of rank ⌈q·n⌉ once sorted). It exits
//! non-zero if any error exceeds `pulsecheck::__private::buckets::RELATIVE_ERROR_BOUND`. Results
//! are in BENCHMARKS.md.

mod sim;

use std::sync::Arc;

use pulsecheck::__private::buckets::{MAX_NS, MIN_NS, RELATIVE_ERROR_BOUND};
use pulsecheck::layer::{HttpMethod, RequestRecord, RouteTable};
use pulsecheck::window::{Aggregator, AggregatorConfig, Latency, ManualClock, Window};
use sim::{Dist, Rng};

const QUANTILES: [(&str, f64); 5] = [
    ("p50", 0.50),
    ("p90", 0.90),
    ("p95", 0.95),
    ("p99", 0.99),
    ("p99.9", 0.999),
];

fn reported(l: &Latency, q: &str) -> f64 {
    let ms = match q {
        "p50" => l.p50,
        "p90" => l.p90,
        "p95" => l.p95,
        "p99" => l.p99,
        _ => l.p999,
    };
    ms * 1e6
}

fn fmt_ms(ns: f64) -> String {
    format!("{:.4}", ns / 1e6)
}

fn main() {
    let n: usize = std::env::var("PULSE_ACCURACY_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let sets: [(&str, Dist); 4] = [
        (
            "log-normal (median 15 ms, σ 1)",
            Dist::LogNormal {
                median_ns: 15e6,
                sigma: 1.0,
            },
        ),
        (
            "bimodal (80 %: median 2 ms σ 0.25; 20 %: median 120 ms σ 0.35)",
            Dist::Bimodal {
                p_fast: 0.8,
                fast_median_ns: 2e6,
                fast_sigma: 0.25,
                slow_median_ns: 120e6,
                slow_sigma: 0.35,
            },
        ),
        (
            "uniform (50 µs – 500 ms)",
            Dist::Uniform {
                lo_ns: 50e3,
                hi_ns: 500e6,
            },
        ),
        (
            "log-uniform (1 µs – 100 s, the whole range)",
            Dist::LogUniform {
                lo_ns: MIN_NS as f64,
                hi_ns: MAX_NS as f64,
            },
        ),
    ];

    println!(
        "Quantile accuracy: {n} samples per distribution, seeded SplitMix64, one tick, snapshot(1m)"
    );
    println!(
        "Guaranteed bound (buckets::RELATIVE_ERROR_BOUND) for values in 1 µs..100 s: {:.4} %\n",
        RELATIVE_ERROR_BOUND * 100.0
    );
    println!("| distribution | quantile | exact (ms) | reported (ms) | relative error |");
    println!("|---|---|---:|---:|---:|");
    let mut worst = 0.0f64;
    let mut summary = Vec::new();
    for (seed, (name, dist)) in sets.iter().enumerate() {
        let mut rng = Rng::new(1000 + seed as u64);
        let mut samples: Vec<u64> = (0..n).map(|_| dist.sample(&mut rng)).collect();

        let routes = Arc::new(RouteTable::default());
        let route = Some(routes.resolve("/bench"));
        let clock = ManualClock::new(1_000_000);
        let agg = Aggregator::with_clock(AggregatorConfig::default(), routes, clock.clone());
        for &ns in &samples {
            agg.record(&RequestRecord {
                method: HttpMethod::Get,
                route,
                status: 200,
                duration: std::time::Duration::from_nanos(ns),
                trace_id: None,
            });
        }
        clock.advance(1);
        agg.tick();
        let snap = agg.snapshot(Window::OneMinute);
        assert_eq!(snap.service.requests, n as u64, "every sample recorded");
        let latency = snap.service.latency_ms.expect("latency");

        samples.sort_unstable();
        let mut worst_here = 0.0f64;
        for (q_name, q) in QUANTILES {
            let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
            let exact = samples[rank - 1] as f64;
            let got = reported(&latency, q_name);
            let err = (got - exact) / exact;
            worst_here = worst_here.max(err.abs());
            println!(
                "| {name} | {q_name} | {} | {} | {:+.4} % |",
                fmt_ms(exact),
                fmt_ms(got),
                err * 100.0
            );
        }
        worst = worst.max(worst_here);
        summary.push((*name, worst_here, snap.service.clamped));
    }

    println!(
        "\n| distribution | largest error (absolute value) | bound | within | clamped samples |"
    );
    println!("|---|---:|---:|---|---:|");
    for (name, w, clamped) in &summary {
        println!(
            "| {name} | {:.4} % | {:.4} % | {} | {clamped} |",
            w * 100.0,
            RELATIVE_ERROR_BOUND * 100.0,
            if *w <= RELATIVE_ERROR_BOUND {
                "yes"
            } else {
                "NO"
            }
        );
    }
    println!(
        "\nmax relative error over all: {:.4} % (bound {:.4} %)",
        worst * 100.0,
        RELATIVE_ERROR_BOUND * 100.0
    );
    if worst > RELATIVE_ERROR_BOUND {
        eprintln!("error bound exceeded");
        std::process::exit(1);
    }
}
