//! Memory the aggregator holds per series, from 10 to 100,000 requests per second.
//!
//! Run with: `cargo bench --bench memory` (about 3 minutes). For each rate, on a simulated
//! clock (`ManualClock`, one `tick` per second):
//!
//! 1. For 3700 seconds, so that the 60 one-second, 30 ten-second and 60 one-minute slots of
//!    every ring are full, route A records `rate` requests every second, each with its own
//!    latency drawn from the distribution (every request is recorded: no sampling, no repeated
//!    values, so every slot hits as many distinct buckets as that rate really would). Route B
//!    records the same requests again, so that the service series sees exactly the buckets
//!    one route sees.
//! 2. Then route B stops while A goes on for 3660 more seconds, replaying the same seconds'
//!    latencies (each second's generator is seeded by the second modulo 3660), so the service
//!    and route A hold exactly what they held before. Once B has been idle for an hour the
//!    aggregator drops its windows: the heap freed is one full series' windows.
//!
//! Per series = those windows + the series' live counters (allocated on its first request
//! and kept). Both are counted by a global allocator wrapper (bytes requested, not the
//! allocator's own overhead) and compared with `Aggregator::memory_bytes()`'s estimate of the
//! same difference. A last row draws latencies log-uniformly over the whole 1 µs..100 s range
//! at 100,000/s, so every slot hits every bucket: the worst case. Results are in
//! BENCHMARKS.md.

mod sim;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Instant;

use pulsecheck::__private::buckets::{self, MAX_NS, MIN_NS};
use pulsecheck::layer::{RequestRecord, RouteTable};
use pulsecheck::window::{Aggregator, AggregatorConfig, ManualClock, Window};
use sim::{Dist, Rng, WEB};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_add(
                new_size as isize - layout.size() as isize,
                Ordering::Relaxed,
            );
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

const FILL_S: u64 = 3700;
/// The replay period: a multiple of 60 (slot boundaries line up) longer than the hour kept,
/// and long enough for an idle series to be dropped.
const PERIOD_S: u64 = 3660;

fn kib(b: f64) -> String {
    format!("{:.1} KiB", b / 1024.0)
}

struct Row {
    label: String,
    rate: u64,
    distinct_per_s: f64,
    distinct_per_min: f64,
    /// Counted heap of one series: its windows (freed when dropped) + its live counters.
    series_heap: isize,
    /// `memory_bytes()`'s view of the same.
    series_estimate: isize,
    /// The whole aggregator (service + two routes) at the end of step 1, counted.
    total_heap: isize,
    total_estimate: usize,
    empty_heap: isize,
    secs: f64,
}

fn run(label: &str, rate: u64, dist: Dist, seed: u64) -> Row {
    let t0 = Instant::now();
    let before = live();
    let routes = Arc::new(RouteTable::default());
    let a = routes.resolve("/api/items/{id}");
    let b = routes.resolve("/api/orders/{id}");
    let clock = ManualClock::new(1_000_000);
    let agg = Aggregator::with_clock(AggregatorConfig::default(), routes, clock.clone());
    let empty_heap = live() - before;

    let mut second = vec![false; buckets::COUNT];
    let mut minute = vec![false; buckets::COUNT];
    let (mut distinct_s, mut distinct_min, mut minutes) = (0u64, 0u64, 0u64);
    let mut live_counters = 0isize;
    let mut live_estimate = 0isize;
    for s in 0..FILL_S {
        let mut rng = Rng::new(seed << 32 | (s % PERIOD_S));
        for _ in 0..rate {
            let r = sim::record(&mut rng, a, &dist);
            let (i, _) = buckets::index(r.duration.as_nanos() as u64);
            second[i] = true;
            minute[i] = true;
            agg.record(&r);
            if s == 0 && live_counters == 0 {
                let (heap, estimate) = (live(), agg.memory_bytes() as isize);
                agg.record(&RequestRecord {
                    route: Some(b),
                    ..r
                });
                live_counters = live() - heap;
                live_estimate = agg.memory_bytes() as isize - estimate;
            } else {
                agg.record(&RequestRecord {
                    route: Some(b),
                    ..r
                });
            }
        }
        distinct_s += second.iter().filter(|x| **x).count() as u64;
        second.fill(false);
        if s % 60 == 59 {
            distinct_min += minute.iter().filter(|x| **x).count() as u64;
            minute.fill(false);
            minutes += 1;
        }
        clock.advance(1);
        agg.tick();
    }
    let full = agg.snapshot(Window::OneHour);
    assert_eq!(full.routes.len(), 2);
    assert!(full.routes.values().all(|r| r.window_s >= 3600));
    let (total_heap, total_estimate) = (live() - before, agg.memory_bytes());

    for s in FILL_S..FILL_S + PERIOD_S {
        let mut rng = Rng::new(seed << 32 | (s % PERIOD_S));
        for _ in 0..rate {
            agg.record(&sim::record(&mut rng, a, &dist));
        }
        clock.advance(1);
        agg.tick();
    }
    assert!(
        agg.route_snapshot("/api/orders/{id}", Window::OneHour)
            .is_none(),
        "route B's windows are dropped after an idle hour"
    );
    let row = Row {
        label: label.to_owned(),
        rate,
        distinct_per_s: distinct_s as f64 / FILL_S as f64,
        distinct_per_min: distinct_min as f64 / minutes as f64,
        series_heap: total_heap - (live() - before) + live_counters,
        series_estimate: total_estimate as isize - agg.memory_bytes() as isize + live_estimate,
        total_heap,
        total_estimate,
        empty_heap,
        secs: t0.elapsed().as_secs_f64(),
    };
    drop(agg);
    row
}

fn main() {
    println!(
        "Aggregator memory per series once every ring is full ({FILL_S} simulated seconds). \
         Latency buckets in the layout: {}.\n",
        buckets::COUNT
    );
    let mut rows = Vec::new();
    for (i, rate) in [10u64, 100, 1_000, 10_000, 100_000].into_iter().enumerate() {
        rows.push(run(
            "log-normal, median 15 ms, σ 1",
            rate,
            WEB,
            1 + i as u64,
        ));
    }
    rows.push(run(
        "log-uniform 1 µs..100 s (worst case)",
        100_000,
        Dist::LogUniform {
            lo_ns: MIN_NS as f64,
            hi_ns: MAX_NS as f64,
        },
        99,
    ));

    println!(
        "| latencies | requests/s | distinct buckets per 1 s / 1 min slot | per series, counted \
         heap | per series, memory_bytes() | whole aggregator (service + 2 routes), counted / \
         memory_bytes() | run time |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for r in &rows {
        println!(
            "| {} | {} | {:.0} / {:.0} | {} | {} | {} / {} | {:.1} s |",
            r.label,
            r.rate,
            r.distinct_per_s,
            r.distinct_per_min,
            kib(r.series_heap as f64),
            kib(r.series_estimate as f64),
            kib(r.total_heap as f64),
            kib(r.total_estimate as f64),
            r.secs
        );
    }
    println!(
        "\nAn empty aggregator (before any request) holds {} of heap: route table, per-route \
         tables, the service's rings and the 30-day SLO history.",
        kib(rows[0].empty_heap as f64)
    );
}
