//! Monitoring traffic against the real academy process: probes, scrapes and the dashboard's
//! polling are shown per route, marked, and left out of the service-wide figures, budgets and
//! SLOs, so an idle service stays idle and a real error rate is not diluted; with
//! `count_monitoring` they count again.

use std::time::{Duration, Instant};

use serde_json::Value;
use support::academy::Academy;

/// A configuration file for one academy process, removed with the guard.
struct ConfigFile(std::path::PathBuf);

impl ConfigFile {
    fn new(name: &str, toml: &str) -> Self {
        let path = std::env::temp_dir().join(format!(
            "pulsecheck-monitoring-{name}-{}.toml",
            std::process::id()
        ));
        std::fs::write(&path, toml).unwrap();
        Self(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for ConfigFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

async fn get(client: &reqwest::Client, app: &Academy, path: &str) -> u16 {
    client
        .get(app.url(path))
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"))
        .status()
        .as_u16()
}

/// Polls the 1 m window until `ready` holds (the ticker folds once a second).
async fn metrics_when(app: &Academy, what: &str, ready: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let m = app.get_json("/health/metrics?window=1m").await;
        if ready(&m) {
            return m;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; last /health/metrics: {m}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn route_requests(m: &Value, route: &str) -> u64 {
    m["routes"][route]["requests"].as_u64().unwrap_or(0)
}

/// 20+ health curls and /metrics scrapes on an idle service: the service-wide figures stay
/// at 0 requests, the budgets healthy and the SLO untouched. Before, they were the service's
/// only traffic: 100 % of its requests, and its error rate whenever a check failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_and_scrapes_leave_an_idle_service_idle() {
    let config = ConfigFile::new(
        "idle",
        "[budgets]\nmin_requests = 5\n[[slo]]\nname = \"availability\"\nobjective = 0.99\nkind = \"availability\"\n",
    );
    let mut app = Academy::spawn(&[("PULSE_CONFIG", config.path())]);
    let client = reqwest::Client::new();
    let mut health_statuses = Vec::new();
    for _ in 0..25 {
        health_statuses.push(get(&client, &app, "/health").await);
        assert_eq!(get(&client, &app, "/health/live").await, 200);
        assert_eq!(get(&client, &app, "/health/ready").await, 200);
        assert_eq!(get(&client, &app, "/metrics").await, 200);
    }
    for _ in 0..5 {
        assert_eq!(get(&client, &app, "/health/status").await, 200);
        assert_eq!(get(&client, &app, "/health/dashboard").await, 200);
    }
    let m = metrics_when(&app, "the probes to be folded", |m| {
        route_requests(m, "/health") == 25
            && route_requests(m, "/metrics") == 25
            && route_requests(m, "/health/dashboard") == 5
    })
    .await;
    assert_eq!(m["requests"], 0, "probes counted as service traffic: {m}");
    assert_eq!(m["errors"], 0);
    assert_eq!(m["throughput_rpm"], 0.0);
    assert_eq!(m["monitoring_counted"], false);
    assert!(m["monitoring_requests"].as_u64().unwrap() >= 110, "{m}");
    for route in [
        "/health",
        "/health/live",
        "/health/ready",
        "/metrics",
        "/health/status",
    ] {
        assert_eq!(m["routes"][route]["monitoring"], true, "{route}: {m}");
    }
    // Still visible per route, with their own status codes.
    let failed_health = health_statuses.iter().filter(|s| **s >= 500).count() as u64;
    assert_eq!(m["routes"]["/health"]["errors"], failed_health);

    let budget = app.get_json("/health/budget").await;
    assert_eq!(budget["status"], "healthy", "{budget}");
    assert_eq!(budget["requests"], 0, "{budget}");
    for line in budget["budgets"].as_array().unwrap() {
        assert_eq!(line["status"], "ok", "{line}");
    }
    let slo = &budget["slos"][0];
    assert_eq!(slo["requests"], 0, "{slo}");
    assert!(slo["alert"].is_null(), "{slo}");
    let alerts = app.get_json("/health/alerts").await;
    let firing_budget: Vec<&Value> = alerts["alerts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| {
            let name = a["name"].as_str().unwrap_or("");
            name.contains("Latency") || name.contains("ErrorRate") || name.contains("Slo")
        })
        .collect();
    assert!(firing_budget.is_empty(), "{alerts}");
    app.terminate();
}

/// A real 10 % API error rate while probes and scrapes run beside it: reported as 10 %.
/// Before, every probe diluted it (here to about 5 %).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_error_rate_is_not_diluted_by_probes() {
    let mut app = Academy::spawn(&[]);
    let client = reqwest::Client::new();
    for i in 0..100 {
        let status = if i % 10 == 0 { 500 } else { 200 };
        let path = format!("/api/simulate?status={status}");
        assert_eq!(get(&client, &app, &path).await, status);
        assert_eq!(get(&client, &app, "/health/live").await, 200);
        assert_eq!(get(&client, &app, "/metrics").await, 200);
    }
    let m = metrics_when(&app, "the API requests to be folded", |m| {
        route_requests(m, "/api/simulate") == 100 && route_requests(m, "/metrics") == 100
    })
    .await;
    assert_eq!(m["requests"], 100, "{m}");
    assert_eq!(m["errors"], 10, "{m}");
    assert_eq!(m["error_rate"], 0.1, "{m}");
    assert_eq!(m["status_codes"]["500"], 10);
    assert_eq!(m["status_codes"]["200"], 90);
    assert!(m["routes"]["/api/simulate"].get("monitoring").is_none());
    let budget = app.get_json("/health/budget").await;
    let error_line = budget["budgets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == "error_rate" && l.get("route").is_none())
        .unwrap();
    assert_eq!(error_line["value"], 0.1, "{budget}");
    app.terminate();
}

/// `count_monitoring = true`: the same probes count in the service-wide figures again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn count_monitoring_counts_them() {
    let config = ConfigFile::new("count", "[monitoring]\ncount_monitoring = true\n");
    let mut app = Academy::spawn(&[("PULSE_CONFIG", config.path())]);
    let client = reqwest::Client::new();
    for _ in 0..20 {
        assert_eq!(get(&client, &app, "/health/live").await, 200);
        assert_eq!(get(&client, &app, "/metrics").await, 200);
    }
    for _ in 0..10 {
        assert_eq!(get(&client, &app, "/api/simulate").await, 200);
    }
    let m = metrics_when(&app, "the requests to be folded", |m| {
        route_requests(m, "/health/live") == 20 && route_requests(m, "/api/simulate") == 10
    })
    .await;
    assert_eq!(m["monitoring_counted"], true);
    let per_route: u64 = m["routes"]
        .as_object()
        .unwrap()
        .values()
        .map(|r| r["requests"].as_u64().unwrap())
        .sum();
    assert_eq!(m["requests"].as_u64().unwrap(), per_route, "{m}");
    assert!(per_route >= 50, "{m}");
    assert_eq!(m["routes"]["/health/live"]["monitoring"], true);
    app.terminate();
}

/// A path of the service's own added to `[monitoring] exclude` is treated like pulsecheck's
/// endpoints; a path that is not a route template stops start-up naming the field.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_listed_paths_are_monitoring_too() {
    let config = ConfigFile::new("exclude", "[monitoring]\nexclude = [\"/api/simulate\"]\n");
    let mut app = Academy::spawn(&[("PULSE_CONFIG", config.path())]);
    let client = reqwest::Client::new();
    for _ in 0..10 {
        assert_eq!(get(&client, &app, "/api/simulate?status=503").await, 503);
    }
    let m = metrics_when(&app, "the requests to be folded", |m| {
        route_requests(m, "/api/simulate") == 10
    })
    .await;
    assert_eq!(m["requests"], 0, "{m}");
    assert_eq!(m["routes"]["/api/simulate"]["monitoring"], true);
    assert_eq!(m["routes"]["/api/simulate"]["errors"], 10);
    app.terminate();

    let bad = ConfigFile::new("bad", "[monitoring]\nexclude = [\"ping\"]\n");
    let (status, out) = Academy::run_to_exit(&[("PULSE_CONFIG", bad.path())]);
    assert!(!status.success(), "{out}");
    assert!(out.contains("monitoring.exclude[0]"), "{out}");
}
