//! `examples/existing_otel.rs`, the README's "service that already uses OpenTelemetry", run as
//! a process: its own `/health` stays its own, pulsecheck answers under `/ops`, those nested
//! routes count as monitoring traffic (not the service's), and SIGTERM ends it cleanly.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn binary() -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    let bin = dir.join("examples").join("existing_otel");
    assert!(
        bin.exists(),
        "{} is missing: cargo build --examples",
        bin.display()
    );
    bin
}

/// Kills the example when the test fails before its clean exit.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn existing_otel_example_keeps_its_health_and_nests_pulsecheck() {
    let child = Command::new(binary())
        .env("PORT", "0")
        .env("PULSE_DRAIN_DELAY", "0")
        .env_remove("PULSE_ADMIN_TOKEN")
        .env_remove("PULSE_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn existing_otel");
    let mut child = KillOnDrop(child);
    let stdout = child.0.stdout.take().unwrap();
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = Arc::clone(&lines);
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let addr = loop {
        let found = lines.lock().unwrap().iter().find_map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).ok()?;
            (v["message"] == "listening").then(|| v["addr"].as_str().unwrap().to_owned())
        });
        if let Some(a) = found {
            break a;
        }
        assert!(
            Instant::now() < deadline,
            "no `listening` line: {:?}",
            lines.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let url = |p: &str| format!("http://{addr}{p}");
    let http = reqwest::Client::new();

    let own = http.get(url("/health")).send().await.unwrap();
    assert_eq!(own.status(), 200);
    assert_eq!(own.text().await.unwrap(), "the service's own health\n");
    let pulse: serde_json::Value = http
        .get(url("/ops/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(pulse["status"], "healthy", "{pulse}");
    let scrape = http.get(url("/ops/metrics")).send().await.unwrap();
    assert_eq!(scrape.status(), 200);
    assert_eq!(http.get(url("/hello")).send().await.unwrap().status(), 200);

    // The aggregator folds once a second: wait for the service's one request to show.
    let deadline = Instant::now() + Duration::from_secs(10);
    let m = loop {
        let m: serde_json::Value = http
            .get(url("/ops/health/metrics?window=1m"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if m["routes"]["/hello"]["requests"] == 1 && m["routes"]["/ops/metrics"]["requests"] == 1 {
            break m;
        }
        assert!(Instant::now() < deadline, "requests never showed: {m}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // Only /hello is the service's traffic; the nested pulsecheck routes are monitoring.
    assert_eq!(m["requests"], 1, "{m}");
    for r in ["/ops/health", "/ops/metrics"] {
        assert_eq!(m["routes"][r]["monitoring"], true, "{r}: {m}");
    }
    assert!(m["routes"]["/hello"].get("monitoring").is_none(), "{m}");

    // SIGTERM: serve drains and returns, the example then shuts its own provider down.
    let started = Instant::now();
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(child.0.id() as i32, libc::SIGTERM) }, 0);
    let status = loop {
        if let Some(s) = child.0.try_wait().unwrap() {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "still running after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status}");
}
