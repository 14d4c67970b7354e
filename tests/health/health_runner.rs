//! The health runner on synthetic checks and Tokio's paused clock: parallelism, timeouts that
//! really cancel, panics, single-flight, TTLs, flap damping, listeners, background refresh,
//! and breakers driven by probes.

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use pulsecheck::health::{
    BreakerConfig, BreakerState, Check, CheckError, CheckExt, CheckStatus, CircuitBreaker, Health,
    HealthConfig, HealthStatus, Observation, Refresh,
};
use tokio::time::Instant;

fn on_demand() -> HealthConfig {
    HealthConfig {
        refresh: Refresh::OnDemand,
        ..HealthConfig::default()
    }
}

/// A check whose behaviour the test controls: a delay, a failure switch, a call counter and
/// a flag set when its future is dropped before finishing.
#[derive(Clone, Default)]
struct Probe {
    name: &'static str,
    delay: Duration,
    failing: Arc<AtomicBool>,
    calls: Arc<AtomicU32>,
    finished: Arc<AtomicU32>,
    cancelled: Arc<AtomicU32>,
    panics: bool,
}

struct DropGuard<'a> {
    done: bool,
    cancelled: &'a AtomicU32,
}
impl Drop for DropGuard<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.cancelled.fetch_add(1, Ordering::SeqCst);
        }
    }
}

impl Check for Probe {
    fn name(&self) -> Cow<'static, str> {
        self.name.into()
    }
    async fn check(&self) -> Result<Observation, CheckError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let mut guard = DropGuard {
            done: false,
            cancelled: &self.cancelled,
        };
        tokio::time::sleep(self.delay).await;
        guard.done = true;
        self.finished.fetch_add(1, Ordering::SeqCst);
        if self.panics {
            panic!("boom in check");
        }
        if self.failing.load(Ordering::SeqCst) {
            Err(CheckError::new("dependency refused the connection"))
        } else {
            Ok(Observation::pass().measured("connections", 3, None))
        }
    }
}

fn probe(name: &'static str, delay_ms: u64) -> Probe {
    Probe {
        name,
        delay: Duration::from_millis(delay_ms),
        ..Probe::default()
    }
}

#[tokio::test(start_paused = true)]
async fn eight_slow_checks_run_in_parallel() {
    let names = ["a", "b", "c", "d", "e", "f", "g", "h"];
    let mut builder = Health::builder().config(on_demand());
    for n in names {
        builder = builder.check(probe(n, 1000).timeout(Duration::from_secs(5)));
    }
    let health = builder.build();
    let start = Instant::now();
    let report = health.report().await;
    let took = start.elapsed();
    assert_eq!(report.status, HealthStatus::Healthy);
    assert_eq!(report.checks.len(), 8);
    // Virtual time: exactly one second of sleeping happened, not eight.
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_millis(1100),
        "took {took:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_timed_out_check_is_cancelled_and_fails() {
    let p = probe("hang", 60_000);
    let health = Health::builder()
        .config(on_demand())
        .check(p.clone().critical().timeout(Duration::from_millis(300)))
        .build();
    let start = Instant::now();
    let report = health.report().await;
    assert!(start.elapsed() < Duration::from_millis(400));
    assert_eq!(report.status, HealthStatus::Unhealthy);
    let r = report.checks[0].result.as_ref().expect("a result");
    assert_eq!(r.error.as_deref(), Some("timed out after 300 ms"));
    // The future was dropped, not left running.
    tokio::time::sleep(Duration::from_secs(120)).await;
    assert_eq!(p.cancelled.load(Ordering::SeqCst), 1);
    assert_eq!(p.finished.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_panicking_check_is_a_failure() {
    let mut p = probe("panicky", 0);
    p.panics = true;
    let health = Health::builder()
        .config(on_demand())
        .check(p.non_critical())
        .check(probe("fine", 0).critical())
        .build();
    let report = health.report().await;
    assert_eq!(report.status, HealthStatus::Degraded);
    let r = report.checks[0].result.as_ref().expect("a result");
    assert_eq!(r.status, CheckStatus::Down);
    assert!(
        r.error
            .as_deref()
            .is_some_and(|e| e.contains("boom in check")),
        "{:?}",
        r.error
    );
    // And the runner still works afterwards.
    assert_eq!(health.report().await.checks[1].status(), CheckStatus::Up);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_callers_on_a_cold_cache_share_one_probe() {
    let p = probe("db", 200);
    let health = Health::builder()
        .config(on_demand())
        .check(p.clone().critical())
        .build();
    let mut tasks = Vec::new();
    for _ in 0..1000 {
        let h = health.clone();
        tasks.push(tokio::spawn(async move { h.report().await.status }));
    }
    for t in tasks {
        assert_eq!(t.await.expect("task"), HealthStatus::Healthy);
    }
    assert_eq!(p.calls.load(Ordering::SeqCst), 1);
    assert_eq!(health.probes_started(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_caller_giving_up_does_not_cancel_the_shared_probe() {
    let p = probe("slow", 1000);
    let health = Health::builder()
        .config(on_demand())
        .check(p.clone().timeout(Duration::from_secs(5)))
        .build();
    let impatient = tokio::time::timeout(Duration::from_millis(100), health.report()).await;
    assert!(impatient.is_err());
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(p.finished.load(Ordering::SeqCst), 1);
    assert_eq!(p.cancelled.load(Ordering::SeqCst), 0);
    let report = health.report().await;
    assert!(report.cached, "the finished probe's result is served");
    assert_eq!(p.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn successes_are_cached_for_the_ttl_and_failures_shorter() {
    let p = probe("db", 0);
    let health = Health::builder()
        .config(on_demand())
        .check(
            p.clone()
                .ttl(Duration::from_secs(30))
                .failure_ttl(Duration::from_secs(5)),
        )
        .build();
    assert!(!health.report().await.cached);
    tokio::time::sleep(Duration::from_secs(29)).await;
    let r = health.report().await;
    assert!(r.cached);
    assert!(r.age >= Duration::from_secs(29));
    assert_eq!(p.calls.load(Ordering::SeqCst), 1);
    tokio::time::sleep(Duration::from_secs(2)).await;
    p.failing.store(true, Ordering::SeqCst);
    assert!(!health.report().await.cached);
    assert_eq!(p.calls.load(Ordering::SeqCst), 2);
    tokio::time::sleep(Duration::from_secs(4)).await;
    health.report().await;
    assert_eq!(p.calls.load(Ordering::SeqCst), 2, "failure cached for 5 s");
    tokio::time::sleep(Duration::from_secs(2)).await;
    health.report().await;
    assert_eq!(p.calls.load(Ordering::SeqCst), 3, "then re-probed");
}

#[tokio::test(start_paused = true)]
async fn thresholds_damp_flapping_and_listeners_fire_once_per_transition() {
    let p = probe("flaky", 0);
    let transitions = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = Arc::clone(&transitions);
    let health = Health::builder()
        .config(on_demand())
        .on_transition(move |t| {
            seen.lock()
                .expect("lock")
                .push((t.check.clone(), t.from, t.to))
        })
        .check(
            p.clone()
                .critical()
                .failure_threshold(3)
                .success_threshold(2)
                .failure_ttl(Duration::from_secs(1))
                .ttl(Duration::from_secs(1))
                .without_breaker(),
        )
        .build();
    let mut statuses = Vec::new();
    let pattern = [
        false, true, true, false, true, true, true, true, false, false, false,
    ];
    for failing in pattern {
        p.failing.store(failing, Ordering::SeqCst);
        statuses.push(health.report().await.checks[0].status());
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
    use CheckStatus::{Down, Up};
    assert_eq!(
        statuses,
        [Up, Up, Up, Up, Up, Up, Down, Down, Down, Up, Up],
        "three failures in a row to go down, two successes to come back"
    );
    let t = transitions.lock().expect("lock").clone();
    assert_eq!(
        t,
        [
            ("flaky".to_owned(), CheckStatus::Unknown, Up),
            ("flaky".to_owned(), Up, Down),
            ("flaky".to_owned(), Down, Up),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn background_refresh_starts_unknown_then_readers_never_wait() {
    let p = probe("db", 500);
    let health = Health::builder()
        .config(HealthConfig::default())
        .check(p.clone().critical().ttl(Duration::from_secs(10)))
        .build();
    let mut watch = health.subscribe();
    let first = *watch.borrow_and_update();
    assert_eq!(first.status, HealthStatus::Unknown);
    assert!(!first.ready && first.live);
    let start = Instant::now();
    let report = health.report().await;
    assert_eq!(start.elapsed(), Duration::ZERO, "reader did not wait");
    assert_eq!(report.status, HealthStatus::Unknown);
    assert!(!report.ready);
    watch.changed().await.expect("a change");
    let now = *watch.borrow_and_update();
    assert_eq!(now.status, HealthStatus::Healthy);
    assert!(now.ready);
    // Refreshed before expiry, in the background.
    tokio::time::sleep(Duration::from_secs(35)).await;
    assert!(p.calls.load(Ordering::SeqCst) >= 4);
    assert!(health.report().await.age < Duration::from_secs(10));
    // No change, no notification.
    assert!(!watch.has_changed().expect("open"));
    health.begin_shutdown();
    watch.changed().await.expect("a change");
    let down = *watch.borrow_and_update();
    assert!(!down.ready && down.live && down.shutting_down);
    health.stop();
}

#[tokio::test(start_paused = true)]
async fn an_open_breaker_answers_without_touching_the_dependency_and_recovers() {
    let p = probe("payments", 0);
    p.failing.store(true, Ordering::SeqCst);
    let breaker = CircuitBreaker::new(
        "payments",
        BreakerConfig {
            minimum_calls: 3,
            open_wait: Duration::from_secs(30),
            ..BreakerConfig::default()
        },
    );
    let health = Health::builder()
        .config(on_demand())
        .check(
            p.clone()
                .breaker(breaker.clone())
                .failure_ttl(Duration::from_secs(1)),
        )
        .build();
    for _ in 0..3 {
        health.report().await;
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    assert_eq!(breaker.state(), BreakerState::Open);
    assert_eq!(p.calls.load(Ordering::SeqCst), 3);
    let report = health.report().await;
    assert_eq!(report.status, HealthStatus::Degraded);
    assert_eq!(report.checks[0].circuit, Some(BreakerState::Open));
    let err = report.checks[0]
        .result
        .as_ref()
        .and_then(|r| r.error.clone());
    assert!(err.is_some_and(|e| e.starts_with("circuit open")));
    assert_eq!(p.calls.load(Ordering::SeqCst), 3, "not touched while open");
    // The dependency comes back; within the open wait plus one probe, health recovers.
    p.failing.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(30)).await;
    let report = health.report().await;
    assert_eq!(report.status, HealthStatus::Healthy);
    assert_eq!(breaker.state(), BreakerState::Closed);
    assert_eq!(p.calls.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn no_checks_is_healthy_and_ready() {
    let health = Health::builder().build();
    let r = health.report().await;
    assert_eq!(r.status, HealthStatus::Healthy);
    assert!(r.ready);
    health.set_out_of_service(true);
    assert!(!health.report().await.ready);
    health.set_broken(true);
    assert!(!health.serving().live);
}
