//! Alerts end to end in one process: a dependency goes down, the background engine fires
//! `PulsecheckDependencyDown`, the endpoints and `/metrics` show it, the listener hears it
//! once; the dependency comes back and the alert resolves.

use std::borrow::Cow;
use std::io::Write as _;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pulsecheck::Pulse;
use pulsecheck::alert::notify::{Dispatcher, RetryPolicy, WebhookNotifier};
use pulsecheck::alert::{AlertEvent, EventState};
use pulsecheck::config::AlertSettings;
use pulsecheck::config::PulseConfig;
use pulsecheck::health::{Check, CheckError, CheckExt, Observation};
use serde_json::Value;

#[derive(Clone)]
struct Switch {
    name: &'static str,
    failing: Arc<AtomicBool>,
}

impl Check for Switch {
    fn name(&self) -> Cow<'static, str> {
        self.name.into()
    }
    async fn check(&self) -> Result<Observation, CheckError> {
        if self.failing.load(Ordering::SeqCst) {
            Err(CheckError::new("connection refused"))
        } else {
            Ok(Observation::pass())
        }
    }
}

struct App {
    base: String,
    db: Arc<AtomicBool>,
    cache: Arc<AtomicBool>,
    events: Arc<Mutex<Vec<AlertEvent>>>,
    client: reqwest::Client,
}

async fn app() -> App {
    app_with(None).await
}

async fn app_with(dispatcher: Option<Dispatcher>) -> App {
    let db = Arc::new(AtomicBool::new(false));
    let cache = Arc::new(AtomicBool::new(false));
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&events);
    let config = PulseConfig {
        alerts: AlertSettings {
            interval: Duration::from_millis(100),
            pending_for: Duration::from_millis(300),
            keep_firing_for: Duration::from_millis(500),
            ..AlertSettings::default()
        },
        ..PulseConfig::default()
    };
    let fast = |s: Switch| {
        s.ttl(Duration::from_millis(100))
            .failure_ttl(Duration::from_millis(100))
            .without_breaker()
    };
    let mut builder = Pulse::builder().without_telemetry();
    if let Some(d) = dispatcher {
        builder = builder.notifications(d);
    }
    let pulse = builder
        .config(config)
        .check(
            fast(Switch {
                name: "db",
                failing: Arc::clone(&db),
            })
            .critical(),
        )
        .check(
            fast(Switch {
                name: "cache",
                failing: Arc::clone(&cache),
            })
            .non_critical(),
        )
        .on_alert(move |e| sink.lock().unwrap().push(e.clone()))
        .build()
        .unwrap();
    let router: axum::Router = pulse.routes().layer(pulse.layer());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    App {
        base: format!("http://{addr}"),
        db,
        cache,
        events,
        client: reqwest::Client::new(),
    }
}

impl App {
    async fn get(&self, path: &str) -> (u16, String) {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    async fn json(&self, path: &str) -> Value {
        let (status, body) = self.get(path).await;
        assert_eq!(status, 200, "{path}: {body}");
        serde_json::from_str(&body).unwrap()
    }

    fn events_for(&self, check: &str) -> Vec<AlertEvent> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| {
                e.alert.name == "PulsecheckDependencyDown"
                    && e.alert.labels.get("check").map(String::as_str) == Some(check)
            })
            .cloned()
            .collect()
    }

    async fn wait_for(&self, what: &str, mut f: impl FnMut(&App) -> bool) {
        let start = Instant::now();
        while !f(self) {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "timed out waiting for {what}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn find<'a>(alerts: &'a Value, name: &str, check: &str) -> Option<&'a Value> {
    alerts["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == name && a["labels"]["check"] == check)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dependency_down_fires_shows_everywhere_and_resolves() {
    let app = app().await;
    // Healthy: no alerts; the status screen is ok.
    app.wait_for("first evaluation with results", |_| true)
        .await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let alerts = app.json("/health/alerts").await;
    assert!(alerts["alerts"].as_array().unwrap().is_empty(), "{alerts}");
    assert_eq!(alerts["thresholds"]["for_s"], 0.3);
    assert!(alerts["evaluations"].as_u64().unwrap() >= 1);
    assert_eq!(app.json("/health/status").await["status"], "ok");

    // The critical dependency fails: pending, then firing after `for`, notified once.
    app.db.store(true, Ordering::SeqCst);
    app.cache.store(true, Ordering::SeqCst);
    app.wait_for("db alert firing", |a| !a.events_for("db").is_empty())
        .await;
    let ev = app.events_for("db");
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].state, EventState::Firing);
    assert!(ev[0].alert.severity.is_urgent());
    assert!(
        ev[0].alert.summary.contains("connection refused"),
        "{}",
        ev[0].alert.summary
    );
    app.wait_for("cache alert firing", |a| !a.events_for("cache").is_empty())
        .await;

    let alerts = app.json("/health/alerts?status=firing").await;
    let db = find(&alerts, "PulsecheckDependencyDown", "db").expect("db alert listed");
    assert_eq!(db["severity"], "critical");
    assert_eq!(db["status"], "firing");
    assert!(db["since"].as_str().unwrap().ends_with('Z'));
    // `value` counts failed checks: the summary names the unit, with the same number.
    let failures = db["value"].as_f64().expect("value") as u64;
    assert!(failures >= 1, "{db}");
    let summary = db["summary"].as_str().unwrap();
    let unit = if failures == 1 {
        "(1 failed check)".to_owned()
    } else {
        format!("({failures} consecutive failed checks)")
    };
    assert!(summary.ends_with(&unit), "{summary}");
    // The incident began when the alert went pending, `for` (0.3 s) before it fired.
    let pending =
        humantime::parse_rfc3339(db["pending_since"].as_str().expect("pending_since")).unwrap();
    let fired = humantime::parse_rfc3339(db["fired_at"].as_str().unwrap()).unwrap();
    assert!(
        fired.duration_since(pending).unwrap() >= Duration::from_millis(300),
        "{db}"
    );
    let cache = find(&alerts, "PulsecheckDependencyDown", "cache").expect("cache alert listed");
    assert_eq!(cache["severity"], "warning");
    // Firing, most severe first.
    assert_eq!(alerts["alerts"][0]["labels"]["check"], "db");

    let status = app.json("/health/status").await;
    assert_eq!(status["status"], "critical", "{status}");
    assert_eq!(status["health"]["checks"]["db"], "down");
    assert!(status["alerts"]["firing"].as_u64().unwrap() >= 2);

    let (code, metrics) = app.get("/metrics").await;
    assert_eq!(code, 200);
    assert!(
        metrics.contains(
            "pulsecheck_alerts{alertname=\"PulsecheckDependencyDown\",alertstate=\"firing\",severity=\"critical\",check=\"db\"} 1"
        ),
        "{metrics}"
    );
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian's prometheus package; scripts/test.sh installs it)");
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(metrics.as_bytes())
        .unwrap();
    let out = promtool.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Back: resolved after keep_firing_for, one notification each way.
    app.db.store(false, Ordering::SeqCst);
    app.wait_for("db alert resolved", |a| a.events_for("db").len() == 2)
        .await;
    let ev = app.events_for("db");
    assert_eq!(ev[1].state, EventState::Resolved);
    assert_eq!(ev[1].fingerprint, ev[0].fingerprint);
    let alerts = app.json("/health/alerts?status=resolved").await;
    assert!(
        find(&alerts, "PulsecheckDependencyDown", "db").is_some(),
        "{alerts}"
    );
    let history = &app.json("/health/alerts?history=500").await["history"];
    let db_states: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["labels"]["check"] == "db")
        .map(|h| h["state"].as_str().unwrap())
        .collect();
    assert_eq!(db_states, ["pending", "firing", "resolved"]);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(app.events_for("db").len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_query_parameters_are_refused_clearly() {
    let app = app().await;
    let (code, body) = app.get("/health/alerts?status=burning").await;
    assert_eq!(code, 400);
    assert!(body.contains("firing, pending, resolved"), "{body}");
    let (code, body) = app.get("/health/alerts?history=lots").await;
    assert_eq!(code, 400, "{body}");
}

/// A webhook receiver on loopback: records each JSON body, or (hanging) accepts and never
/// answers.
async fn receiver(hang: bool) -> (String, Arc<Mutex<Vec<Value>>>) {
    let got = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&got);
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |axum::Json(v): axum::Json<Value>| {
            let sink = Arc::clone(&sink);
            async move {
                sink.lock().unwrap().push(v);
                if hang {
                    std::future::pending::<()>().await;
                }
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/hook"), got)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_reach_a_real_receiver_while_a_hanging_one_delays_nothing() {
    let (good_url, good) = receiver(false).await;
    let (hung_url, hung) = receiver(true).await;
    let dispatcher = Dispatcher::builder()
        .notifier(WebhookNotifier::new(&good_url).unwrap().named("good"))
        .notifier(WebhookNotifier::new(&hung_url).unwrap().named("hung"))
        .retry_policy(RetryPolicy::default().attempt_timeout(Duration::from_secs(30)))
        .build()
        .unwrap();
    let app = app_with(Some(dispatcher)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.db.store(true, Ordering::SeqCst);
    app.wait_for("db alert firing", |a| !a.events_for("db").is_empty())
        .await;
    // The healthy receiver gets the firing notification although the other one hangs.
    let start = Instant::now();
    while !good
        .lock()
        .unwrap()
        .iter()
        .any(|v| v["state"] == "firing" && v["alert"]["labels"]["check"] == "db")
    {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no firing notification"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        !hung.lock().unwrap().is_empty(),
        "the hanging receiver was called"
    );
    // Evaluation and requests go on at their pace while a delivery hangs.
    let before = app.json("/health/alerts").await["evaluations"]
        .as_u64()
        .unwrap();
    let t = Instant::now();
    for _ in 0..20 {
        let (code, _) = app.get("/health/live").await;
        assert_eq!(code, 200);
    }
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "{:?} for 20 probes",
        t.elapsed()
    );
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let after = app.json("/health/alerts").await;
    let evaluated = after["evaluations"].as_u64().unwrap() - before;
    assert!(
        evaluated >= 5,
        "{evaluated} evaluations in ~1 s at a 100 ms interval"
    );
    let stats = after["notifiers"].as_array().unwrap();
    let hung_stats = stats.iter().find(|s| s["name"] == "hung").unwrap();
    assert_eq!(hung_stats["sent"], 0, "{after}");
    // Back: the healthy receiver hears the resolution with the same fingerprint.
    app.db.store(false, Ordering::SeqCst);
    let start = Instant::now();
    loop {
        let got = good.lock().unwrap().clone();
        let db: Vec<&Value> = got
            .iter()
            .filter(|v| v["alert"]["labels"]["check"] == "db")
            .collect();
        if db.iter().any(|v| v["state"] == "resolved") {
            assert_eq!(db.len(), 2, "one notification each way: {db:?}");
            assert_eq!(db[0]["fingerprint"], db[1]["fingerprint"]);
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no resolution: {got:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
