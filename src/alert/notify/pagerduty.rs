//! PagerDuty Events API v2: trigger and resolve, deduplicated by the alert's fingerprint.

use std::fmt;

use http::HeaderMap;
use reqwest::Url;
use serde_json::{Map, Value, json};

use super::http::{client, join, origin, parse_url, post_json};
use super::text::truncate_chars;
use super::{Notifier, NotifyConfigError, NotifyError, NotifyFuture};
use crate::alert::{AlertEvent, EventState, Severity};
use crate::redact::Secret;

/// PagerDuty's Events API.
pub(crate) const PAGERDUTY_URL_DEFAULT: &str = "https://events.pagerduty.com";
/// PagerDuty's limit on `payload.summary`.
const SUMMARY_MAX: usize = 1024;

/// Sends Events API v2 events (`POST {url}/v2/enqueue`): `trigger` when an alert fires,
/// `resolve` when it resolves, both with `dedup_key` = [`Alert::fingerprint`], so PagerDuty
/// keeps one incident per alert and a repeat does not open another.
///
/// Severities map to PagerDuty's by urgency: `page` → `critical`, `critical` → `error` (both
/// high urgency under PagerDuty's severity-based rules), `warning` → `warning`, `ticket` →
/// `info`. The payload carries the summary (cut to 1024 characters), `source` = service,
/// `class` = alert name, and the labels, value, threshold and trace ids in `custom_details`;
/// with [`trace_link`](Self::trace_link), links to the example traces.
///
/// The routing key never appears in logs, errors or `Debug`.
///
/// Name `pagerduty`. Environment: `PULSE_PAGERDUTY_ROUTING_KEY`, `PULSE_PAGERDUTY_URL`
/// (defaults to `https://events.pagerduty.com`).
///
/// [`Alert::fingerprint`]: crate::alert::Alert::fingerprint
///
/// ```
/// use pulsecheck::alert::notify::{Notifier, PagerDutyNotifier};
///
/// # fn demo() -> Result<(), pulsecheck::alert::notify::NotifyConfigError> {
/// let pd = PagerDutyNotifier::new("R0UT1NGK3Y")?
///     .trace_link("https://grafana.internal/explore?traceId={trace_id}");
/// assert_eq!(pd.name(), "pagerduty");
/// assert!(!format!("{pd:?}").contains("R0UT1NGK3Y"));
/// # Ok(()) }
/// # demo().unwrap();
/// ```
///
/// [`trace_link`]: Self::trace_link
pub struct PagerDutyNotifier {
    routing_key: Secret,
    enqueue: Url,
    shown: String,
    trace_link: Option<String>,
    client: reqwest::Client,
}

impl PagerDutyNotifier {
    /// Events for the service or ruleset integration with this routing (integration) key.
    pub fn new(routing_key: &str) -> Result<Self, NotifyConfigError> {
        let key = routing_key.trim();
        if key.is_empty() {
            return Err(NotifyConfigError::invalid(
                "PagerDuty routing key",
                "is empty",
            ));
        }
        let base = parse_url("PagerDuty URL", PAGERDUTY_URL_DEFAULT)?;
        Ok(Self {
            routing_key: Secret::new(key),
            enqueue: join(&base, "/v2/enqueue"),
            shown: origin(&base),
            trace_link: None,
            client: client("pagerduty")?,
        })
    }

    /// Another Events API endpoint (a regional one, a proxy, a test server): events go to
    /// `{url}/v2/enqueue`. Defaults to `https://events.pagerduty.com`.
    pub fn base_url(mut self, url: &str) -> Result<Self, NotifyConfigError> {
        let base = parse_url("PagerDuty URL", url)?;
        self.enqueue = join(&base, "/v2/enqueue");
        self.shown = origin(&base);
        Ok(self)
    }

    /// Adds a link per example trace to triggers: `template` with `{trace_id}` replaced
    /// (a Grafana, Jaeger or Tempo URL). Defaults to no links.
    pub fn trace_link(mut self, template: impl Into<String>) -> Self {
        self.trace_link = Some(template.into());
        self
    }

    /// The event for `event`.
    pub(crate) fn payload(&self, event: &AlertEvent) -> Value {
        let alert = &event.alert;
        let mut body = Map::new();
        body.insert("routing_key".into(), self.routing_key.expose().into());
        body.insert("dedup_key".into(), event.fingerprint.clone().into());
        if event.state != EventState::Firing {
            body.insert("event_action".into(), "resolve".into());
            return Value::Object(body);
        }
        body.insert("event_action".into(), "trigger".into());
        let summary = if alert.summary.trim().is_empty() {
            format!("{} on {}", alert.name, event.service)
        } else {
            alert.summary.clone()
        };
        body.insert(
            "payload".into(),
            json!({
                "summary": truncate_chars(&summary, SUMMARY_MAX),
                "source": event.service,
                "severity": severity(alert.severity),
                "timestamp": humantime::format_rfc3339_millis(event.starts_at).to_string(),
                "class": alert.name,
                "custom_details": {
                    "alert": alert.name,
                    "severity": alert.severity.as_str(),
                    "labels": alert.labels,
                    "value": alert.value,
                    "threshold": alert.threshold,
                    "trace_ids": alert.trace_ids,
                    "fingerprint": event.fingerprint,
                },
            }),
        );
        body.insert("client".into(), "pulsecheck".into());
        if let Some(template) = &self.trace_link {
            let links: Vec<Value> = alert
                .trace_ids
                .iter()
                .map(|id| {
                    json!({
                        "href": template.replace("{trace_id}", id),
                        "text": format!("Trace {id}"),
                    })
                })
                .collect();
            body.insert("links".into(), Value::Array(links));
        }
        Value::Object(body)
    }
}

/// PagerDuty's severities, by how urgently a human must act.
fn severity(s: Severity) -> &'static str {
    match s {
        Severity::Page => "critical",
        Severity::Critical => "error",
        Severity::Warning => "warning",
        Severity::Ticket => "info",
    }
}

impl Notifier for PagerDutyNotifier {
    fn name(&self) -> &str {
        "pagerduty"
    }

    fn send<'a>(&'a self, event: &'a AlertEvent) -> NotifyFuture<'a> {
        Box::pin(async move {
            let body = serde_json::to_vec(&self.payload(event)).map_err(NotifyError::permanent)?;
            post_json(
                &self.client,
                &self.enqueue,
                &self.shown,
                HeaderMap::new(),
                body,
            )
            .await
        })
    }
}

impl fmt::Debug for PagerDutyNotifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PagerDutyNotifier")
            .field("routing_key", &self.routing_key)
            .field("receiver", &self.shown)
            .field("trace_link", &self.trace_link.is_some())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severities_follow_urgency() {
        for s in [
            Severity::Page,
            Severity::Critical,
            Severity::Warning,
            Severity::Ticket,
        ] {
            let high = matches!(severity(s), "critical" | "error");
            assert_eq!(high, s.is_urgent(), "{s:?}");
        }
    }

    #[test]
    fn empty_routing_key_is_rejected() {
        assert!(PagerDutyNotifier::new("  ").is_err());
        let err = PagerDutyNotifier::new("k")
            .and_then(|n| n.base_url("nope://x/KEY"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.starts_with("PagerDuty URL: invalid URL"), "{err}");
        assert!(!err.contains("KEY"));
    }
}
