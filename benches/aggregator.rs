//! Cost of the in-process aggregator (`pulsecheck::window::Aggregator`), in wall-clock time.
//!
//! Run with: `cargo bench --bench aggregator` (about 2 minutes). It ends with two tables
//! (ns per record, µs per snapshot or tick), each as ratios against a baseline measured in the
//! same run. Results are in BENCHMARKS.md.
//!
//! - `record/...`: one `Aggregator::record` per iteration, cycling through 4096 pre-built
//!   records (10 routes, log-normal latencies with median 15 ms, 1 % 503, each with a trace id
//!   unless `untraced`). The duration is given: no clock is read. Baseline: one relaxed atomic
//!   add of the same record's duration. `2_threads` runs two threads recording at once, each
//!   into its own shard, against two threads each adding to their own atomic, and two threads
//!   adding to one shared atomic (the contention the shards avoid). Their time is each
//!   thread's CPU time (the busier thread's), so that other processes taking a core on a
//!   shared machine do not count; how much the two threads really overlapped is printed.
//! - `snapshot/...`: `Aggregator::snapshot` of a service of 10 routes (Zipf-weighted, 1000
//!   requests/s in all) after 3700 simulated seconds (`ManualClock` + `tick`), so the 1 m, 5 m
//!   and 1 h windows are all full. Baseline: exact p50, p95 and p99 of the same 5 minutes'
//!   300,000 raw latencies (copy + `select_nth_unstable`), which is what the histograms spare.
//! - `series/...`: `Aggregator::series`, the dashboard's per-slot history (count, errors and
//!   p50/p95/p99 of each 1 s, 10 s or 1 min slot) on the same aggregator, against the same
//!   baseline.
//! - `tick/10_routes`: one fold of a second of 1000 requests over 10 routes.

mod report;
mod sim;

use std::cell::Cell;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant, SystemTime};

use criterion::{BatchSize, Criterion};
use pulsecheck::layer::{RequestRecord, RouteId, RouteTable};
use pulsecheck::window::{Aggregator, AggregatorConfig, ManualClock, Window};
use sim::{Rng, WEB};

const RECORDS: usize = 4096;
const MASK: usize = RECORDS - 1;
const ROUTES: usize = 10;

fn route_ids(routes: &RouteTable, n: usize) -> Vec<RouteId> {
    (0..n)
        .map(|i| routes.resolve(&format!("/api/r{i}/{{id}}")))
        .collect()
}

fn records(seed: u64, ids: &[RouteId], traced: bool) -> Vec<RequestRecord> {
    let mut rng = Rng::new(seed);
    (0..RECORDS)
        .map(|i| {
            let mut r = sim::record(&mut rng, ids[i % ids.len()], &WEB);
            if !traced {
                r.trace_id = None;
            }
            r
        })
        .collect()
}

/// CPU time of the calling thread.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to write into.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0);
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// CPU time and wall time the two threads of a benchmark spent, to tell how much they really
/// ran at once on a shared machine.
#[derive(Default)]
struct Overlap {
    cpu: Cell<Duration>,
    wall: Cell<Duration>,
}

impl Overlap {
    /// Average number of the two threads on a core while both were running (2.0: always both).
    fn parallelism(&self) -> f64 {
        self.cpu.get().as_secs_f64() / self.wall.get().as_secs_f64()
    }
}

/// Runs `work(thread, iters)` on two threads started together. Returns the larger of the two
/// threads' CPU times: time-slicing with other processes on a busy machine does not count,
/// contention between the two threads (cache lines moving between cores) does.
fn two_threads(iters: u64, overlap: &Overlap, work: &(dyn Fn(usize, u64) + Sync)) -> Duration {
    let barrier = Barrier::new(2);
    let runs: Vec<(Instant, Instant, Duration)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..2)
            .map(|t| {
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    let (wall, cpu) = (Instant::now(), thread_cpu());
                    work(t, iters);
                    (wall, Instant::now(), thread_cpu() - cpu)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let start = runs.iter().map(|r| r.0).min().unwrap();
    let end = runs.iter().map(|r| r.1).max().unwrap();
    overlap.wall.set(overlap.wall.get() + (end - start));
    overlap
        .cpu
        .set(overlap.cpu.get() + runs.iter().map(|r| r.2).sum::<Duration>());
    runs.iter().map(|r| r.2).max().unwrap()
}

#[repr(align(128))]
struct Padded(AtomicU64);

fn record_benches(c: &mut Criterion, parallelism: &mut Vec<(&str, f64)>) {
    let routes = Arc::new(RouteTable::default());
    let ids = route_ids(&routes, ROUTES);
    // The system clock, no ticker: record never reads the clock, and nothing drains.
    let agg = Aggregator::new(AggregatorConfig::default(), routes.clone());
    let traced = records(1, &ids, true);
    let untraced = records(1, &ids, false);
    let traced_b = records(2, &ids, true);

    let counter = AtomicU64::new(0);
    let mut i = 0usize;
    c.bench_function("record/1_thread/baseline_atomic_add", |b| {
        b.iter(|| {
            let r = black_box(&traced[i & MASK]);
            i += 1;
            counter.fetch_add(r.duration.as_nanos() as u64, Ordering::Relaxed)
        })
    });
    c.bench_function("record/1_thread/untraced", |b| {
        b.iter(|| {
            agg.record(black_box(&untraced[i & MASK]));
            i += 1;
        })
    });
    c.bench_function("record/1_thread/traced", |b| {
        b.iter(|| {
            agg.record(black_box(&traced[i & MASK]));
            i += 1;
        })
    });

    let sets = [&traced, &traced_b];
    let own = [Padded(AtomicU64::new(0)), Padded(AtomicU64::new(0))];
    let overlap = Overlap::default();
    c.bench_function("record/2_threads/baseline_atomic_add", |b| {
        b.iter_custom(|iters| {
            two_threads(iters, &overlap, &|t, n| {
                let set = sets[t];
                for k in 0..n as usize {
                    let r = black_box(&set[k & MASK]);
                    own[t]
                        .0
                        .fetch_add(r.duration.as_nanos() as u64, Ordering::Relaxed);
                }
            })
        })
    });
    parallelism.push((
        "record/2_threads/baseline_atomic_add",
        overlap.parallelism(),
    ));
    let shared = AtomicU64::new(0);
    let overlap = Overlap::default();
    c.bench_function("record/2_threads/baseline_shared_atomic_add", |b| {
        b.iter_custom(|iters| {
            two_threads(iters, &overlap, &|t, n| {
                let set = sets[t];
                for k in 0..n as usize {
                    let r = black_box(&set[k & MASK]);
                    shared.fetch_add(r.duration.as_nanos() as u64, Ordering::Relaxed);
                }
            })
        })
    });
    parallelism.push((
        "record/2_threads/baseline_shared_atomic_add",
        overlap.parallelism(),
    ));
    let overlap = Overlap::default();
    c.bench_function("record/2_threads/traced", |b| {
        b.iter_custom(|iters| {
            two_threads(iters, &overlap, &|t, n| {
                let set = sets[t];
                for k in 0..n as usize {
                    agg.record(black_box(&set[k & MASK]));
                }
            })
        })
    });
    parallelism.push(("record/2_threads/traced", overlap.parallelism()));
}

struct Filled {
    agg: Aggregator,
    clock: ManualClock,
    ids: Vec<RouteId>,
    /// Latencies of the last 300 seconds, in ns.
    last_5m: Vec<u64>,
}

/// An aggregator of `routes_n` routes (Zipf weights) after `seconds` simulated seconds of `rps`
/// requests per second.
fn filled(routes_n: usize, seconds: u64, rps: u64) -> Filled {
    let routes = Arc::new(RouteTable::default());
    let ids = route_ids(&routes, routes_n);
    let clock = ManualClock::new(1_000_000);
    let agg = Aggregator::with_clock(AggregatorConfig::default(), routes, clock.clone());
    let weights: Vec<f64> = (1..=routes_n).map(|k| 1.0 / k as f64).collect();
    let total: f64 = weights.iter().sum();
    let cumulative: Vec<f64> = weights
        .iter()
        .scan(0.0, |acc, w| {
            *acc += w / total;
            Some(*acc)
        })
        .collect();
    let mut rng = Rng::new(7);
    let mut last_5m = Vec::new();
    for s in 0..seconds {
        for _ in 0..rps {
            let u = rng.f64();
            let k = cumulative
                .iter()
                .position(|c| u < *c)
                .unwrap_or(routes_n - 1);
            let r = sim::record(&mut rng, ids[k], &WEB);
            if s + 300 >= seconds {
                last_5m.push(r.duration.as_nanos() as u64);
            }
            agg.record(&r);
        }
        clock.advance(1);
        agg.tick();
    }
    Filled {
        agg,
        clock,
        ids,
        last_5m,
    }
}

fn snapshot_benches(c: &mut Criterion) {
    let Filled { agg, last_5m, .. } = filled(ROUTES, 3700, 1000);
    let snap = agg.snapshot(Window::FiveMinutes);
    assert_eq!(snap.routes.len(), ROUTES);
    assert_eq!(snap.service.requests, last_5m.len() as u64);
    c.bench_function("snapshot/5m/10_routes", |b| {
        b.iter(|| black_box(agg.snapshot(Window::FiveMinutes)))
    });
    c.bench_function("snapshot/1m/10_routes", |b| {
        b.iter(|| black_box(agg.snapshot(Window::OneMinute)))
    });
    c.bench_function("snapshot/1h/10_routes", |b| {
        b.iter(|| black_box(agg.snapshot(Window::OneHour)))
    });
    // The dashboard's chart history: one point per slot with its own p50/p95/p99.
    assert_eq!(agg.series(Window::FiveMinutes).points.len(), 30);
    c.bench_function("series/5m", |b| {
        b.iter(|| black_box(agg.series(Window::FiveMinutes)))
    });
    c.bench_function("series/1m", |b| {
        b.iter(|| black_box(agg.series(Window::OneMinute)))
    });
    c.bench_function("series/1h", |b| {
        b.iter(|| black_box(agg.series(Window::OneHour)))
    });
    c.bench_function("snapshot/5m/one_route_by_template", |b| {
        b.iter(|| black_box(agg.route_snapshot("/api/r0/{id}", Window::FiveMinutes)))
    });
    c.bench_function("snapshot/5m/baseline_exact_p50_p95_p99", |b| {
        b.iter(|| {
            let mut v = last_5m.clone();
            let n = v.len();
            let mut out = [0u64; 3];
            for (o, q) in out.iter_mut().zip([0.50, 0.95, 0.99]) {
                let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
                *o = *v.select_nth_unstable(rank - 1).1;
            }
            black_box(out)
        })
    });
    drop(agg);

    let Filled { agg, .. } = filled(1, 3700, 1000);
    c.bench_function("snapshot/5m/1_route", |b| {
        b.iter(|| black_box(agg.snapshot(Window::FiveMinutes)))
    });
    drop(agg);

    let Filled {
        agg, clock, ids, ..
    } = filled(ROUTES, 400, 1000);
    let mut rng = Rng::new(11);
    let second: Vec<RequestRecord> = (0..1000)
        .map(|i| sim::record(&mut rng, ids[i % ROUTES], &WEB))
        .collect();
    c.bench_function("tick/10_routes", |b| {
        b.iter_batched(
            || {
                for r in &second {
                    agg.record(r);
                }
                clock.advance(1);
            },
            |()| agg.tick(),
            BatchSize::PerIteration,
        )
    });
}

fn main() {
    let started = SystemTime::now();
    let mut c = Criterion::default()
        .output_directory(&report::criterion_dir())
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50)
        .configure_from_args();
    let mut parallelism = Vec::new();
    record_benches(&mut c, &mut parallelism);
    snapshot_benches(&mut c);
    c.final_summary();

    report::print_table(
        "Aggregator::record, one thread (time per record)",
        &[
            "record/1_thread/baseline_atomic_add",
            "record/1_thread/untraced",
            "record/1_thread/traced",
        ],
        "record/1_thread/baseline_atomic_add",
        started,
    );
    report::print_table(
        "Aggregator::record, two threads at once (CPU time per record, the busier thread)",
        &[
            "record/2_threads/baseline_atomic_add",
            "record/2_threads/baseline_shared_atomic_add",
            "record/2_threads/traced",
        ],
        "record/2_threads/baseline_atomic_add",
        started,
    );
    println!("\nHow much the two threads ran at once (2.00: both on a core all the time):");
    for (id, p) in &parallelism {
        if p.is_finite() {
            println!("- {id}: {p:.2}");
        }
    }
    report::print_table(
        "Aggregator::snapshot, 10 routes, 1000 requests/s, windows full (time per call)",
        &[
            "snapshot/5m/baseline_exact_p50_p95_p99",
            "snapshot/5m/10_routes",
            "snapshot/1m/10_routes",
            "snapshot/1h/10_routes",
            "snapshot/5m/one_route_by_template",
            "snapshot/5m/1_route",
            "series/5m",
            "series/1m",
            "series/1h",
            "tick/10_routes",
        ],
        "snapshot/5m/baseline_exact_p50_p95_p99",
        started,
    );
}
