//! The `system` sampler through `GET /health/system` and its OpenTelemetry gauges: figures
//! agree with what the kernel says about this test process, the sampler keeps its interval,
//! CPU % and open descriptors follow what the process does, and a real PostgreSQL pool shows
//! up under `pools`.

use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use http::{Request, StatusCode};
use http_body_util::BodyExt as _;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData, ResourceMetrics};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use pulsecheck::config::PulseConfig;
use pulsecheck::health::checks::PostgresCheck;
use pulsecheck::health::{HealthConfig, Refresh};
use pulsecheck::{Error, Pulse};
use serde_json::Value;
use tower::ServiceExt as _;

fn pulse(interval: Duration) -> Pulse {
    Pulse::builder()
        .without_telemetry()
        .config(PulseConfig::default())
        .system_interval(interval)
        .build()
        .expect("pulse")
}

async fn system_json(app: &Router) -> Value {
    let resp = app
        .clone()
        .oneshot(
            Request::get("/health/system")
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("response");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    serde_json::from_slice(&bytes).expect("JSON")
}

fn proc_status(key: &str) -> u64 {
    let text = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("{key} in /proc/self/status"))
}

fn num(v: &Value, path: &str) -> f64 {
    v.pointer(path)
        .and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("{path} missing or not a number in {v}"))
}

/// Polls until a sample newer than `after` arrives.
async fn next_sample(app: &Router, after: &str, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let v = system_json(app).await;
        if v["sampled_at"].as_str() != Some(after) {
            return v;
        }
        assert!(Instant::now() < deadline, "no new sample within {within:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn health_system_reports_what_the_kernel_says_about_this_process() {
    let p = pulse(Duration::from_millis(200));
    let app: Router = p.routes();
    let first = system_json(&app).await;
    assert!(
        first["process"]["cpu_percent"].is_null(),
        "CPU % needs two samples: {first}"
    );
    let at = first["sampled_at"].as_str().unwrap_or_default().to_owned();
    let v = next_sample(&app, &at, Duration::from_secs(3)).await;

    let rss = num(&v, "/process/rss_bytes");
    let kernel_rss = (proc_status("VmRSS:") * 1024) as f64;
    assert!(rss > 0.0);
    assert!(
        rss > kernel_rss / 2.0 && rss < kernel_rss * 2.0,
        "rss {rss} vs VmRSS {kernel_rss}"
    );
    let threads = num(&v, "/process/threads");
    assert!(threads >= 1.0, "{v}");
    assert!(threads <= proc_status("Threads:") as f64 + 8.0, "{v}");
    assert!(num(&v, "/process/open_fds") >= 3.0, "{v}");
    assert!(num(&v, "/process/cpu_percent") >= 0.0, "{v}");
    let util = num(&v, "/process/cpu_utilization");
    assert!((0.0..=1.0).contains(&util), "{v}");
    assert!(num(&v, "/process/uptime_s") >= 0.0, "{v}");
    assert!(num(&v, "/process/uptime_s") < 3600.0, "{v}");
    let total = num(&v, "/host/memory_total_bytes");
    let avail = num(&v, "/host/memory_available_bytes");
    assert!(total > 0.0 && avail > 0.0 && avail <= total, "{v}");
    assert!(total >= rss, "{v}");
    for l in ["/host/load_1m", "/host/load_5m", "/host/load_15m"] {
        assert!(num(&v, l) >= 0.0, "{v}");
    }
    assert!(num(&v, "/host/cpus") >= 1.0, "{v}");
    assert_eq!(num(&v, "/interval_s"), 0.2);
    let at = v["sampled_at"].as_str().expect("sampled_at");
    assert!(
        at.len() == 24 && at.ends_with('Z') && at.as_bytes()[10] == b'T',
        "{at}"
    );
    assert_eq!(v["pools"], serde_json::json!({}), "no check reports a pool");
}

#[tokio::test]
async fn the_sampler_keeps_its_interval() {
    let fast = pulse(Duration::from_millis(200));
    let slow = pulse(Duration::from_secs(5));
    let (fast_app, slow_app): (Router, Router) = (fast.routes(), slow.routes());
    let mut fast_seen = std::collections::BTreeSet::new();
    let mut slow_seen = std::collections::BTreeSet::new();
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(3000) {
        fast_seen.insert(system_json(&fast_app).await["sampled_at"].to_string());
        slow_seen.insert(system_json(&slow_app).await["sampled_at"].to_string());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // 3 s at 200 ms: the first sample plus about 15.
    assert!(
        (12..=17).contains(&fast_seen.len()),
        "{} samples at 200 ms in 3 s",
        fast_seen.len()
    );
    // At 5 s: the first sample and the early second one (at 1 s), nothing more within 3 s.
    assert_eq!(slow_seen.len(), 2, "{slow_seen:?}");
}

#[test]
fn pulse_system_interval_comes_from_the_environment_and_code_wins() {
    // nextest runs each test in its own process; nothing else here reads the variable.
    unsafe { std::env::set_var("PULSE_SYSTEM_INTERVAL", "250ms") };
    let from_env = Pulse::builder()
        .without_telemetry()
        .config(PulseConfig::default())
        .build()
        .expect("pulse");
    assert_eq!(from_env.system().interval(), Duration::from_millis(250));
    let from_code = Pulse::builder()
        .without_telemetry()
        .config(PulseConfig::default())
        .system_interval(Duration::from_secs(2))
        .build()
        .expect("pulse");
    assert_eq!(from_code.system().interval(), Duration::from_secs(2));

    unsafe { std::env::set_var("PULSE_SYSTEM_INTERVAL", "soon") };
    let err = Pulse::builder()
        .without_telemetry()
        .config(PulseConfig::default())
        .build()
        .expect_err("an invalid interval");
    assert!(matches!(err, Error::System(_)), "{err:?}");
    assert!(
        err.to_string().contains("PULSE_SYSTEM_INTERVAL=\"soon\""),
        "{err}"
    );

    unsafe { std::env::remove_var("PULSE_SYSTEM_INTERVAL") };
    let default = Pulse::builder()
        .without_telemetry()
        .config(PulseConfig::default())
        .build()
        .expect("pulse");
    assert_eq!(default.system().interval(), Duration::from_secs(30));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cpu_percent_follows_a_busy_thread() {
    let p = pulse(Duration::from_millis(300));
    let app: Router = p.routes();
    // Idle: two full intervals with nothing running.
    let first = system_json(&app).await;
    let at = first["sampled_at"].as_str().unwrap_or_default().to_owned();
    let s = next_sample(&app, &at, Duration::from_secs(3)).await;
    let at = s["sampled_at"].as_str().unwrap_or_default().to_owned();
    let idle = next_sample(&app, &at, Duration::from_secs(3)).await;
    let idle_pct = num(&idle, "/process/cpu_percent");

    // Busy: a thread spinning for 1.2 s; read a sample taken entirely inside the spin.
    let spin = std::thread::spawn(|| {
        let until = Instant::now() + Duration::from_millis(1200);
        let mut x = 0u64;
        while Instant::now() < until {
            x = std::hint::black_box(x.wrapping_add(1));
        }
    });
    tokio::time::sleep(Duration::from_millis(700)).await;
    let busy = system_json(&app).await;
    let busy_pct = num(&busy, "/process/cpu_percent");
    spin.join().expect("spin");
    assert!(
        busy_pct > 10.0 && busy_pct > 2.0 * idle_pct,
        "busy {busy_pct}% vs idle {idle_pct}%"
    );
    // The percentage is the CPU time delta over the sampling interval.
    let cpu = |v: &Value| num(v, "/process/cpu_user_s") + num(v, "/process/cpu_system_s");
    assert!(cpu(&busy) > cpu(&idle), "CPU seconds did not grow");
}

#[tokio::test]
async fn open_fds_follow_the_files_the_process_opens() {
    let p = pulse(Duration::from_millis(150));
    let app: Router = p.routes();
    let before = system_json(&app).await;
    let base = num(&before, "/process/open_fds");
    let files: Vec<std::fs::File> = (0..64)
        .map(|_| std::fs::File::open("/dev/null").expect("open /dev/null"))
        .collect();
    let at = before["sampled_at"].as_str().unwrap_or_default().to_owned();
    let during = next_sample(&app, &at, Duration::from_secs(3)).await;
    let opened = num(&during, "/process/open_fds");
    assert!(opened >= base + 64.0, "{base} -> {opened}");
    drop(files);
    let at = during["sampled_at"].as_str().unwrap_or_default().to_owned();
    let after = next_sample(&app, &at, Duration::from_secs(3)).await;
    assert!(num(&after, "/process/open_fds") <= base + 8.0, "{after}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_postgres_pool_shows_in_pools() {
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(5)
        .connect("postgres://postgres@127.0.0.1:5432/test")
        .await
        .expect("PostgreSQL on 127.0.0.1:5432 (scripts/test.sh starts it)");
    let p = Pulse::builder()
        .without_telemetry()
        .config(PulseConfig::default())
        .system_interval(Duration::from_secs(30))
        .health_config(HealthConfig {
            refresh: Refresh::OnDemand,
            ..HealthConfig::default()
        })
        .check(PostgresCheck::new(pool.clone()))
        .build()
        .expect("pulse");
    // Two connections held by "the application" while the probe runs.
    let held = (
        pool.acquire().await.expect("conn"),
        pool.acquire().await.expect("conn"),
    );
    let _ = p.health().report().await;
    let app: Router = p.routes();
    let v = system_json(&app).await;
    let pools = v["pools"].as_object().expect("pools");
    assert_eq!(pools.len(), 1, "{v}");
    let (_, pg) = pools.iter().next().expect("one pool");
    assert_eq!(pg["pool_size"], 5, "{v}");
    assert_eq!(pg["in_use"], 2, "{v}");
    assert!(pg["open"].as_u64().expect("open") >= 3, "{v}");
    drop(held);
}

fn points(metrics: &[ResourceMetrics], name: &str) -> Vec<(Vec<(String, String)>, f64)> {
    let mut out = Vec::new();
    for rm in metrics {
        for sm in rm.scope_metrics() {
            for m in sm.metrics().filter(|m| m.name() == name) {
                let mut push = |attrs: Vec<(String, String)>, v: f64| out.push((attrs, v));
                let attrs = |a: &mut dyn Iterator<Item = &opentelemetry::KeyValue>| {
                    a.map(|kv| (kv.key.to_string(), kv.value.to_string()))
                        .collect::<Vec<_>>()
                };
                match m.data() {
                    AggregatedMetrics::U64(MetricData::Gauge(g)) => {
                        for p in g.data_points() {
                            push(attrs(&mut p.attributes()), p.value() as f64);
                        }
                    }
                    AggregatedMetrics::F64(MetricData::Gauge(g)) => {
                        for p in g.data_points() {
                            push(attrs(&mut p.attributes()), p.value());
                        }
                    }
                    AggregatedMetrics::F64(MetricData::Sum(s)) => {
                        for p in s.data_points() {
                            push(attrs(&mut p.attributes()), p.value());
                        }
                    }
                    AggregatedMetrics::I64(MetricData::Sum(s)) => {
                        for p in s.data_points() {
                            push(attrs(&mut p.attributes()), p.value() as f64);
                        }
                    }
                    other => panic!("{name}: unexpected data {other:?}"),
                }
            }
        }
    }
    out
}

#[tokio::test]
async fn samples_are_exported_as_otel_semconv_metrics() {
    let exporter = InMemoryMetricExporter::default();
    let provider = SdkMeterProvider::builder()
        .with_reader(PeriodicReader::builder(exporter.clone()).build())
        .build();
    opentelemetry::global::set_meter_provider(provider.clone());
    // A fresh process may not have used one clock tick (10 ms) of CPU yet.
    let until = Instant::now() + Duration::from_millis(100);
    while Instant::now() < until {
        std::hint::black_box(0u64);
    }
    let _p = pulse(Duration::from_millis(200));
    // The second sample carries the first CPU %.
    tokio::time::sleep(Duration::from_millis(400)).await;
    provider.force_flush().expect("flush");
    let metrics = exporter.get_finished_metrics().expect("metrics");
    let one = |name: &str| -> f64 {
        match points(&metrics, name).as_slice() {
            [(_, v)] => *v,
            other => panic!("{name}: {other:?}"),
        }
    };
    assert!(one("process.memory.usage") > 0.0);
    assert!(one("process.thread.count") >= 1.0);
    assert!(one("process.unix.file_descriptor.count") >= 3.0);
    assert!(one("process.uptime") >= 0.0);
    assert!((0.0..=1.0).contains(&one("process.cpu.utilization")));
    let limit = one("system.memory.limit");
    assert!(limit > 0.0);
    assert!(one("system.memory.linux.available") <= limit);
    let usage = points(&metrics, "system.memory.usage");
    let state = |s: &str| {
        usage
            .iter()
            .find(|(a, _)| a.contains(&("system.memory.state".into(), s.into())))
            .map(|(_, v)| *v)
            .unwrap_or_else(|| panic!("state {s} in {usage:?}"))
    };
    assert_eq!(state("used") + state("free"), limit);
    let cpu = points(&metrics, "process.cpu.time");
    assert!(
        cpu.iter()
            .any(|(a, v)| a.contains(&("cpu.mode".into(), "user".into())) && *v > 0.0),
        "{cpu:?}"
    );
    assert_eq!(points(&metrics, "pulsecheck.system.load_average").len(), 3);
}
