//! Prometheus Alertmanager: `POST /api/v2/alerts`, refreshed while firing like Prometheus does.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, SystemTime};

use http::HeaderMap;
use reqwest::Url;
use serde_json::{Value, json};

use super::http::{client, join, origin, parse_url, post_json};
use super::{Notifier, NotifyConfigError, NotifyError, NotifyFuture};
use crate::alert::{AlertEvent, EventState};

/// How often a firing alert is sent again (Prometheus' `--rules.alert.resend-delay`).
const RESEND_DEFAULT: Duration = Duration::from_secs(60);
/// `endsAt` of a firing alert is this many resend intervals ahead, as Prometheus sets it:
/// Alertmanager resolves the alert by itself if three refreshes in a row are lost.
const RESENDS_AHEAD: u32 = 4;

/// Posts alerts to a Prometheus Alertmanager (`POST {url}/api/v2/alerts`), which then
/// groups, silences, inhibits and routes them with the rest of a team's alerts.
///
/// Labels: `alertname`, `severity`, `service`, plus the alert's own labels (names made
/// Prometheus-safe, empty values left out; the first three win a clash). Annotations:
/// `summary`, `value`, `threshold`, `trace_ids` (comma-separated), `fingerprint`,
/// `pending_since` (when the condition began; `startsAt` is when it fired).
///
/// A firing alert is sent with `endsAt` = now + 4 × the resend interval and sent again
/// every resend interval (1 minute by default; [`Notifier::repeat_interval`]), as Prometheus
/// does: Alertmanager resolves an alert whose `endsAt` passed, so it stays open only while
/// this process keeps it alive, and resolves on its own if the process dies. A resolution
/// is sent with `endsAt` = when it resolved.
///
/// Name `alertmanager`. Environment: `PULSE_ALERTMANAGER_URL` (`http://alertmanager:9093`).
///
/// ```
/// use std::time::Duration;
/// use pulsecheck::alert::notify::{AlertmanagerNotifier, Notifier};
///
/// # fn demo() -> Result<(), pulsecheck::alert::notify::NotifyConfigError> {
/// let am = AlertmanagerNotifier::new("http://alertmanager:9093")?
///     .generator_url("http://academy:8080/health/alerts");
/// assert_eq!(am.repeat_interval(), Some(Duration::from_secs(60)));
/// # Ok(()) }
/// # demo().unwrap();
/// ```
pub struct AlertmanagerNotifier {
    alerts: Url,
    shown: String,
    resend: Duration,
    generator_url: Option<String>,
    client: reqwest::Client,
}

impl AlertmanagerNotifier {
    /// Posts to the Alertmanager at `url` (its root, possibly with a path prefix).
    pub fn new(url: &str) -> Result<Self, NotifyConfigError> {
        let base = parse_url("Alertmanager URL", url)?;
        Ok(Self {
            alerts: join(&base, "/api/v2/alerts"),
            shown: origin(&base),
            resend: RESEND_DEFAULT,
            generator_url: None,
            client: client("alertmanager")?,
        })
    }

    /// How often a firing alert is sent again; `endsAt` is 4 intervals ahead. Keep it well
    /// under Alertmanager's `resolve_timeout`. Defaults to 1 minute.
    pub fn resend_interval(mut self, every: Duration) -> Self {
        if !every.is_zero() {
            self.resend = every;
        }
        self
    }

    /// The `generatorURL` of every alert: where a human sees it (this service's
    /// `/health/alerts`). Defaults to none.
    pub fn generator_url(mut self, url: impl Into<String>) -> Self {
        self.generator_url = Some(url.into());
        self
    }

    /// The body for `event`, as of `now`.
    pub(crate) fn payload(&self, event: &AlertEvent, now: SystemTime) -> Value {
        let alert = &event.alert;
        let mut labels = BTreeMap::new();
        for (k, v) in &alert.labels {
            if !v.is_empty() {
                labels.insert(label_name(k), v.clone());
            }
        }
        labels.insert("alertname".to_owned(), alert.name.clone());
        labels.insert("severity".to_owned(), alert.severity.as_str().to_owned());
        labels.insert("service".to_owned(), event.service.clone());

        let mut annotations = BTreeMap::new();
        if !alert.summary.is_empty() {
            annotations.insert("summary", alert.summary.clone());
        }
        if let Some(v) = alert.value {
            annotations.insert("value", v.to_string());
        }
        if let Some(t) = alert.threshold {
            annotations.insert("threshold", t.to_string());
        }
        if !alert.trace_ids.is_empty() {
            annotations.insert("trace_ids", alert.trace_ids.join(","));
        }
        annotations.insert("fingerprint", event.fingerprint.clone());
        // `startsAt` is when it fired; when the condition began is worth keeping too.
        annotations.insert("pending_since", crate::rfc3339::format(event.pending_since));

        let ends_at = match (event.state, event.ends_at) {
            (EventState::Firing, _) => now + self.resend * RESENDS_AHEAD,
            (_, Some(ended)) => ended,
            (_, None) => now,
        };
        let mut body = json!({
            "labels": labels,
            "annotations": annotations,
            "startsAt": humantime::format_rfc3339_millis(event.starts_at).to_string(),
            "endsAt": humantime::format_rfc3339_millis(ends_at).to_string(),
        });
        if let Some(url) = &self.generator_url {
            body["generatorURL"] = url.clone().into();
        }
        json!([body])
    }
}

/// A Prometheus label name: `[a-zA-Z_][a-zA-Z0-9_]*`, anything else becomes `_`.
fn label_name(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

impl Notifier for AlertmanagerNotifier {
    fn name(&self) -> &str {
        "alertmanager"
    }

    fn send<'a>(&'a self, event: &'a AlertEvent) -> NotifyFuture<'a> {
        Box::pin(async move {
            let body = serde_json::to_vec(&self.payload(event, SystemTime::now()))
                .map_err(NotifyError::permanent)?;
            post_json(
                &self.client,
                &self.alerts,
                &self.shown,
                HeaderMap::new(),
                body,
            )
            .await
        })
    }

    fn repeat_interval(&self) -> Option<Duration> {
        Some(self.resend)
    }
}

impl fmt::Debug for AlertmanagerNotifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AlertmanagerNotifier")
            .field("receiver", &self.shown)
            .field("resend", &self.resend)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::{Alert, Severity};

    #[test]
    fn labels_are_prometheus_safe_and_fixed_ones_win() {
        assert_eq!(label_name("http.route"), "http_route");
        assert_eq!(label_name("9lives"), "_9lives");
        assert_eq!(label_name(""), "_");
        let alert = Alert {
            name: "A".into(),
            severity: Severity::Warning,
            labels: [
                ("alertname".to_owned(), "other".to_owned()),
                ("empty".to_owned(), String::new()),
                ("route".to_owned(), "/x".to_owned()),
            ]
            .into(),
            value: None,
            threshold: None,
            summary: String::new(),
            trace_ids: vec![],
        };
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let event = AlertEvent {
            state: EventState::Firing,
            fingerprint: alert.fingerprint(),
            alert,
            starts_at: now,
            pending_since: now,
            ends_at: None,
            service: "svc".into(),
        };
        let am = AlertmanagerNotifier::new("http://am:9093").unwrap();
        let body = am.payload(&event, now);
        assert_eq!(
            body[0]["labels"],
            json!({"alertname": "A", "route": "/x", "severity": "warning", "service": "svc"})
        );
        assert_eq!(body[0]["endsAt"], "1970-01-12T13:50:40.000Z");
    }
}
