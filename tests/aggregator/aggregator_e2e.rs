//! End to end through the academy example: a known mix of `/api/simulate` latencies and
//! statuses gives the expected percentiles and error rate at `/health/metrics`, and the
//! budgets at `/health/budget`.

use std::time::Duration;

use support::academy::Academy;
use support::otlp::wait_for;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn known_mix_gives_expected_percentiles_and_error_rate() {
    let mut app = Academy::spawn(&[("PULSE_BUDGET_MIN_REQUESTS", "10")]);
    let client = reqwest::Client::new();
    // 100 requests: 50 at 10 ms, 40 at 50 ms, 9 at 200 ms, 1 at 400 ms; 5 of the 50 ms ones
    // answer 500 and 3 of the 10 ms ones 404.
    let mut plan = Vec::new();
    plan.extend((0..50).map(|i| (10, if i < 3 { 404 } else { 200 })));
    plan.extend((0..40).map(|i| (50, if i < 5 { 500 } else { 200 })));
    plan.extend((0..9).map(|_| (200, 200)));
    plan.push((400, 200));
    let mut tasks = Vec::new();
    for chunk in plan.chunks(10) {
        let chunk = chunk.to_vec();
        let client = client.clone();
        let base = app.url("/api/simulate");
        tasks.push(tokio::spawn(async move {
            for (ms, status) in chunk {
                let r = client
                    .get(format!("{base}?latency_ms={ms}&status={status}"))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status().as_u16(), status);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }

    let url = app.url("/health/metrics?window=1m&route=/api/simulate");
    let body: serde_json::Value = wait_for(
        "100 requests in the 1m window",
        Duration::from_secs(10),
        || {
            let body: serde_json::Value = reqwest::blocking_get_json(&url)?;
            (body["metrics"]["requests"] == 100).then_some(body)
        },
    )
    .await;
    let m = &body["metrics"];
    let lat = &m["latency_ms"];
    let p = |k: &str| lat[k].as_f64().unwrap();
    // Each percentile must come from the right group. Sleeps overshoot by a scheduling delay
    // (a debug build on a busy 2-core machine: tens of ms), never undershoot, and the layout
    // is within 1.6 %: so the band is [group, next group).
    assert!((9.8..50.0).contains(&p("p50")), "p50 {}", p("p50"));
    assert!((196.0..400.0).contains(&p("p95")), "p95 {}", p("p95"));
    assert!((196.0..400.0).contains(&p("p99")), "p99 {}", p("p99"));
    assert!(p("max") >= 393.0, "max {}", p("max"));
    assert!(p("min") >= 9.8 && p("min") < 50.0, "min {}", p("min"));
    assert_eq!(m["errors"], 5);
    assert_eq!(m["error_rate"], 0.05);
    assert_eq!(m["status_codes"]["500"], 5);
    assert_eq!(m["status_codes"]["404"], 3);
    assert_eq!(m["status_codes"]["200"], 92);
    assert_eq!(m["status_classes"]["4xx"], 3);
    assert_eq!(
        m["slowest"][0]["duration_ms"].as_f64().map(|d| d >= 393.0),
        Some(true)
    );
    assert_eq!(m["slowest"][0]["trace_id"].as_str().map(str::len), Some(32));
    // Up to 4 failures are kept per shard and second; all 5 land unless one shard got 5.
    let failures = m["recent_failures"].as_array().unwrap();
    assert!((4..=5).contains(&failures.len()), "{failures:?}");
    assert!(
        failures
            .iter()
            .all(|t| t.as_str().is_some_and(|t| t.len() == 32))
    );

    // The whole service over 5 m includes the same requests; the route map has the template.
    let all: serde_json::Value = app.get_json("/health/metrics").await;
    assert_eq!(all["window"], "5m");
    assert!(all["requests"].as_u64().unwrap() >= 100);
    assert_eq!(all["routes"]["/api/simulate"]["requests"], 100);

    // Budgets: P95 ~200 ms of 1000 ms, error rate 5 % of 5 % → at the limit, a warning.
    let budget: serde_json::Value = app.get_json("/health/budget").await;
    let line = |name: &str| {
        budget["budgets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["name"] == name && l.get("route").is_none())
            .cloned()
            .unwrap()
    };
    assert_eq!(line("latency_p95_ms")["status"], "ok");
    assert!(line("error_rate")["value"].as_f64().unwrap() > 0.04);
    assert_eq!(line("error_rate")["status"], "warning");
    assert_eq!(budget["status"], "warning");
    assert!(line("memory_mib")["value"].as_f64().unwrap() > 1.0);

    // Bad query input is a clear 400, an unknown route a 404.
    let bad = client
        .get(app.url("/health/metrics?window=2d"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    assert_eq!(bad.headers()["cache-control"], "no-store");
    let unknown = client
        .get(app.url("/health/metrics?route=/nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    // The 404 says which route it looked up: `curl` without `-g` turns `{id}` into `id`, and
    // the answer must show that instead of leaving the caller guessing.
    let body: serde_json::Value = unknown.json().await.unwrap();
    assert_eq!(body["route"], "/nope", "{body}");
    let globbed = client
        .get(app.url("/health/metrics?route=/api/courses/id"))
        .send()
        .await
        .unwrap();
    assert_eq!(globbed.status(), 404);
    let body: serde_json::Value = globbed.json().await.unwrap();
    assert_eq!(body["route"], "/api/courses/id", "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("/api/courses/{id}"),
        "{body}"
    );
    app.terminate();
}

mod reqwest {
    pub use ::reqwest::*;

    /// A blocking GET for use inside a polling closure.
    pub fn blocking_get_json(url: &str) -> Option<serde_json::Value> {
        let url = url.to_owned();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async { ::reqwest::get(&url).await.ok()?.json().await.ok() })
        })
        .join()
        .ok()
        .flatten()
    }
}
