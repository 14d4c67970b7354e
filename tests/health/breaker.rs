//! Circuit breaker state machine on Tokio's paused clock.

use std::time::Duration;

use pulsecheck::health::{
    BreakerConfig, BreakerError, BreakerState, BreakerWindow, CircuitBreaker, SlowCalls,
};

fn config() -> BreakerConfig {
    BreakerConfig {
        window: BreakerWindow::Count(10),
        failure_rate: 0.5,
        minimum_calls: 4,
        slow_calls: None,
        open_wait: Duration::from_secs(30),
        half_open_calls: 2,
        half_open_max_wait: Duration::from_secs(10),
    }
}

async fn outcome(b: &CircuitBreaker, ok: bool) -> Result<(), BreakerError<&'static str>> {
    b.call(async move { if ok { Ok(()) } else { Err("failed") } })
        .await
}

#[tokio::test(start_paused = true)]
async fn opens_only_after_the_minimum_calls_and_at_the_threshold() {
    let b = CircuitBreaker::new("db", config());
    for _ in 0..3 {
        let _ = outcome(&b, false).await;
    }
    assert_eq!(b.state(), BreakerState::Closed, "3 calls < minimum 4");
    let _ = outcome(&b, true).await;
    // 3 failures of 4 = 75 % >= 50 %.
    assert_eq!(b.state(), BreakerState::Open);
    match outcome(&b, true).await {
        Err(BreakerError::Open(open)) => assert_eq!(open.retry_after, Duration::from_secs(30)),
        other => panic!("expected an open breaker, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_healthy_rate_stays_closed() {
    let b = CircuitBreaker::new("db", config());
    for i in 0..100 {
        // 40 % failures, under the 50 % threshold.
        let _ = outcome(&b, i % 5 != 2 && i % 5 != 4).await;
    }
    assert_eq!(b.state(), BreakerState::Closed);
    let stats = b.stats();
    assert_eq!((stats.calls, stats.failures), (10, 4), "count window of 10");
}

#[tokio::test(start_paused = true)]
async fn half_open_closes_after_good_trials_and_reopens_after_bad_ones() {
    let b = CircuitBreaker::new("db", config());
    for _ in 0..4 {
        let _ = outcome(&b, false).await;
    }
    assert_eq!(b.state(), BreakerState::Open);
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert_eq!(b.state(), BreakerState::HalfOpen);
    // Two trial permits, then refusal until they report.
    let p1 = b.try_acquire().expect("trial 1");
    let p2 = b.try_acquire().expect("trial 2");
    assert!(b.try_acquire().is_err(), "only two trials");
    p1.success();
    p2.failure();
    // 1 of 2 failed = 50 % >= threshold: open again.
    assert_eq!(b.state(), BreakerState::Open);
    tokio::time::sleep(Duration::from_secs(30)).await;
    outcome(&b, true).await.expect("trial");
    outcome(&b, true).await.expect("trial");
    assert_eq!(b.state(), BreakerState::Closed);
    // The window was cleared: one failure now does not trip it.
    let _ = outcome(&b, false).await;
    assert_eq!(b.state(), BreakerState::Closed);
}

#[tokio::test(start_paused = true)]
async fn half_open_never_sticks_when_trials_do_not_finish() {
    let b = CircuitBreaker::new("db", config());
    for _ in 0..4 {
        let _ = outcome(&b, false).await;
    }
    tokio::time::sleep(Duration::from_secs(30)).await;
    // Trial calls that hang forever (resilience4j #935).
    let stuck1 = b.try_acquire().expect("trial 1");
    let stuck2 = b.try_acquire().expect("trial 2");
    tokio::time::sleep(Duration::from_secs(11)).await;
    assert!(b.try_acquire().is_err());
    assert_eq!(b.state(), BreakerState::Open, "max half-open wait re-opens");
    // Their late outcomes cannot decide the new phase.
    stuck1.success();
    stuck2.success();
    assert_eq!(b.state(), BreakerState::Open);
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert_eq!(b.state(), BreakerState::HalfOpen);
}

#[tokio::test(start_paused = true)]
async fn a_dropped_trial_permit_frees_its_slot() {
    let mut cfg = config();
    cfg.half_open_calls = 1;
    let b = CircuitBreaker::new("db", cfg);
    for _ in 0..4 {
        let _ = outcome(&b, false).await;
    }
    tokio::time::sleep(Duration::from_secs(30)).await;
    let p = b.try_acquire().expect("trial");
    assert!(b.try_acquire().is_err());
    drop(p); // the caller was cancelled
    outcome(&b, true).await.expect("slot freed");
    assert_eq!(b.state(), BreakerState::Closed);
}

#[tokio::test(start_paused = true)]
async fn slow_calls_open_the_breaker() {
    let mut cfg = config();
    cfg.slow_calls = Some(SlowCalls {
        duration: Duration::from_millis(500),
        rate: 0.5,
    });
    let b = CircuitBreaker::new("api", cfg);
    for _ in 0..4 {
        b.call(async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            Ok::<_, ()>(())
        })
        .await
        .expect("succeeds, slowly");
    }
    assert_eq!(b.state(), BreakerState::Open);
}

#[tokio::test(start_paused = true)]
async fn time_window_forgets_old_failures() {
    let mut cfg = config();
    cfg.window = BreakerWindow::Time(Duration::from_secs(10));
    let b = CircuitBreaker::new("api", cfg);
    for _ in 0..3 {
        let _ = outcome(&b, false).await;
    }
    tokio::time::sleep(Duration::from_secs(11)).await;
    // The three old failures expired: 1 failure of 1 call is under the minimum.
    let _ = outcome(&b, false).await;
    assert_eq!(b.state(), BreakerState::Closed);
    assert_eq!(b.stats().calls, 1);
    for _ in 0..3 {
        let _ = outcome(&b, false).await;
    }
    assert_eq!(b.state(), BreakerState::Open);
}

#[tokio::test(start_paused = true)]
async fn reset_closes() {
    let b = CircuitBreaker::new("db", config());
    for _ in 0..4 {
        let _ = outcome(&b, false).await;
    }
    b.reset();
    assert_eq!(b.state(), BreakerState::Closed);
    outcome(&b, true).await.expect("closed");
}
