//! SIGTERM during load on the real academy process: readiness turns 503 at once while
//! liveness stays 200, requests keep being served through the drain delay, every request in
//! flight when the listener closes completes, and the process exits cleanly.

mod support;

use std::time::{Duration, Instant};

use support::academy::Academy;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_load_drains_without_losing_requests() {
    let mut academy = Academy::spawn(&[("PULSE_DRAIN_DELAY", "1500ms")]);
    let url = academy.url("/api/simulate?latency_ms=800");
    let ready_url = academy.url("/health/ready");
    let live_url = academy.url("/health/live");
    assert_eq!(reqwest::get(&ready_url).await.expect("ready").status(), 200);

    let signalled = std::sync::Arc::new(std::sync::OnceLock::<Instant>::new());
    let mut workers = Vec::new();
    for _ in 0..8 {
        let url = url.clone();
        let signalled = std::sync::Arc::clone(&signalled);
        workers.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut outcomes = Vec::new();
            // Issue requests until 1 s after the signal: the last ones are still in flight
            // when the 1.5 s drain ends and the listener closes.
            while signalled
                .get()
                .is_none_or(|t| t.elapsed() < Duration::from_secs(1))
            {
                let r = client.get(&url).send().await;
                outcomes.push(match r {
                    Ok(resp) => Ok(resp.status().as_u16()),
                    Err(e) => Err(e.to_string()),
                });
            }
            outcomes
        }));
    }
    tokio::time::sleep(Duration::from_millis(1200)).await;
    academy.signal_term();
    let t0 = Instant::now();
    let _ = signalled.set(t0);

    // Probes on fresh connections, as a kubelet would.
    let probe = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");
    let mut first_503 = None;
    let mut ready_after_503 = Vec::new();
    while t0.elapsed() < Duration::from_millis(1200) {
        let status = probe
            .get(&ready_url)
            .send()
            .await
            .expect("still accepting during the drain")
            .status()
            .as_u16();
        match (status, first_503) {
            (503, None) => first_503 = Some(t0.elapsed()),
            (200, Some(_)) => ready_after_503.push(t0.elapsed()),
            _ => {}
        }
        let live = probe.get(&live_url).send().await.expect("live").status();
        assert_eq!(live, 200, "liveness stays 200 while draining");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let first_503 = first_503.expect("readiness never turned 503 during the drain");
    assert!(
        first_503 < Duration::from_millis(250),
        "readiness turned 503 only after {first_503:?}"
    );
    assert!(
        ready_after_503.is_empty(),
        "ready again at {ready_after_503:?}"
    );

    let mut total = 0;
    for w in workers {
        for outcome in w.await.expect("worker") {
            total += 1;
            assert_eq!(outcome, Ok(200), "a request was lost during the drain");
        }
    }
    assert!(total >= 16, "only {total} requests were made");
    let status = academy.wait_exit(Duration::from_secs(10));
    assert!(status.success(), "academy exited with {status}");
    let stopped = t0.elapsed();
    assert!(
        stopped >= Duration::from_millis(1500),
        "exited after {stopped:?}, before the drain delay ended"
    );
}
