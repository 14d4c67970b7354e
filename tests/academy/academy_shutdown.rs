//! SIGTERM during load on the real academy process: readiness turns 503 at once while
//! liveness stays 200, requests keep being served through the drain delay, every request in
//! flight when the listener closes completes, and the process exits cleanly.

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

/// Sends the head of a POST and one byte of its 100-byte body, then holds the connection.
fn half_sent_body(academy: &Academy) -> std::net::TcpStream {
    use std::io::Write as _;
    let mut s = std::net::TcpStream::connect(academy.addr).expect("connect");
    s.write_all(
        b"POST /api/enrollments HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
          Content-Length: 100\r\n\r\n{",
    )
    .expect("send the head");
    s
}

/// Waits for the process to exit off the runtime's threads (the OTLP receiver needs them).
async fn exit_within(
    mut academy: Academy,
    within: Duration,
) -> (std::process::ExitStatus, Academy) {
    tokio::task::spawn_blocking(move || (academy.wait_exit(within), academy))
        .await
        .expect("wait for exit")
}

/// A client holding a half-sent body no longer keeps the academy alive after SIGTERM: after
/// the drain delay and the default 10 s deadline the connection is closed, the span queued
/// for a minute (`OTEL_BSP_SCHEDULE_DELAY=60000`) is flushed to a real OTLP receiver, and the
/// process exits 0 within drain + 17 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_sent_body_cannot_hold_shutdown_and_queued_spans_are_flushed() {
    let receiver = support::otlp::Receiver::start().await;
    let endpoint = receiver.endpoint("http");
    let academy = Academy::spawn(&[
        ("PULSE_DRAIN_DELAY", "1s"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        ("OTEL_BSP_SCHEDULE_DELAY", "60000"),
        ("OTEL_METRICS_EXPORTER", "none"),
        ("OTEL_LOGS_EXPORTER", "none"),
    ]);
    let marker = "lifecycle-queued-span";
    let resp = reqwest::Client::new()
        .get(academy.url("/api/courses"))
        .header("x-request-id", marker)
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 200);
    let mut held = half_sent_body(&academy);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        receiver.store.spans().is_empty(),
        "spans were exported before shutdown; the test would not show the flush"
    );

    academy.signal_term();
    let t0 = Instant::now();
    let drain = Duration::from_secs(1);
    let (status, academy) = exit_within(academy, drain + Duration::from_secs(17)).await;
    let took = t0.elapsed();
    assert!(status.success(), "academy exited with {status}");
    assert!(
        took >= drain + Duration::from_secs(10),
        "exited after {took:?}: before the drain delay and the 10 s deadline"
    );
    eprintln!("shutdown with a half-sent body held open took {took:?}");

    let spans = receiver.store.spans();
    let flushed = spans.iter().any(|s| {
        support::otlp::attr_str(&s.attributes, "http.route") == Some("/api/courses")
            && support::otlp::attr_str(&s.attributes, "request.id") == Some(marker)
    });
    assert!(
        flushed,
        "the queued /api/courses span did not reach the receiver before exit; got {:?}",
        spans.iter().map(|s| &s.name).collect::<Vec<_>>()
    );
    // The held connection was closed by the server, not left to the client.
    use std::io::Read as _;
    held.set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    let mut buf = [0u8; 512];
    let n = held.read(&mut buf).unwrap_or(0);
    assert!(
        n == 0 || String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1"),
        "unexpected bytes on the held connection"
    );
    let closed = academy.json_lines().into_iter().any(|l| {
        l["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("shutdown deadline reached"))
            && l["connections"] == 1
    });
    assert!(closed, "no log line about closing the held connection");
}

/// `PULSE_SHUTDOWN_DEADLINE` sets the deadline: with 2 s, the held connection is closed 2 s
/// after the drain delay and the process exits well before the 10 s default would allow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_deadline_is_configurable() {
    let academy = Academy::spawn(&[("PULSE_SHUTDOWN_DEADLINE", "2s")]);
    let _held = half_sent_body(&academy);
    tokio::time::sleep(Duration::from_millis(200)).await;
    academy.signal_term();
    let t0 = Instant::now();
    let (status, _academy) = exit_within(academy, Duration::from_secs(9)).await;
    let took = t0.elapsed();
    assert!(status.success(), "academy exited with {status}");
    assert!(
        took >= Duration::from_secs(2),
        "exited after {took:?}, before the 2 s deadline"
    );
}

/// A bad `PULSE_SHUTDOWN_DEADLINE` is an error naming the variable, not a silent default.
#[test]
fn invalid_shutdown_deadline_names_the_variable() {
    let (status, out) = Academy::run_to_exit(&[("PULSE_SHUTDOWN_DEADLINE", "soon")]);
    assert!(!status.success(), "academy started with a bad deadline");
    assert!(
        out.contains("PULSE_SHUTDOWN_DEADLINE=\"soon\""),
        "the error does not name the variable: {out}"
    );
}
