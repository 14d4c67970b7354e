//! The aggregator's hot path and the layer's error classification allocate nothing: a
//! counting global allocator sees zero allocations over many records once each series (and
//! each method of it) has been touched, windows and all-time counters alike, including status
//! codes past the exact table.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use pulsecheck::layer::{HttpMethod, RequestRecord, RouteTable};
use pulsecheck::window::{Aggregator, AggregatorConfig, ManualClock};

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// Only the test's own thread is counted: the harness's threads allocate whenever they
    /// like (4 stray allocations were seen on a loaded machine), and those are not the code
    /// under test. Const-initialised without a destructor, so reading it never allocates.
    static TRACKED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn count() {
    if TRACKED.try_with(std::cell::Cell::get).unwrap_or(false) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

/// Counts this thread's allocations from now on.
fn track_this_thread() {
    TRACKED.with(|t| t.set(true));
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The counter is process-wide: tests that read it run one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn recording_allocates_nothing() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    track_this_thread();
    let routes = Arc::new(RouteTable::new(8));
    let ids = [Some(routes.resolve("/a")), Some(routes.resolve("/b")), None];
    let clock = ManualClock::new(0);
    let agg = Aggregator::with_clock(AggregatorConfig::default(), routes, clock.clone());
    let trace = Some(opentelemetry::trace::TraceId::from_bytes([7; 16]));
    let record = |i: u64| RequestRecord {
        method: if i.is_multiple_of(5) {
            HttpMethod::Post
        } else {
            HttpMethod::Get
        },
        route: ids[(i % 3) as usize],
        status: if i.is_multiple_of(7) {
            503
        } else if i.is_multiple_of(11) {
            // Many distinct codes: more than a route's exact table holds.
            100 + (i % 500) as u16
        } else {
            200
        },
        duration: Duration::from_nanos(500 + i * 7919 % 50_000_000_000),
        trace_id: trace,
    };
    // Warm up: each series' counters are allocated on its first request, and each method's
    // all-time counters on its first request (i % 3 and i % 5 meet every pair by 15).
    for i in 0..30 {
        agg.record(&record(i));
    }
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    assert!(
        before > 0,
        "the counting allocator saw nothing: it is not installed"
    );
    for i in 0..100_000 {
        agg.record(&record(i));
    }
    let after = ALLOCATIONS.load(Ordering::SeqCst);
    assert_eq!(
        after - before,
        0,
        "{} allocations in 100 000 records",
        after - before
    );
    // And the data is there.
    clock.advance(1);
    agg.tick();
    let s = agg.snapshot(pulsecheck::window::Window::OneMinute);
    assert_eq!(s.service.requests, 100_030);
    let totals = agg.totals();
    assert_eq!(totals.len(), 6, "3 series × 2 methods");
    let counted: u64 = totals.iter().map(|t| t.totals.count()).sum();
    let by_status: u64 = totals
        .iter()
        .flat_map(|t| t.totals.status_codes.values())
        .sum();
    assert_eq!((counted, by_status), (100_030, 100_030));
}

#[test]
fn classifying_a_successful_response_allocates_nothing() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    track_this_thread();
    use pulsecheck::layer::ErrorClass;
    let ok = http::Response::new(());
    let mut not_found = http::Response::new(());
    *not_found.status_mut() = http::StatusCode::NOT_FOUND;
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    let mut failed = 0;
    for i in 0..100_000 {
        let r = if i % 10 == 0 { &not_found } else { &ok };
        if std::hint::black_box(ErrorClass::of_response(r)).is_some() {
            failed += 1;
        }
    }
    let after = ALLOCATIONS.load(Ordering::SeqCst);
    assert_eq!(failed, 10_000);
    assert_eq!(after - before, 0, "{} allocations", after - before);
}
