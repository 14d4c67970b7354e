//! The aggregator against a naive exact model on a simulated clock: counts and status codes
//! exact, quantiles within the bucket layout's bound, slots expiring at the right tick; and
//! no count lost with threads recording while snapshots are taken.

use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use pulsecheck::__private::buckets::{MAX_NS, MIN_NS, RELATIVE_ERROR_BOUND};
use pulsecheck::layer::{HttpMethod, RequestRecord, RouteTable};
use pulsecheck::window::{Aggregator, AggregatorConfig, Clock, ManualClock, Snapshot, Window};

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

/// A low-traffic series recorded from two threads while the ticker drains it: every request
/// is counted, with its latency, in some slot. Before, a request racing the drain could have its status (its count) in one slot
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
    // Two writers (two shards) against the ticker; each returns how many it recorded.
    let writers: Vec<_> = (0..2)
        .map(|_| {
            let (agg, stop, recorded) = (agg.clone(), stop.clone(), recorded.clone());
            std::thread::spawn(move || {
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    agg.record(&RequestRecord {
                        method: HttpMethod::Get,
                        route: Some(id),
                        status: if i.is_multiple_of(7) { 503 } else { 200 },
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
                i
            })
        })
        .collect();
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
    let per_writer: Vec<u64> = writers.into_iter().map(|w| w.join().unwrap()).collect();
    clock.advance(1);
    agg.tick();
    assert!(clock_ticks_within_hour(ticks));
    let total = recorded.load(Ordering::Relaxed);
    assert_eq!(per_writer.iter().sum::<u64>(), total);
    let errors: u64 = per_writer.iter().map(|n| n.div_ceil(7)).sum();
    assert!(total > 1_000, "the writer recorded only {total} requests");
    let s = agg.snapshot(Window::OneHour);
    assert_eq!(s.service.requests, total, "requests lost");
    assert_eq!(s.routes["/quiet"].requests, total, "route requests lost");
    assert_eq!(s.service.errors, errors, "errors lost");
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

fn request(route: Option<pulsecheck::layer::RouteId>, ms: u64, status: u16) -> RequestRecord {
    RequestRecord {
        method: HttpMethod::Get,
        route,
        status,
        duration: Duration::from_millis(ms),
        trace_id: None,
    }
}

/// An NTP step or `date -s` backwards: the windows keep advancing. Before, every tick until
/// the wall clock caught up (an hour here) returned early, and the windows showed the past.
#[test]
fn a_wall_clock_step_backwards_does_not_freeze_the_windows() {
    let routes = Arc::new(RouteTable::new(4));
    let api = Some(routes.resolve("/api"));
    let clock = ManualClock::new(1_000_000);
    let agg = Aggregator::with_clock(AggregatorConfig::default(), routes, clock.clone());
    agg.record(&request(api, 10, 200));
    clock.advance(1);
    agg.tick();
    assert_eq!(agg.snapshot(Window::OneMinute).service.requests, 1);

    clock.step_wall(-3_600);
    for _ in 0..3 {
        agg.record(&request(api, 20, 503));
        clock.advance(1);
        agg.tick();
    }
    let s = agg.snapshot(Window::OneMinute);
    assert_eq!(s.service.requests, 4, "windows froze after the step back");
    assert_eq!(s.service.errors, 3);
    // 60 slots later the first request has left the 1 m window, as without the step.
    clock.advance(57);
    agg.tick();
    assert_eq!(agg.snapshot(Window::OneMinute).service.requests, 3);
    clock.advance(3);
    agg.tick();
    assert_eq!(agg.snapshot(Window::OneMinute).service.requests, 0);
    assert_eq!(agg.snapshot(Window::OneHour).service.requests, 4);
    // Chart points are labelled with the (stepped) wall time.
    let series = agg.series(Window::OneMinute);
    assert_eq!(series.points.last().unwrap().t + 1, clock.now_s());
}

/// A wall clock jumping forward two hours: nothing expires, since no time passed. Before, the
/// next tick pushed 3,600 empty seconds into every series and the windows came back empty,
/// so a failing service looked idle and its budget passed.
#[test]
fn a_wall_clock_jump_forward_expires_nothing() {
    let routes = Arc::new(RouteTable::new(4));
    let api = Some(routes.resolve("/api"));
    let clock = ManualClock::new(1_000_000);
    let agg = Aggregator::with_clock(AggregatorConfig::default(), routes, clock.clone());
    for _ in 0..5 {
        agg.record(&request(api, 10, 500));
    }
    clock.advance(1);
    agg.tick();
    clock.step_wall(7_200);
    clock.advance(1);
    agg.tick();
    for w in Window::ALL {
        let s = agg.snapshot(w);
        assert_eq!((s.service.requests, s.service.errors), (5, 5), "{w:?}");
        assert_eq!(s.routes["/api"].requests, 5, "{w:?}");
    }
    assert_eq!(agg.long_counts(5).total, 5);
    assert_eq!(agg.uptime_s(), 2);
}

/// Seconds the ticker missed (a stalled or suspended process) are folded in one bounded pass,
/// with exactly the windows that ticking through them one by one gives.
#[test]
fn missed_seconds_fold_exactly_as_ticking_through_them() {
    for gap in [
        2u64, 3, 9, 10, 11, 59, 60, 61, 299, 300, 301, 3_599, 3_600, 3_601, 7_205, 90_061,
    ] {
        let make = || {
            let routes = Arc::new(RouteTable::new(4));
            let ids = [routes.resolve("/a"), routes.resolve("/b")];
            let clock = ManualClock::new(0);
            let agg = Aggregator::with_clock(
                AggregatorConfig {
                    latency_thresholds: vec![Duration::from_millis(15)],
                    ..AggregatorConfig::default()
                },
                routes,
                clock.clone(),
            );
            // Data over 2,345 s, so the 10 s, 1 min and 1 h slots are part-filled at the gap.
            for t in 0..2_345u64 {
                if t % 7 == 0 {
                    let route = Some(ids[(t % 2) as usize]);
                    agg.record(&request(
                        route,
                        5 + t % 20,
                        if t % 3 == 0 { 500 } else { 200 },
                    ));
                }
                clock.advance(1);
                agg.tick();
            }
            (agg, clock, ids)
        };
        let (one_by_one, c1, ids1) = make();
        let (jump, c2, ids2) = make();
        for _ in 0..gap - 1 {
            c1.advance(1);
            one_by_one.tick();
        }
        c2.advance(gap - 1);
        jump.tick();
        // One more second with a request, so both fold data right after the gap.
        one_by_one.record(&request(Some(ids1[0]), 30, 200));
        jump.record(&request(Some(ids2[0]), 30, 200));
        c1.advance(1);
        one_by_one.tick();
        c2.advance(1);
        jump.tick();
        for w in Window::ALL {
            assert_eq!(one_by_one.snapshot(w), jump.snapshot(w), "gap {gap}, {w:?}");
            assert_eq!(one_by_one.series(w), jump.series(w), "gap {gap}, {w:?}");
        }
        for minutes in [1, 5, 60, 61, 24 * 60, 3 * 24 * 60, 30 * 24 * 60] {
            assert_eq!(
                one_by_one.long_counts(minutes),
                jump.long_counts(minutes),
                "gap {gap}, {minutes} min"
            );
        }
    }
}

/// A pause just under the longest window with many busy routes: the catch-up tick holds the
/// state lock for one bounded pass (about 450 slot operations a series), not one push per
/// missed second per series (3,598 x 1,002 here). Measured in a debug build: about 20 ms
/// now, 1.2 s before; the bound leaves a wide margin for a loaded machine.
#[test]
fn a_long_pause_costs_one_bounded_pass_under_the_lock() {
    let routes = Arc::new(RouteTable::new(1_000));
    let ids: Vec<_> = (0..1_000)
        .map(|i| routes.resolve(&format!("/r{i}")))
        .collect();
    let clock = ManualClock::new(0);
    let agg = Aggregator::with_clock(AggregatorConfig::default(), routes, clock.clone());
    for id in &ids {
        agg.record(&request(Some(*id), 10, 200));
    }
    clock.advance(1);
    agg.tick();
    clock.advance(3_599);
    let started = std::time::Instant::now();
    agg.tick();
    let took = started.elapsed();
    eprintln!("catch-up tick over 3,598 missed seconds, 1,000 routes: {took:?}");
    assert!(
        took < Duration::from_millis(300),
        "catch-up tick took {took:?}"
    );
    // The data is where ticking second by second would have put it.
    assert_eq!(agg.snapshot(Window::OneMinute).service.requests, 0);
    assert_eq!(agg.snapshot(Window::OneHour).service.requests, 1_000);
}

/// Each exemplar says which request it is: route, status, duration and the second it was
/// folded, in the service's figures and the route's alike, in every window.
#[test]
fn exemplars_carry_route_status_duration_and_time() {
    use opentelemetry::trace::TraceId;
    use std::time::UNIX_EPOCH;
    let routes = Arc::new(RouteTable::default());
    let clock = ManualClock::new(1_000);
    let agg = Aggregator::with_clock(AggregatorConfig::default(), routes.clone(), clock.clone());
    let users = Some(routes.resolve("/users/{id}"));
    let orders = Some(routes.resolve("/orders"));
    let slow = TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").unwrap();
    let failed = TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap();
    for (route, status, ms, trace) in [
        (users, 200, 5, None),
        (users, 200, 900, Some(slow)),
        (orders, 503, 40, Some(failed)),
    ] {
        agg.record(&RequestRecord {
            method: HttpMethod::Get,
            route,
            status,
            duration: Duration::from_millis(ms),
            trace_id: trace,
        });
    }
    clock.advance(1);
    agg.tick();
    let at = UNIX_EPOCH + Duration::from_secs(1_001);
    assert_eq!(clock.now_s(), 1_001);
    for window in Window::ALL {
        let snap = agg.snapshot(window);
        let s = &snap.service;
        let top = &s.slowest[0];
        assert_eq!(top.trace_id, slow.to_string(), "{window:?}");
        assert_eq!(
            (top.route.as_str(), top.status, top.at),
            ("/users/{id}", 200, at)
        );
        assert!((top.duration_ms - 900.0).abs() < 1e-9);
        assert_eq!(s.recent_failures, vec![failed.to_string()]);
        let f = &s.failures[0];
        assert_eq!(f.trace_id, failed.to_string());
        assert_eq!((f.route.as_str(), f.status, f.at), ("/orders", 503, at));
        assert!((f.duration_ms - 40.0).abs() < 1e-9);
        assert_eq!(snap.routes["/orders"].failures[0].route, "/orders");
    }
}

/// Each recording thread writes a shard it owns alone with plain loads and stores, and gives
/// it back when it exits. More threads than there are owned shards (the rest share one with
/// atomic adds), threads exiting while others start and take the shards they left, and a
/// ticker draining all the while: every request is counted once, in the windows and in the
/// all-time totals, with its latency.
#[test]
fn threads_beyond_the_owned_shards_and_threads_taking_over_a_shard_lose_nothing() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let routes = Arc::new(RouteTable::new(4));
    let id = routes.resolve("/a");
    let clock = ManualClock::new(0);
    let agg = Aggregator::with_clock(AggregatorConfig::default(), routes, clock.clone());
    // More than the most owned shards there can be (128), in waves: each wave's threads
    // start while the previous wave's are exiting.
    const WAVES: u64 = 4;
    const THREADS: u64 = 150;
    const PER_THREAD: u64 = 500;
    let stop = Arc::new(AtomicBool::new(false));
    let ticker = {
        let (agg, clock, stop) = (agg.clone(), clock.clone(), stop.clone());
        std::thread::spawn(move || {
            // Every 200 µs, and at most 3000 times: all within the 1 h window.
            let mut ticks = 0u64;
            while !stop.load(Ordering::Relaxed) && ticks < 3000 {
                clock.advance(1);
                agg.tick();
                ticks += 1;
                std::thread::sleep(Duration::from_micros(200));
            }
            ticks
        })
    };
    let mut previous: Vec<std::thread::JoinHandle<()>> = Vec::new();
    for _ in 0..WAVES {
        let start = Arc::new(std::sync::Barrier::new(THREADS as usize));
        let wave: Vec<_> = (0..THREADS)
            .map(|t| {
                let (agg, start) = (agg.clone(), start.clone());
                std::thread::spawn(move || {
                    start.wait();
                    for i in 0..PER_THREAD {
                        agg.record(&RequestRecord {
                            method: HttpMethod::Get,
                            route: Some(id),
                            status: if (i + t) % 4 == 0 { 503 } else { 200 },
                            duration: Duration::from_millis(1 + (i + t) % 9),
                            trace_id: None,
                        });
                    }
                })
            })
            .collect();
        for w in previous.drain(..) {
            w.join().unwrap();
        }
        previous = wave;
    }
    for w in previous {
        w.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    let ticks = ticker.join().unwrap();
    clock.advance(1);
    agg.tick();
    assert!(ticks > 10, "the ticker drained only {ticks} times");
    let total = WAVES * THREADS * PER_THREAD;
    // Per thread, (i + t) % 4 == 0 for exactly a quarter of its 500 requests, whatever t.
    let errors = total / 4;
    let s = agg.snapshot(Window::OneHour);
    assert_eq!(s.service.requests, total, "requests lost or doubled");
    assert_eq!(s.service.errors, errors, "errors lost or doubled");
    assert_eq!(s.service.status_codes.values().sum::<u64>(), total);
    // Latencies 1..=9 ms, 1 ms each: the mean is exact whatever the order.
    let expected_sum_ms: u64 = (0..WAVES * THREADS)
        .map(|t| {
            (0..PER_THREAD)
                .map(|i| 1 + (i + t % THREADS) % 9)
                .sum::<u64>()
        })
        .sum();
    let mean = s.service.latency_ms.as_ref().expect("latencies").avg;
    let expected_mean = expected_sum_ms as f64 / total as f64;
    assert!(
        (mean - expected_mean).abs() < 1e-9 * expected_mean,
        "mean {mean} ms, expected {expected_mean} ms: a latency sum was lost or doubled"
    );
    let totals = agg.totals();
    assert_eq!(totals.len(), 1);
    assert_eq!(totals[0].totals.count(), total, "all-time count");
    assert_eq!(
        totals[0].totals.sum_us,
        expected_sum_ms * 1000,
        "all-time sum"
    );
    assert_eq!(
        totals[0].totals.status_codes.values().sum::<u64>(),
        total,
        "all-time status counts"
    );
}
