//! The academy example configured only through the environment: a dead Redis fires
//! `PulsecheckDependencyDown`, and the webhook, Slack and PagerDuty notifiers named by
//! `PULSE_*` variables deliver it to local receivers. The admin token guards the alert views.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::Path;
use serde_json::Value;
use support::academy::Academy;

type Inbox = Arc<Mutex<HashMap<String, Vec<Value>>>>;

/// One loopback server for all three receivers: POST /{kind} records the JSON body.
async fn receivers() -> (String, Inbox) {
    let inbox: Inbox = Arc::default();
    let sink = Arc::clone(&inbox);
    let app = axum::Router::new().route(
        "/{*kind}",
        axum::routing::post(move |Path(kind): Path<String>, body: String| {
            let sink = Arc::clone(&sink);
            async move {
                let v: Value = serde_json::from_str(&body).unwrap_or(Value::String(body));
                sink.lock().unwrap().entry(kind).or_default().push(v);
                (axum::http::StatusCode::ACCEPTED, "{}")
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), inbox)
}

const TOKEN: &str = "academy-alerts-admin-token-0123456789";
const ROUTING_KEY: &str = "R0UTINGKEY-do-not-log-0123456789ab";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_redis_pages_through_every_configured_notifier() {
    let (base, inbox) = receivers().await;
    let webhook = format!("{base}/webhook");
    let slack = format!("{base}/slack/T000/B000/XXXXsecretpath");
    let academy = tokio::task::spawn_blocking(move || {
        Academy::spawn(&[
            // Nothing listens on port 1: the check fails at once.
            ("REDIS_URL", "redis://127.0.0.1:1"),
            ("PULSE_ALERT_INTERVAL", "200ms"),
            ("PULSE_ALERT_FOR", "0s"),
            ("PULSE_ADMIN_TOKEN", TOKEN),
            ("PULSE_WEBHOOK_URL", &webhook),
            ("PULSE_SLACK_WEBHOOK_URL", &slack),
            ("PULSE_PAGERDUTY_ROUTING_KEY", ROUTING_KEY),
            ("PULSE_PAGERDUTY_URL", &format!("{base}/pagerduty")),
        ])
    })
    .await
    .unwrap();

    let client = reqwest::Client::new();
    // The alert views need the token.
    let r = client
        .get(academy.url("/health/alerts"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    let start = Instant::now();
    let (hook, slack, pd) = loop {
        let got = inbox.lock().unwrap().clone();
        let hook = got.get("webhook").and_then(|v| {
            v.iter()
                .find(|e| {
                    e["alert"]["name"] == "PulsecheckDependencyDown"
                        && e["alert"]["labels"]["check"] == "redis"
                })
                .cloned()
        });
        let slack = got
            .iter()
            .find(|(k, _)| k.starts_with("slack/"))
            .and_then(|(_, v)| v.first().cloned());
        let pd = got
            .get("pagerduty/v2/enqueue")
            .and_then(|v| v.first().cloned());
        if let (Some(h), Some(s), Some(p)) = (hook, slack, pd) {
            break (h, s, p);
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "not every receiver was notified: {:?}",
            got.keys().collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(hook["state"], "firing");
    assert_eq!(
        hook["alert"]["severity"], "warning",
        "redis is not critical: {hook}"
    );
    assert!(
        slack["text"]
            .as_str()
            .unwrap()
            .contains("PulsecheckDependencyDown"),
        "{slack}"
    );
    assert!(slack["blocks"].is_array());
    assert_eq!(pd["event_action"], "trigger");
    assert_eq!(pd["routing_key"], ROUTING_KEY);
    assert_eq!(pd["dedup_key"], hook["fingerprint"]);

    // With the token, the alert is listed, with the notifiers' counts.
    let alerts: Value = client
        .get(academy.url("/health/alerts"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let listed = alerts["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["name"] == "PulsecheckDependencyDown" && a["status"] == "firing");
    assert!(listed, "{alerts}");
    let names: Vec<&str> = alerts["notifiers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 3, "{names:?}");

    // No secret in the academy's output.
    let log = academy.lines.lock().unwrap().join("\n");
    for secret in [ROUTING_KEY, "XXXXsecretpath", TOKEN] {
        assert!(!log.contains(secret), "{secret} leaked into the log");
    }
}

#[test]
fn a_bad_notifier_variable_stops_start_up_with_a_clear_message() {
    let (status, out) =
        Academy::run_to_exit(&[("PULSE_SLACK_WEBHOOK_URL", "not a url/secretpart")]);
    assert!(!status.success());
    assert!(out.contains("PULSE_SLACK_WEBHOOK_URL"), "{out}");
    assert!(!out.contains("secretpart"), "{out}");
}

/// `OTEL_SERVICE_NAME` renames the service everywhere: operators rename without a rebuild, and
/// an alert must name the service its traces and metrics name (the academy sets a name in
/// code, which the variable overrides).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otel_service_name_names_the_alerts_as_it_names_the_traces() {
    let academy = tokio::task::spawn_blocking(|| {
        Academy::spawn(&[("OTEL_SERVICE_NAME", "academy-renamed-by-ops")])
    })
    .await
    .unwrap();
    let status = academy.get_json("/health/status").await;
    assert_eq!(status["service"], "academy-renamed-by-ops", "{status}");
}
