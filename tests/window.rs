//! The aggregator against a naive exact model on a simulated clock: counts and status codes
//! exact, quantiles within the bucket layout's bound, slots expiring at the right tick; and
//! no count lost with threads recording while snapshots are taken.

use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use pulsecheck::layer::{HttpMethod, RequestRecord, RouteTable};
use pulsecheck::window::buckets::{MAX_NS, MIN_NS, RELATIVE_ERROR_BOUND};
use pulsecheck::window::{Aggregator, AggregatorConfig, ManualClock, Snapshot, Window};

#[derive(Clone, Debug)]
enum Step {
    Record { route: usize, status: u16, ns: u64 },
    Advance(u64),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        8 => (0usize..3, prop::sample::select(vec![200u16, 201, 404, 500, 503]), 2.0f64..11.5)
            .prop_map(|(route, status, exp)| Step::Record { route, status, ns: 10f64.powf(exp) as u64 }),
        2 => (1u64..40).prop_map(Step::Advance),
    ]
}

/// One recorded event and the push (tick) number that folded it.
struct Event {
    route: usize,
    status: u16,
    ns: u64,
    push: u64,
}

fn included(window: Window, push: u64, pushes: u64) -> bool {
    match window {
        Window::OneMinute => push + 60 > pushes,
        Window::FiveMinutes => push.div_ceil(10) + 30 > pushes / 10,
        Window::OneHour => push.div_ceil(60) + 60 > pushes / 60,
    }
}

fn nearest_rank(sorted: &[u64], q: f64) -> u64 {
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn check(snap: &Snapshot, events: &[&Event]) {
    assert_eq!(snap.requests, events.len() as u64, "count");
    let errors = events.iter().filter(|e| e.status >= 500).count() as u64;
    assert_eq!(snap.errors, errors, "errors");
    for code in [200u16, 201, 404, 500, 503] {
        let n = events.iter().filter(|e| e.status == code).count() as u64;
        assert_eq!(
            snap.status_codes
                .get(&code.to_string())
                .copied()
                .unwrap_or(0),
            n
        );
    }
    if events.is_empty() {
        assert!(snap.latency_ms.is_none());
        return;
    }
    let lat = snap.latency_ms.as_ref().expect("latency");
    let mut clamped: Vec<u64> = events.iter().map(|e| e.ns.clamp(MIN_NS, MAX_NS)).collect();
    clamped.sort_unstable();
    let raw_min = events.iter().map(|e| e.ns).min().unwrap();
    let raw_max = events.iter().map(|e| e.ns).max().unwrap();
    assert!((lat.min - raw_min as f64 / 1e6).abs() < 1e-9, "min");
    assert!((lat.max - raw_max as f64 / 1e6).abs() < 1e-9, "max");
    for (q, got) in [
        (0.5, lat.p50),
        (0.9, lat.p90),
        (0.95, lat.p95),
        (0.99, lat.p99),
        (0.999, lat.p999),
    ] {
        let exact = nearest_rank(&clamped, q) as f64 / 1e6;
        let err = (got - exact).abs() / exact;
        assert!(
            err <= RELATIVE_ERROR_BOUND + 1e-9,
            "p{q}: got {got} ms, exact {exact} ms, relative error {err}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn windows_match_an_exact_model(steps in prop::collection::vec(step(), 1..400)) {
        let routes = Arc::new(RouteTable::new(8));
        let ids: Vec<_> = ["/a", "/b/{id}", "/c"].iter().map(|r| routes.resolve(r)).collect();
        let clock = ManualClock::new(10_000);
        let agg = Aggregator::with_clock(AggregatorConfig::default(), routes, clock.clone());
        let mut events: Vec<Event> = Vec::new();
        let mut pending: Vec<(usize, u16, u64)> = Vec::new();
        let mut pushes = 0u64;
        for s in steps {
            match s {
                Step::Record { route, status, ns } => {
                    agg.record(&RequestRecord {
                        method: HttpMethod::Get,
                        route: Some(ids[route]),
                        status,
                        duration: Duration::from_nanos(ns),
                        trace_id: None,
                    });
                    pending.push((route, status, ns));
                }
                Step::Advance(k) => {
                    clock.advance(k);
                    agg.tick();
                    pushes += k;
                    events.extend(pending.drain(..).map(|(route, status, ns)| Event { route, status, ns, push: pushes }));
                    for w in Window::ALL {
                        let snap = agg.snapshot(w);
                        let inc: Vec<&Event> = events.iter().filter(|e| included(w, e.push, pushes)).collect();
                        check(&snap.service, &inc);
                        for (i, name) in ["/a", "/b/{id}", "/c"].iter().enumerate() {
                            let mine: Vec<&Event> = inc.iter().copied().filter(|e| e.route == i).collect();
                            match snap.routes.get(*name) {
                                Some(r) => check(r, &mine),
                                None => prop_assert!(mine.is_empty(), "{name} missing from {w:?}"),
                            }
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn slots_expire_exactly_at_the_window_edge() {
    let routes = Arc::new(RouteTable::new(4));
    let r = routes.resolve("/x");
    let clock = ManualClock::new(0);
    let agg = Aggregator::with_clock(AggregatorConfig::default(), routes, clock.clone());
    agg.record(&RequestRecord {
        method: HttpMethod::Get,
        route: Some(r),
        status: 200,
        duration: Duration::from_millis(5),
        trace_id: None,
    });
    clock.advance(1);
    agg.tick();
    for second in 1..=60 {
        assert_eq!(
            agg.snapshot(Window::OneMinute).service.requests,
            1,
            "second {second}"
        );
        clock.advance(1);
        agg.tick();
    }
    assert_eq!(agg.snapshot(Window::OneMinute).service.requests, 0);
    assert_eq!(agg.snapshot(Window::FiveMinutes).service.requests, 1);
    assert_eq!(agg.snapshot(Window::OneHour).service.requests, 1);
}

#[test]
fn no_count_is_lost_with_threads_recording_during_ticks_and_snapshots() {
    let routes = Arc::new(RouteTable::new(4));
    let ids = [routes.resolve("/a"), routes.resolve("/b")];
    let clock = ManualClock::new(0);
    let agg = Aggregator::with_clock(AggregatorConfig::default(), routes, clock.clone());
    const PER_THREAD: u64 = 50_000;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (agg, clock, stop) = (agg.clone(), clock.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut snapshots = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                clock.advance(1);
                agg.tick();
                let s = agg.snapshot(Window::OneHour);
                assert!(s.service.requests <= 4 * PER_THREAD);
                snapshots += 1;
                std::thread::yield_now();
            }
            snapshots
        })
    };
    let writers: Vec<_> = (0..4)
        .map(|t| {
            let agg = agg.clone();
            std::thread::spawn(move || {
                for i in 0..PER_THREAD {
                    agg.record(&RequestRecord {
                        method: HttpMethod::Get,
                        route: Some(ids[(i % 2) as usize]),
                        status: if i % 10 == 0 { 500 } else { 200 },
                        duration: Duration::from_micros(100 + (i % 1000) + t),
                        trace_id: None,
                    });
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let snapshots = reader.join().unwrap();
    clock.advance(1);
    agg.tick();
    let s = agg.snapshot(Window::OneHour);
    assert!(snapshots > 0);
    assert!(
        clock_ticks_within_hour(snapshots),
        "test ran past the 1 h window"
    );
    assert_eq!(s.service.requests, 4 * PER_THREAD);
    assert_eq!(s.service.errors, 4 * PER_THREAD / 10);
    assert_eq!(
        s.routes["/a"].requests + s.routes["/b"].requests,
        4 * PER_THREAD
    );
    let sum: u64 = s.service.status_codes.values().sum();
    assert_eq!(sum, 4 * PER_THREAD);
}

fn clock_ticks_within_hour(ticks: u64) -> bool {
    ticks < 3500
}

/// A low-traffic series recorded while the ticker drains it: every request lands whole in
/// some slot. Before, a request racing the drain could have its status (its count) in one slot
/// and its bucket in the next, where a zero-count slot was dropped: the first slot's quantiles
/// came back `None` and were shown as 0 ms, so a quiet route's p99 read 0 and its budget
/// passed.
#[test]
fn a_request_racing_the_drain_keeps_its_count_and_latency_together() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let routes = Arc::new(RouteTable::new(4));
    let id = routes.resolve("/quiet");
    let clock = ManualClock::new(0);
    let agg = Aggregator::with_clock(AggregatorConfig::default(), routes, clock.clone());
    let stop = Arc::new(AtomicBool::new(false));
    let recorded = Arc::new(AtomicU64::new(0));
    let writer = {
        let (agg, stop, recorded) = (agg.clone(), stop.clone(), recorded.clone());
        std::thread::spawn(move || {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                agg.record(&RequestRecord {
                    method: HttpMethod::Get,
                    route: Some(id),
                    status: if i % 7 == 0 { 503 } else { 200 },
                    // 2..=9 ms: no quantile of any slot can honestly be under 1 ms.
                    duration: Duration::from_millis(2 + i % 8),
                    trace_id: None,
                });
                recorded.fetch_add(1, Ordering::Relaxed);
                i += 1;
                // A trickle: a few requests per slot, so a slot often holds only a racer.
                for _ in 0..200 {
                    std::hint::spin_loop();
                }
            }
        })
    };
    let mut bad_points = Vec::new();
    let mut bad_snapshots = Vec::new();
    let mut ticks = 0;
    while ticks < 3_000 {
        // A few requests per slot: wait for them, so the ticker does not outrun the writer.
        let before = recorded.load(Ordering::Relaxed);
        while recorded.load(Ordering::Relaxed) < before + 3 {
            std::thread::yield_now();
        }
        clock.advance(1);
        agg.tick();
        ticks += 1;
        let series = agg.series(Window::OneMinute);
        let last = series.points.last().expect("a point per tick");
        if last.requests > 0 && (last.p50.is_none() || last.p99.is_none()) {
            bad_points.push((ticks, last.requests, last.p50, last.p99));
        }
        let snap = agg.snapshot(Window::OneMinute).service;
        if snap.requests > 0 {
            match &snap.latency_ms {
                Some(l) if l.p50 >= 1.0 && l.p99 >= 1.0 && l.p999 >= 1.0 => {}
                other => bad_snapshots.push((ticks, snap.requests, other.clone())),
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    clock.advance(1);
    agg.tick();
    assert!(clock_ticks_within_hour(ticks));
    let total = recorded.load(Ordering::Relaxed);
    assert!(total > 1_000, "the writer recorded only {total} requests");
    let s = agg.snapshot(Window::OneHour);
    assert_eq!(s.service.requests, total, "requests lost");
    assert_eq!(s.routes["/quiet"].requests, total, "route requests lost");
    assert_eq!(s.service.errors, total.div_ceil(7), "errors lost");
    let by_status: u64 = s.service.status_codes.values().sum();
    assert_eq!(by_status, total, "status counts lost");
    assert!(
        bad_points.is_empty(),
        "{} of {ticks} one-second points had requests but no quantile, e.g. {:?}",
        bad_points.len(),
        &bad_points[..bad_points.len().min(5)]
    );
    assert!(
        bad_snapshots.is_empty(),
        "{} of {ticks} snapshots had requests but a quantile under 1 ms or none, e.g. {:?}",
        bad_snapshots.len(),
        &bad_snapshots[..bad_snapshots.len().min(3)]
    );
}
