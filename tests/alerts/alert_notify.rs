//! Alert notifiers against real receivers, all on loopback: a local HTTP server standing in
//! for a JSON webhook, Slack and PagerDuty; Debian's `prometheus-alertmanager`; a real SMTP
//! server (Python aiosmtpd). Receivers that fail, throttle or hang must be retried as the
//! policy says and never slow down `submit`.

use support::procs;
use support::smtp as smtp_server;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use pulsecheck::alert::notify::{
    AlertmanagerNotifier, Dispatcher, EmailNotifier, InMemoryNotifier, NotifierStats,
    PagerDutyNotifier, RetryPolicy, SlackNotifier, WebhookNotifier,
};
use pulsecheck::alert::{Alert, AlertEvent, EventState, Severity};
use pulsecheck::health::checks::SmtpCheck;
use serde_json::Value;

// ---------------------------------------------------------------------------------------------
// Helpers

fn alert(name: &str, summary: &str) -> Alert {
    Alert {
        name: name.into(),
        severity: Severity::Critical,
        labels: BTreeMap::from([
            ("route".to_owned(), "/api/courses".to_owned()),
            ("method".to_owned(), "GET".to_owned()),
        ]),
        value: Some(1.8),
        threshold: Some(1.0),
        summary: summary.into(),
        trace_ids: vec!["4bf92f3577b34da6a3ce929d0e0e4736".into()],
    }
}

fn firing(alert: &Alert) -> AlertEvent {
    AlertEvent {
        state: EventState::Firing,
        fingerprint: alert.fingerprint(),
        alert: alert.clone(),
        starts_at: SystemTime::now() - Duration::from_secs(60),
        pending_since: SystemTime::now() - Duration::from_secs(60),
        ends_at: None,
        service: "academy".into(),
    }
}

fn resolved(event: &AlertEvent) -> AlertEvent {
    AlertEvent {
        state: EventState::Resolved,
        ends_at: Some(SystemTime::now()),
        ..event.clone()
    }
}

/// Polls `done` until it holds or `within` passes.
async fn eventually(within: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    done()
}

fn fast_retries(attempts: u32) -> RetryPolicy {
    RetryPolicy::default()
        .max_attempts(attempts)
        .backoff(Duration::from_millis(10), Duration::from_millis(50))
        .attempt_timeout(Duration::from_secs(5))
}

fn stats_of(dispatcher: &Dispatcher, name: &str) -> NotifierStats {
    dispatcher
        .stats()
        .into_iter()
        .find(|s| s.name == name)
        .expect("stats of the notifier")
}

// ---------------------------------------------------------------------------------------------
// A local HTTP receiver

#[derive(Clone, Debug)]
struct Received {
    path: String,
    headers: HeaderMap,
    body: Value,
    at: Instant,
}

/// How the receiver answers the n-th request (0-based).
type Answer = Arc<dyn Fn(usize) -> Response + Send + Sync>;

#[derive(Clone)]
struct Receiver {
    requests: Arc<Mutex<Vec<Received>>>,
    answer: Answer,
}

impl Receiver {
    async fn start(
        answer: impl Fn(usize) -> Response + Send + Sync + 'static,
    ) -> (Self, SocketAddr) {
        let receiver = Self {
            requests: Arc::default(),
            answer: Arc::new(answer),
        };
        let app = Router::new().fallback(record).with_state(receiver.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            axum::serve(listener, app).await.expect("serve");
        });
        (receiver, addr)
    }

    async fn ok() -> (Self, SocketAddr) {
        Self::start(|_| StatusCode::OK.into_response()).await
    }

    fn requests(&self) -> Vec<Received> {
        self.requests.lock().unwrap().clone()
    }

    fn count(&self) -> usize {
        self.requests.lock().unwrap().len()
    }
}

async fn record(
    State(receiver): State<Receiver>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let n = {
        let mut requests = receiver.requests.lock().unwrap();
        requests.push(Received {
            path: uri.path().to_owned(),
            headers,
            body,
            at: Instant::now(),
        });
        requests.len() - 1
    };
    (receiver.answer)(n)
}

/// Accepts connections and never answers; counts them.
async fn hanging_receiver() -> (Arc<AtomicUsize>, SocketAddr) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&accepted);
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            held.push(socket);
        }
    });
    (accepted, addr)
}

/// Every string in a JSON value.
fn strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|v| strings(v, out)),
        Value::Object(o) => o.values().for_each(|v| strings(v, out)),
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------------
// Webhook, Slack, PagerDuty payloads

#[tokio::test]
async fn webhook_posts_the_event_as_json_with_its_bearer_token() {
    let (receiver, addr) = Receiver::ok().await;
    let hook = WebhookNotifier::new(&format!("http://{addr}/hooks/alerts?key=abc"))
        .unwrap()
        .bearer_token("t0ken")
        .unwrap();
    let dispatcher = Dispatcher::builder().notifier(hook).build().unwrap();
    let a = alert("PulsecheckLatencyP95Critical", "P95 is 1.8 s");
    dispatcher.submit(firing(&a));
    assert!(eventually(Duration::from_secs(10), || receiver.count() == 1).await);

    let got = &receiver.requests()[0];
    assert_eq!(got.path, "/hooks/alerts");
    assert_eq!(got.headers["authorization"], "Bearer t0ken");
    assert_eq!(got.headers["content-type"], "application/json");
    assert_eq!(got.body["state"], "firing");
    assert_eq!(got.body["fingerprint"], a.fingerprint());
    assert_eq!(got.body["service"], "academy");
    assert_eq!(got.body["alert"]["name"], "PulsecheckLatencyP95Critical");
    assert_eq!(got.body["alert"]["severity"], "critical");
    assert_eq!(got.body["alert"]["labels"]["route"], "/api/courses");
    assert_eq!(got.body["alert"]["value"], 1.8);
    assert!(got.body["ends_at"].is_null());
    assert!(got.body["starts_at"].as_str().unwrap().ends_with('Z'));
    dispatcher.shutdown(Duration::from_secs(5)).await;
    assert_eq!(stats_of(&dispatcher, "webhook").sent, 1);
}

#[tokio::test]
async fn slack_gets_escaped_text_and_blocks_within_its_limits() {
    let (receiver, addr) = Receiver::ok().await;
    let slack =
        SlackNotifier::new(&format!("http://{addr}/services/T000/B000/SECRETPATH")).unwrap();
    assert!(!format!("{slack:?}").contains("SECRETPATH"));
    let dispatcher = Dispatcher::builder().notifier(slack).build().unwrap();

    let huge = format!("<script>&{}", "é".repeat(10_000));
    let mut a = alert("Latency<b>&", &huge);
    for i in 0..40 {
        a.labels.insert(format!("label{i:02}"), format!("<v{i}>"));
    }
    dispatcher.submit(firing(&a));
    dispatcher.submit(resolved(&firing(&a)));
    assert!(eventually(Duration::from_secs(10), || receiver.count() == 2).await);

    let requests = receiver.requests();
    let fire = &requests[0].body;
    assert_eq!(requests[0].path, "/services/T000/B000/SECRETPATH");
    let text = fire["text"].as_str().unwrap();
    assert!(
        text.starts_with("[FIRING] Latency&lt;b&gt;&amp; (critical): &lt;script&gt;&amp;"),
        "{text}"
    );
    assert!(text.chars().count() <= 3000);

    let blocks = fire["blocks"].as_array().unwrap();
    assert!(!blocks.is_empty() && blocks.len() <= 50);
    assert!(
        blocks[0]["text"]["text"]
            .as_str()
            .unwrap()
            .contains("*[FIRING] Latency&lt;b&gt;&amp;*")
    );
    let summary = blocks[1]["text"]["text"].as_str().unwrap();
    assert!(
        summary.starts_with("&lt;script&gt;&amp;éé"),
        "{}",
        &summary[..40]
    );
    assert_eq!(summary.chars().count(), 3000);
    assert!(summary.ends_with('…'));
    for block in blocks {
        assert!(["section", "context"].contains(&block["type"].as_str().unwrap()));
        if let Some(t) = block["text"]["text"].as_str() {
            assert!(t.chars().count() <= 3000);
        }
        if let Some(fields) = block["fields"].as_array() {
            assert!(fields.len() <= 10, "{}", fields.len());
            for f in fields {
                assert_eq!(f["type"], "mrkdwn");
                assert!(f["text"].as_str().unwrap().chars().count() <= 2000);
            }
        }
    }
    let mut all = Vec::new();
    strings(fire, &mut all);
    for s in &all {
        assert!(
            !s.contains('<') && !s.contains('>'),
            "unescaped markup in {s:.80}"
        );
    }
    assert!(
        all.iter()
            .any(|s| s.contains("4bf92f3577b34da6a3ce929d0e0e4736"))
    );
    let resolve = &requests[1].body;
    assert!(resolve["text"].as_str().unwrap().starts_with("[RESOLVED] "));
    dispatcher.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn pagerduty_trigger_and_resolve_share_the_dedup_key() {
    let (receiver, addr) = Receiver::start(|_| {
        (
            StatusCode::ACCEPTED,
            r#"{"status":"success","message":"Event processed"}"#,
        )
            .into_response()
    })
    .await;
    let key = "R0UT1NGK3Y0123456789abcdef012345";
    let pd = PagerDutyNotifier::new(key)
        .unwrap()
        .base_url(&format!("http://{addr}"))
        .unwrap()
        .trace_link("http://grafana.local/explore?traceId={trace_id}");
    let dispatcher = Dispatcher::builder().notifier(pd).build().unwrap();

    let a = alert("PulsecheckDependencyDown", &"x".repeat(5000));
    let fire = firing(&a);
    dispatcher.submit(fire.clone());
    dispatcher.submit(resolved(&fire));
    assert!(eventually(Duration::from_secs(10), || receiver.count() == 2).await);

    let requests = receiver.requests();
    let (trigger, resolve) = (&requests[0].body, &requests[1].body);
    assert_eq!(requests[0].path, "/v2/enqueue");
    assert_eq!(trigger["event_action"], "trigger");
    assert_eq!(resolve["event_action"], "resolve");
    assert_eq!(trigger["routing_key"], key);
    assert_eq!(resolve["routing_key"], key);
    assert_eq!(trigger["dedup_key"], a.fingerprint());
    assert_eq!(resolve["dedup_key"], trigger["dedup_key"]);
    let payload = &trigger["payload"];
    assert_eq!(payload["severity"], "error");
    assert_eq!(payload["source"], "academy");
    assert_eq!(payload["class"], "PulsecheckDependencyDown");
    assert_eq!(payload["summary"].as_str().unwrap().chars().count(), 1024);
    assert_eq!(payload["custom_details"]["labels"]["route"], "/api/courses");
    assert_eq!(payload["custom_details"]["threshold"], 1.0);
    assert_eq!(
        trigger["links"][0]["href"],
        "http://grafana.local/explore?traceId=4bf92f3577b34da6a3ce929d0e0e4736"
    );
    assert!(resolve.get("payload").is_none());
    dispatcher.shutdown(Duration::from_secs(5)).await;
    assert_eq!(stats_of(&dispatcher, "pagerduty").sent, 2);
}

// ---------------------------------------------------------------------------------------------
// A real Alertmanager

struct Alertmanager {
    child: Child,
    dir: PathBuf,
    port: u16,
}

impl Alertmanager {
    fn start() -> Self {
        let port = procs::free_port();
        let dir = std::env::temp_dir().join(format!("pulsecheck-am-{}-{port}", std::process::id()));
        std::fs::create_dir_all(dir.join("data")).unwrap();
        std::fs::write(
            dir.join("alertmanager.yml"),
            "route:\n  receiver: blackhole\nreceivers:\n  - name: blackhole\n",
        )
        .unwrap();
        let child = Command::new("prometheus-alertmanager")
            .arg(format!(
                "--config.file={}",
                dir.join("alertmanager.yml").display()
            ))
            .arg(format!("--storage.path={}", dir.join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=")
            .arg("--log.level=warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("prometheus-alertmanager is installed (scripts/test.sh installs it)");
        assert!(
            procs::wait_for_port(port, Duration::from_secs(30)),
            "prometheus-alertmanager did not start"
        );
        Self { child, dir, port }
    }

    async fn active_alerts(&self, name: &str) -> Vec<Value> {
        let url = format!(
            "http://127.0.0.1:{}/api/v2/alerts?active=true&filter=alertname%3D%22{name}%22",
            self.port
        );
        let response = reqwest::get(&url).await.expect("GET /api/v2/alerts");
        assert!(response.status().is_success(), "{}", response.status());
        response.json().await.expect("alerts JSON")
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test]
async fn alertmanager_lists_the_firing_alert_then_drops_it_when_resolved() {
    let am = Alertmanager::start();
    let notifier = AlertmanagerNotifier::new(&format!("http://127.0.0.1:{}", am.port))
        .unwrap()
        .generator_url("http://academy.local/health/alerts");
    let dispatcher = Dispatcher::builder()
        .notifier(notifier)
        .retry_policy(fast_retries(20))
        .build()
        .unwrap();

    let mut a = alert(
        "PulsecheckErrorRateCritical",
        "5xx rate is 12 % (budget 5 %)",
    );
    a.labels
        .insert("http.route".into(), "/api/enrollments".into());
    let fire = firing(&a);
    dispatcher.submit(fire.clone());
    assert!(
        eventually(Duration::from_secs(15), || stats_of(
            &dispatcher,
            "alertmanager"
        )
        .sent
            == 1)
        .await
    );

    let listed = am.active_alerts("PulsecheckErrorRateCritical").await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    let got = &listed[0];
    assert_eq!(got["labels"]["alertname"], "PulsecheckErrorRateCritical");
    assert_eq!(got["labels"]["severity"], "critical");
    assert_eq!(got["labels"]["service"], "academy");
    assert_eq!(got["labels"]["route"], "/api/courses");
    assert_eq!(got["labels"]["http_route"], "/api/enrollments");
    assert_eq!(
        got["annotations"]["summary"],
        "5xx rate is 12 % (budget 5 %)"
    );
    assert_eq!(got["annotations"]["value"], "1.8");
    assert_eq!(got["annotations"]["threshold"], "1");
    assert_eq!(
        got["annotations"]["trace_ids"],
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
    assert_eq!(got["status"]["state"], "active");
    assert_eq!(got["generatorURL"], "http://academy.local/health/alerts");
    // endsAt about four resend intervals (4 min) ahead, as Prometheus does.
    let ends = humantime::parse_rfc3339(got["endsAt"].as_str().unwrap()).unwrap();
    let ahead = ends.duration_since(SystemTime::now()).unwrap_or_default();
    assert!(
        ahead > Duration::from_secs(200) && ahead <= Duration::from_secs(241),
        "{ahead:?}"
    );

    dispatcher.submit(resolved(&fire));
    assert!(
        eventually(Duration::from_secs(15), || stats_of(
            &dispatcher,
            "alertmanager"
        )
        .sent
            == 2)
        .await
    );
    let listed = am.active_alerts("PulsecheckErrorRateCritical").await;
    assert!(listed.is_empty(), "still active after resolve: {listed:?}");
    dispatcher.shutdown(Duration::from_secs(5)).await;
}

// ---------------------------------------------------------------------------------------------
// A real SMTP server

#[tokio::test]
async fn email_reaches_a_real_smtp_server_with_subject_and_recipients() {
    let server = smtp_server::SmtpServer::start(smtp_server::SmtpOptions::default());
    let smtp = SmtpCheck::from_url(&format!("smtp://127.0.0.1:{}?tls=none", server.port)).unwrap();
    let email = EmailNotifier::new(
        smtp,
        "Academy alerts <alerts@academy.example>",
        "oncall@example.com, SRE <sre@example.com>",
    )
    .unwrap();
    let dispatcher = Dispatcher::builder()
        .notifier(email)
        .retry_policy(fast_retries(3))
        .build()
        .unwrap();
    let a = alert(
        "PulsecheckDependencyDown",
        "postgres is down: connection refused",
    );
    let fire = firing(&a);
    dispatcher.submit(fire.clone());
    dispatcher.submit(resolved(&fire));
    assert!(
        eventually(Duration::from_secs(15), || stats_of(&dispatcher, "email")
            .sent
            == 2)
        .await
    );

    let messages: Vec<Value> = server
        .events()
        .iter()
        .filter_map(|e| e.strip_prefix("MESSAGE "))
        .map(|m| serde_json::from_str(m).unwrap())
        .collect();
    assert_eq!(messages.len(), 2, "{:?}", server.events());
    let first = &messages[0];
    assert_eq!(
        first["subject"],
        "[FIRING] critical: PulsecheckDependencyDown (academy)"
    );
    assert_eq!(first["from"], "alerts@academy.example");
    assert_eq!(
        first["to"],
        serde_json::json!(["oncall@example.com", "sre@example.com"])
    );
    let body = first["body"].as_str().unwrap();
    assert!(
        body.starts_with("postgres is down: connection refused"),
        "{body}"
    );
    assert!(body.contains("Label:       route=/api/courses"), "{body}");
    assert!(
        body.contains(&format!("Fingerprint: {}", a.fingerprint())),
        "{body}"
    );
    assert!(
        first["headers"]["Content-Type"]
            .as_str()
            .unwrap()
            .starts_with("text/plain")
    );
    assert_eq!(
        messages[1]["subject"],
        "[RESOLVED] critical: PulsecheckDependencyDown (academy)"
    );
    dispatcher.shutdown(Duration::from_secs(5)).await;
}

// ---------------------------------------------------------------------------------------------
// Failing, throttling and hanging receivers

#[tokio::test]
async fn a_receiver_answering_500_is_retried_then_given_up() {
    let (receiver, addr) =
        Receiver::start(|_| (StatusCode::INTERNAL_SERVER_ERROR, "boom").into_response()).await;
    let dispatcher = Dispatcher::builder()
        .notifier(WebhookNotifier::new(&format!("http://{addr}/")).unwrap())
        .retry_policy(fast_retries(3))
        .build()
        .unwrap();
    dispatcher.submit(firing(&alert("A", "s")));
    assert!(
        eventually(Duration::from_secs(10), || stats_of(&dispatcher, "webhook")
            .failed
            == 1)
        .await
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(receiver.count(), 3, "three attempts");
    let stats = stats_of(&dispatcher, "webhook");
    assert_eq!(
        (stats.sent, stats.failed, stats.retries, stats.dropped),
        (0, 1, 2, 0)
    );
    dispatcher.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_permanent_error_is_not_retried() {
    let (receiver, addr) =
        Receiver::start(|_| (StatusCode::NOT_FOUND, "no_service").into_response()).await;
    let dispatcher = Dispatcher::builder()
        .notifier(SlackNotifier::new(&format!("http://{addr}/services/x")).unwrap())
        .retry_policy(fast_retries(5))
        .build()
        .unwrap();
    dispatcher.submit(firing(&alert("A", "s")));
    assert!(
        eventually(Duration::from_secs(10), || stats_of(&dispatcher, "slack")
            .failed
            == 1)
        .await
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(receiver.count(), 1);
    assert_eq!(stats_of(&dispatcher, "slack").retries, 0);
    dispatcher.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_429_with_retry_after_is_retried_after_the_wait() {
    let (receiver, addr) = Receiver::start(|n| {
        if n == 0 {
            (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", "1")],
                "slow down",
            )
                .into_response()
        } else {
            StatusCode::OK.into_response()
        }
    })
    .await;
    let dispatcher = Dispatcher::builder()
        .notifier(WebhookNotifier::new(&format!("http://{addr}/")).unwrap())
        .retry_policy(fast_retries(3))
        .build()
        .unwrap();
    dispatcher.submit(firing(&alert("A", "s")));
    assert!(
        eventually(Duration::from_secs(10), || stats_of(&dispatcher, "webhook")
            .sent
            == 1)
        .await
    );
    let requests = receiver.requests();
    assert_eq!(requests.len(), 2);
    let gap = requests[1].at - requests[0].at;
    // The backoff alone would be at most 10 ms.
    assert!(gap >= Duration::from_millis(950), "retried after {gap:?}");
    let stats = stats_of(&dispatcher, "webhook");
    assert_eq!((stats.sent, stats.failed, stats.retries), (1, 0, 1));
    dispatcher.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_hanging_receiver_delays_neither_submit_nor_other_notifiers() {
    let (accepted, addr) = hanging_receiver().await;
    let memory = InMemoryNotifier::new("memory");
    let dispatcher = Dispatcher::builder()
        .notifier(WebhookNotifier::new(&format!("http://{addr}/")).unwrap())
        .notifier(memory.clone())
        .queue_capacity(2000)
        .retry_policy(
            RetryPolicy::default()
                .max_attempts(2)
                .backoff(Duration::from_millis(10), Duration::from_millis(10))
                .attempt_timeout(Duration::from_millis(300)),
        )
        .build()
        .unwrap();

    let events: Vec<AlertEvent> = (0..1000)
        .map(|i| firing(&alert(&format!("Alert{i}"), "s")))
        .collect();
    let started = Instant::now();
    for event in events {
        dispatcher.submit(event);
    }
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(500),
        "1000 submits took {took:?}"
    );

    assert!(
        eventually(Duration::from_secs(10), || memory.events().len() == 1000).await,
        "the healthy notifier got {} of 1000",
        memory.events().len()
    );
    // The first event: two attempts of 300 ms each, then given up.
    assert!(
        eventually(Duration::from_secs(5), || stats_of(&dispatcher, "webhook")
            .failed
            >= 1)
        .await
    );
    let stats = stats_of(&dispatcher, "webhook");
    assert!(stats.retries >= 1 && stats.sent == 0, "{stats:?}");
    assert!(accepted.load(Ordering::SeqCst) >= 2);

    let started = Instant::now();
    dispatcher.shutdown(Duration::from_millis(500)).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "shutdown took {:?}",
        started.elapsed()
    );
    // After shutdown, events are dropped and counted.
    dispatcher.submit(firing(&alert("Late", "s")));
    assert_eq!(stats_of(&dispatcher, "memory").dropped, 1);
}

#[tokio::test]
async fn a_full_queue_drops_and_counts() {
    let (_accepted, addr) = hanging_receiver().await;
    let dispatcher = Dispatcher::builder()
        .notifier(WebhookNotifier::new(&format!("http://{addr}/")).unwrap())
        .queue_capacity(4)
        .retry_policy(fast_retries(1).attempt_timeout(Duration::from_secs(30)))
        .build()
        .unwrap();
    dispatcher.submit(firing(&alert("First", "s")));
    // Let the worker take the first one off the queue and hang on it.
    tokio::time::sleep(Duration::from_millis(200)).await;
    for i in 0..100 {
        dispatcher.submit(firing(&alert(&format!("A{i}"), "s")));
    }
    let stats = stats_of(&dispatcher, "webhook");
    assert_eq!(stats.queued, 4, "{stats:?}");
    assert_eq!(stats.dropped, 96, "{stats:?}");
    dispatcher.shutdown(Duration::from_millis(100)).await;
}

// ---------------------------------------------------------------------------------------------
// Order, repeats, shutdown

#[tokio::test]
async fn firing_alerts_repeat_until_resolved_and_order_holds() {
    let memory = InMemoryNotifier::new("memory").repeat_every(Duration::from_millis(200));
    let once = InMemoryNotifier::new("once");
    let dispatcher = Dispatcher::builder()
        .notifier(memory.clone())
        .notifier(once.clone())
        .repeat_interval(None)
        .build()
        .unwrap();
    let fire = firing(&alert("A", "s"));
    dispatcher.submit(fire.clone());
    tokio::time::sleep(Duration::from_millis(750)).await;
    let so_far = memory.events();
    assert!((3..=5).contains(&so_far.len()), "{} sends", so_far.len());
    assert!(so_far.iter().all(|e| e.state == EventState::Firing));

    dispatcher.submit(resolved(&fire));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let at_resolve = memory.events().len();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let all = memory.events();
    assert_eq!(
        all.len(),
        at_resolve,
        "repeats continued after the resolution"
    );
    assert_eq!(all.last().map(|e| e.state), Some(EventState::Resolved));

    let states: Vec<EventState> = once.events().iter().map(|e| e.state).collect();
    assert_eq!(states, [EventState::Firing, EventState::Resolved]);
    dispatcher.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_resolve_never_overtakes_its_trigger_under_retries() {
    // The trigger fails twice with 503, the resolve succeeds at once: still trigger first.
    let (receiver, addr) = Receiver::start(|n| {
        if n < 2 {
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        } else {
            StatusCode::ACCEPTED.into_response()
        }
    })
    .await;
    let pd = PagerDutyNotifier::new("key")
        .unwrap()
        .base_url(&format!("http://{addr}"))
        .unwrap();
    let dispatcher = Dispatcher::builder()
        .notifier(pd)
        .retry_policy(fast_retries(5))
        .build()
        .unwrap();
    let fire = firing(&alert("A", "s"));
    dispatcher.submit(fire.clone());
    dispatcher.submit(resolved(&fire));
    assert!(eventually(Duration::from_secs(10), || receiver.count() == 4).await);
    let actions: Vec<Value> = receiver
        .requests()
        .iter()
        .map(|r| r.body["event_action"].clone())
        .collect();
    assert_eq!(actions, ["trigger", "trigger", "trigger", "resolve"]);
    dispatcher.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn shutdown_flushes_what_is_queued() {
    let (receiver, addr) = Receiver::start(|_| {
        std::thread::sleep(Duration::from_millis(20));
        StatusCode::OK.into_response()
    })
    .await;
    let dispatcher = Dispatcher::builder()
        .notifier(WebhookNotifier::new(&format!("http://{addr}/")).unwrap())
        .build()
        .unwrap();
    for i in 0..20 {
        dispatcher.submit(firing(&alert(&format!("A{i}"), "s")));
    }
    dispatcher.shutdown(Duration::from_secs(10)).await;
    assert_eq!(receiver.count(), 20);
    let names: Vec<String> = receiver
        .requests()
        .iter()
        .map(|r| r.body["alert"]["name"].as_str().unwrap().to_owned())
        .collect();
    let expected: Vec<String> = (0..20).map(|i| format!("A{i}")).collect();
    assert_eq!(names, expected, "in submission order");
}

#[tokio::test]
async fn outcomes_are_counted_as_opentelemetry_metrics() {
    use opentelemetry::KeyValue;
    use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
    use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};

    let exporter = InMemoryMetricExporter::default();
    let provider = SdkMeterProvider::builder()
        .with_reader(PeriodicReader::builder(exporter.clone()).build())
        .build();
    opentelemetry::global::set_meter_provider(provider.clone());

    let (_ok, ok_addr) = Receiver::ok().await;
    let (_bad, bad_addr) = Receiver::start(|_| StatusCode::BAD_GATEWAY.into_response()).await;
    let dispatcher = Dispatcher::builder()
        .notifier(
            WebhookNotifier::new(&format!("http://{ok_addr}/"))
                .unwrap()
                .named("good"),
        )
        .notifier(
            WebhookNotifier::new(&format!("http://{bad_addr}/"))
                .unwrap()
                .named("bad"),
        )
        .retry_policy(fast_retries(2))
        .build()
        .unwrap();
    dispatcher.submit(firing(&alert("A", "s")));
    dispatcher.shutdown(Duration::from_secs(5)).await;
    provider.force_flush().expect("flush");

    let mut points = Vec::new();
    for rm in exporter.get_finished_metrics().expect("metrics") {
        for sm in rm.scope_metrics() {
            for m in sm.metrics() {
                if let AggregatedMetrics::U64(MetricData::Sum(s)) = m.data() {
                    for p in s.data_points() {
                        let mut attrs: Vec<KeyValue> = p.attributes().cloned().collect();
                        attrs.sort_by(|a, b| a.key.as_str().cmp(b.key.as_str()));
                        points.push((m.name().to_owned(), attrs, p.value()));
                    }
                }
            }
        }
    }
    let find = |name: &str, attrs: &[(&'static str, &'static str)]| {
        points.iter().find_map(|(n, a, v)| {
            let want: Vec<KeyValue> = attrs.iter().map(|(k, v)| KeyValue::new(*k, *v)).collect();
            (n == name && *a == want).then_some(*v)
        })
    };
    assert_eq!(
        find(
            "pulsecheck.alert.notifications",
            &[("notifier", "good"), ("outcome", "sent")]
        ),
        Some(1),
        "{points:?}"
    );
    assert_eq!(
        find(
            "pulsecheck.alert.notifications",
            &[("notifier", "bad"), ("outcome", "failed")]
        ),
        Some(1),
        "{points:?}"
    );
    assert_eq!(
        find(
            "pulsecheck.alert.notification.retries",
            &[("notifier", "bad")]
        ),
        Some(1),
        "{points:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Secrets

/// Everything logged, for the secrets test.
#[derive(Clone, Default)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn secrets_stay_out_of_logs_errors_and_debug() {
    let logs = LogBuffer::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    // current_thread: the delivery tasks run on this thread, under this subscriber.
    let _guard = tracing::subscriber::set_default(subscriber);

    let (_failing, addr) =
        Receiver::start(|_| (StatusCode::BAD_REQUEST, "invalid event").into_response()).await;
    let (_hung, hung) = hanging_receiver().await;
    let slack = SlackNotifier::new(&format!("http://{addr}/services/T0/B0/SLACKSECRET")).unwrap();
    let pd = PagerDutyNotifier::new("ROUTINGSECRET")
        .unwrap()
        .base_url(&format!("http://{addr}"))
        .unwrap();
    let hook = WebhookNotifier::new(&format!(
        "http://user:PASSSECRET@{hung}/h?token=QUERYSECRET"
    ))
    .unwrap()
    .bearer_token("TOKENSECRET")
    .unwrap();
    // Nothing listens on port 1: connection refused, retried, given up.
    let refused = WebhookNotifier::new("http://127.0.0.1:1/x/PATHSECRET")
        .unwrap()
        .named("refused");
    let email = EmailNotifier::new(
        SmtpCheck::from_url("smtp://u:SMTPSECRET@127.0.0.1:1?tls=none").unwrap(),
        "a@b.c",
        "d@e.f",
    )
    .unwrap();
    let debug = format!("{slack:?} {pd:?} {hook:?} {refused:?} {email:?}");
    let dispatcher = Dispatcher::builder()
        .notifier(slack)
        .notifier(pd)
        .notifier(hook)
        .notifier(refused)
        .notifier(email)
        .retry_policy(fast_retries(2).attempt_timeout(Duration::from_millis(300)))
        .build()
        .unwrap();
    dispatcher.submit(firing(&alert("A", "s")));
    assert!(
        eventually(Duration::from_secs(10), || dispatcher
            .stats()
            .iter()
            .all(|s| s.failed == 1))
        .await,
        "{:?}",
        dispatcher.stats()
    );
    dispatcher.shutdown(Duration::from_secs(1)).await;

    let logged = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(logged.contains("giving up"), "{logged}");
    assert!(logged.contains("HTTP 400"), "{logged}");
    let everything = format!("{logged}\n{debug}\n{dispatcher:?}");
    for secret in [
        "SLACKSECRET",
        "ROUTINGSECRET",
        "PASSSECRET",
        "QUERYSECRET",
        "TOKENSECRET",
        "PATHSECRET",
        "SMTPSECRET",
    ] {
        assert!(
            !everything.contains(secret),
            "{secret} leaked:\n{everything}"
        );
    }
}
