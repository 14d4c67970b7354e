//! Time to detect, measured against the real academy binary: a private `redis-server`
//! SIGKILLed under traffic and idle (to `/health`, polled every 50 ms), its restart, and
//! error and latency bursts from `/api/simulate` (to `/health/budget` and to a firing alert).
//! Each test prints what it measured (`--no-capture`); README's "Time to detect" table
//! quotes these figures. The bounds asserted are the generous "must" figures of the issue,
//! not the targets.

use support::procs;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use procs::RedisServer;
use serde_json::Value;
use support::academy::Academy;

const POLL: Duration = Duration::from_millis(50);

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

async fn json(http: &reqwest::Client, url: &str) -> Value {
    match http.get(url).send().await {
        Ok(r) => r.json().await.unwrap_or(Value::Null),
        Err(_) => Value::Null,
    }
}

/// Polls `/health` every 50 ms until the `redis` check satisfies `done`; how long it took.
async fn until_redis(
    app: &Academy,
    within: Duration,
    done: impl Fn(&Value) -> bool,
) -> Option<Duration> {
    let http = client();
    let url = app.url("/health");
    let start = Instant::now();
    while start.elapsed() < within {
        let h = json(&http, &url).await;
        if done(&h["checks"]["redis"]) {
            return Some(start.elapsed());
        }
        tokio::time::sleep(POLL).await;
    }
    None
}

/// `rate` requests a second to `path` (each in its own task, so a slow one does not slow
/// the rate) until the returned flag is set; the second value counts the requests sent.
fn traffic(app: &Academy, path: &str, rate: u32) -> (Arc<AtomicBool>, Arc<AtomicU64>) {
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let url = app.url(path);
    let (s, n) = (Arc::clone(&stop), Arc::clone(&sent));
    tokio::spawn(async move {
        let http = client();
        let mut tick = tokio::time::interval(Duration::from_secs(1) / rate);
        while !s.load(Ordering::Relaxed) {
            tick.tick().await;
            let (http, url) = (http.clone(), url.clone());
            n.fetch_add(1, Ordering::Relaxed);
            tokio::spawn(async move {
                let _ = http.get(url).send().await;
            });
        }
    });
    (stop, sent)
}

fn redis_warnings(app: &Academy) -> usize {
    app.json_lines()
        .iter()
        .filter(|l| {
            l["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("redis failed") || m.starts_with("redis timed out"))
        })
        .count()
}

fn breaker_openings(app: &Academy) -> usize {
    app.json_lines()
        .iter()
        .filter(|l| l["message"] == "circuit breaker opened" && l["breaker"] == "redis")
        .count()
}

fn academy_with(redis: &RedisServer) -> Academy {
    Academy::spawn(&[("REDIS_URL", &redis.url())])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_under_traffic_shows_down_within_a_second_and_recovers() {
    let mut redis = RedisServer::start();
    let app = academy_with(&redis);
    let up = |r: &Value| r["status"] == "up" && r["circuit"] == "closed";
    assert!(
        until_redis(&app, Duration::from_secs(15), up)
            .await
            .is_some(),
        "redis check never came up"
    );
    let (stop, _) = traffic(&app, "/api/courses", 10);
    tokio::time::sleep(Duration::from_secs(2)).await;

    redis.kill();
    let down = until_redis(&app, Duration::from_secs(5), |r| r["status"] == "down").await;
    eprintln!("time to detect: redis SIGKILLed under 10 req/s -> /health down after {down:?}");
    assert!(
        down.is_some_and(|d| d <= Duration::from_secs(2)),
        "redis down shown after {down:?}, must be within 2 s"
    );

    // The breaker opens on the requests' failures; from then on requests skip Redis: no
    // warning per request, one log line for the transition.
    let open = until_redis(&app, Duration::from_secs(5), |r| r["circuit"] == "open").await;
    eprintln!("redis breaker open after a further {open:?}");
    assert!(
        open.is_some(),
        "the redis breaker did not open under traffic"
    );
    let warnings = redis_warnings(&app);
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let courses = client()
        .get(app.url("/api/courses"))
        .send()
        .await
        .expect("courses answer with Redis down");
    assert!(courses.status().is_success(), "{}", courses.status());
    let later = redis_warnings(&app);
    eprintln!(
        "redis warnings during {:?} of traffic with the breaker open: {} (before the breaker opened: {warnings})",
        started.elapsed(),
        later - warnings
    );
    assert_eq!(
        later, warnings,
        "requests kept logging Redis failures with the breaker open"
    );
    assert_eq!(breaker_openings(&app), 1, "one log line for the opening");

    redis.restart();
    let back = until_redis(&app, Duration::from_secs(30), up).await;
    eprintln!(
        "time to recover: redis restarted under traffic -> /health up after {back:?} (open wait 10 s + probe interval 10 s)"
    );
    stop.store(true, Ordering::Relaxed);
    assert!(
        back.is_some_and(|d| d <= Duration::from_secs(25)),
        "redis recovery shown after {back:?}, must be within open wait + interval (+5 s)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_while_idle_shows_down_within_the_probe_interval() {
    let mut redis = RedisServer::start();
    let app = academy_with(&redis);
    let up = |r: &Value| r["status"] == "up";
    assert!(
        until_redis(&app, Duration::from_secs(15), up)
            .await
            .is_some(),
        "redis check never came up"
    );
    // Right after the first probe: close to the worst case (a full interval to wait).
    redis.kill();
    let down = until_redis(&app, Duration::from_secs(20), |r| r["status"] == "down").await;
    eprintln!("time to detect: redis SIGKILLed, no traffic -> /health down after {down:?}");
    assert!(
        down.is_some_and(|d| d <= Duration::from_secs(15)),
        "idle redis down shown after {down:?}, must be within 15 s"
    );
    redis.restart();
    let back = until_redis(&app, Duration::from_secs(40), up).await;
    eprintln!("time to recover: redis restarted, no traffic -> /health up after {back:?}");
    assert!(
        back.is_some_and(|d| d <= Duration::from_secs(25)),
        "idle recovery shown after {back:?}, must be within open wait + interval (+5 s)"
    );
}

/// From the start of a burst on `/api/simulate?{query}` to a non-healthy `/health/budget`
/// and to a firing alert whose name contains `alert`.
async fn burst(query: &str, alert: &str, envs: &[(&str, &str)]) -> (Duration, Duration) {
    let app = Academy::spawn(envs);
    let http = client();
    let start = Instant::now();
    let (stop, _) = traffic(&app, &format!("/api/simulate?{query}"), 20);
    let (mut budget_at, mut alert_at) = (None, None);
    while start.elapsed() < Duration::from_secs(120) && (budget_at.is_none() || alert_at.is_none())
    {
        if budget_at.is_none() {
            let b = json(&http, &app.url("/health/budget")).await;
            let status = b["status"].as_str().unwrap_or("");
            if status == "warning" || status == "critical" {
                budget_at = Some(start.elapsed());
            }
        }
        if alert_at.is_none() {
            let a = json(&http, &app.url("/health/alerts")).await;
            let firing = a["alerts"].as_array().is_some_and(|list| {
                list.iter().any(|x| {
                    x["status"] == "firing" && x["name"].as_str().is_some_and(|n| n.contains(alert))
                })
            });
            if firing {
                alert_at = Some(start.elapsed());
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.store(true, Ordering::Relaxed);
    (
        budget_at.expect("the budget never left healthy"),
        alert_at.unwrap_or_else(|| panic!("no {alert} alert fired within 120 s")),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_burst_to_budget_and_firing_alert() {
    let (budget, alert) = burst("status=500", "ErrorRate", &[]).await;
    eprintln!(
        "time to detect: 100 % errors at 20 req/s -> budget {budget:?}, firing alert {alert:?} (defaults: alert interval 5 s, for 30 s)"
    );
    assert!(budget <= Duration::from_secs(5), "budget after {budget:?}");
    assert!(alert <= Duration::from_secs(60), "alert after {alert:?}");
    let (budget, alert) = burst(
        "status=500",
        "ErrorRate",
        &[("PULSE_ALERT_FOR", "0s"), ("PULSE_ALERT_INTERVAL", "1s")],
    )
    .await;
    eprintln!(
        "time to detect: 100 % errors at 20 req/s -> budget {budget:?}, firing alert {alert:?} (PULSE_ALERT_FOR=0s, PULSE_ALERT_INTERVAL=1s)"
    );
    assert!(alert <= Duration::from_secs(10), "alert after {alert:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_burst_to_budget_and_firing_alert() {
    let (budget, alert) = burst("latency_ms=1500", "Latency", &[]).await;
    eprintln!(
        "time to detect: 1.5 s responses at 20 req/s (P95 budget 1 s) -> budget {budget:?}, firing alert {alert:?} (defaults: alert interval 5 s, for 30 s)"
    );
    assert!(budget <= Duration::from_secs(10), "budget after {budget:?}");
    assert!(alert <= Duration::from_secs(60), "alert after {alert:?}");
    let (budget, alert) = burst(
        "latency_ms=1500",
        "Latency",
        &[("PULSE_ALERT_FOR", "0s"), ("PULSE_ALERT_INTERVAL", "1s")],
    )
    .await;
    eprintln!(
        "time to detect: 1.5 s responses at 20 req/s -> budget {budget:?}, firing alert {alert:?} (PULSE_ALERT_FOR=0s, PULSE_ALERT_INTERVAL=1s)"
    );
    assert!(alert <= Duration::from_secs(12), "alert after {alert:?}");
}
