//! Slack incoming webhooks: a text fallback plus Block Kit blocks.

use std::fmt;

use http::HeaderMap;
use reqwest::Url;
use serde_json::{Value, json};

use super::http::{client, origin, parse_url, post_json};
use super::text::slack_escape;
use super::{Notifier, NotifyConfigError, NotifyError, NotifyFuture};
use crate::alert::{AlertEvent, EventState};

/// Slack's limit on a section block's text, in characters.
const SECTION_TEXT_MAX: usize = 3000;
/// Slack's limit on a section field's text.
const FIELD_TEXT_MAX: usize = 2000;
/// Slack's limit on fields per section.
const FIELDS_MAX: usize = 10;
/// Slack's limit on blocks per message.
const BLOCKS_MAX: usize = 50;
/// The notification text shown where blocks are not (push notifications, old clients).
const FALLBACK_TEXT_MAX: usize = 3000;
/// Trace ids shown; the alert carries "a few" anyway.
const TRACE_IDS_MAX: usize = 10;

/// Posts to a Slack incoming webhook: a `text` fallback and `blocks` (a title, the summary,
/// value/threshold/times/labels as fields, example trace ids). Text is escaped as Slack's
/// mrkdwn asks (`&`, `<`, `>`), so alert content cannot mention `@channel` or forge links,
/// and cut on character boundaries to Slack's limits (3000 characters per section, 2000 per
/// field, 50 blocks).
///
/// The webhook URL's path is a secret: logs and `Debug` show `https://hooks.slack.com` only.
///
/// Name `slack`. Environment: `PULSE_SLACK_WEBHOOK_URL`.
///
/// ```
/// use pulsecheck::alert::notify::{Notifier, SlackNotifier};
///
/// # fn demo() -> Result<(), pulsecheck::alert::notify::NotifyConfigError> {
/// let slack = SlackNotifier::new("https://hooks.slack.com/services/T0/B0/XXXX")?;
/// assert_eq!(slack.name(), "slack");
/// assert_eq!(format!("{slack:?}"), r#"SlackNotifier { receiver: "https://hooks.slack.com" }"#);
/// # Ok(()) }
/// # demo().unwrap();
/// ```
pub struct SlackNotifier {
    url: Url,
    shown: String,
    client: reqwest::Client,
}

impl SlackNotifier {
    /// Posts to the incoming webhook `url`.
    pub fn new(webhook_url: &str) -> Result<Self, NotifyConfigError> {
        let url = parse_url("Slack webhook URL", webhook_url)?;
        Ok(Self {
            shown: origin(&url),
            url,
            client: client("slack")?,
        })
    }
}

impl Notifier for SlackNotifier {
    fn name(&self) -> &str {
        "slack"
    }

    fn send<'a>(&'a self, event: &'a AlertEvent) -> NotifyFuture<'a> {
        Box::pin(async move {
            let body = serde_json::to_vec(&payload(event)).map_err(NotifyError::permanent)?;
            post_json(&self.client, &self.url, &self.shown, HeaderMap::new(), body).await
        })
    }
}

impl fmt::Debug for SlackNotifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SlackNotifier")
            .field("receiver", &self.shown)
            .finish()
    }
}

/// The message for `event`.
pub(crate) fn payload(event: &AlertEvent) -> Value {
    let alert = &event.alert;
    let (emoji, state) = match event.state {
        EventState::Firing => (":rotating_light:", "FIRING"),
        EventState::Resolved => (":white_check_mark:", "RESOLVED"),
    };
    let title = format!(
        "{emoji} *[{state}] {}* · {} · {}",
        slack_escape(&alert.name, 1000),
        alert.severity.as_str(),
        slack_escape(&event.service, 500),
    );
    let mut blocks = vec![section(title)];
    if !alert.summary.is_empty() {
        blocks.push(section(slack_escape(&alert.summary, SECTION_TEXT_MAX)));
    }

    let mut fields = Vec::new();
    if let Some(v) = alert.value {
        fields.push(field("Value", &number(v)));
    }
    if let Some(t) = alert.threshold {
        fields.push(field("Threshold", &number(t)));
    }
    fields.push(field(
        "Started",
        &humantime::format_rfc3339_seconds(event.starts_at).to_string(),
    ));
    if let Some(ended) = event.ends_at {
        fields.push(field(
            "Resolved",
            &humantime::format_rfc3339_seconds(ended).to_string(),
        ));
    }
    // One field per label while there is room; the rest share the last field.
    let room = FIELDS_MAX - fields.len();
    let labels: Vec<(&String, &String)> = alert.labels.iter().collect();
    let (own, shared) = if labels.len() <= room {
        (&labels[..], &labels[labels.len()..])
    } else {
        labels.split_at(room - 1)
    };
    for (k, v) in own {
        fields.push(field(k, v));
    }
    if !shared.is_empty() {
        let rest: Vec<String> = shared.iter().map(|(k, v)| format!("{k}={v}")).collect();
        fields.push(field("Labels", &rest.join(", ")));
    }
    blocks.push(json!({"type": "section", "fields": fields}));

    if !alert.trace_ids.is_empty() {
        let ids: Vec<String> = alert
            .trace_ids
            .iter()
            .take(TRACE_IDS_MAX)
            .map(|id| format!("`{}`", slack_escape(id, 64)))
            .collect();
        blocks.push(json!({
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": slack_escape_joined("Example traces: ", &ids)}],
        }));
    }
    blocks.truncate(BLOCKS_MAX);

    let mut fallback = format!("[{state}] {} ({})", alert.name, alert.severity.as_str());
    if !alert.summary.is_empty() {
        fallback.push_str(": ");
        fallback.push_str(&alert.summary);
    }
    json!({
        "text": slack_escape(&fallback, FALLBACK_TEXT_MAX),
        "blocks": blocks,
    })
}

fn section(text: String) -> Value {
    json!({"type": "section", "text": {"type": "mrkdwn", "text": text}})
}

/// A field with a bold title; both parts escaped and the whole within Slack's limit.
fn field(title: &str, value: &str) -> Value {
    let title = slack_escape(title, 200);
    let room = FIELD_TEXT_MAX.saturating_sub(title.chars().count() + 3);
    json!({"type": "mrkdwn", "text": format!("*{title}*\n{}", slack_escape(value, room))})
}

/// Already-escaped pieces after an escaped prefix, within a section's limit.
fn slack_escape_joined(prefix: &str, escaped: &[String]) -> String {
    let mut out = slack_escape(prefix, SECTION_TEXT_MAX);
    for (i, piece) in escaped.iter().enumerate() {
        let sep = if i == 0 { "" } else { ", " };
        if out.chars().count() + sep.len() + piece.chars().count() > SECTION_TEXT_MAX {
            break;
        }
        out.push_str(sep);
        out.push_str(piece);
    }
    out
}

/// At most 6 significant digits: `0.953`, `1250`, `0.000123`.
pub(crate) fn number(v: f64) -> String {
    if v.is_finite() && v != 0.0 && (v.abs() >= 1e15 || v.abs() < 1e-6) {
        return format!("{v:e}");
    }
    let s = format!("{v:.6}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    };
    if s == "-0" { "0".into() } else { s }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::SystemTime;

    use super::*;
    use crate::alert::{Alert, Severity};

    fn event(summary: &str, labels: usize) -> AlertEvent {
        let alert = Alert {
            name: "PulsecheckLatencyP95Critical".into(),
            severity: Severity::Critical,
            labels: (0..labels)
                .map(|i| (format!("k{i:02}"), format!("<v{i}>")))
                .collect::<BTreeMap<_, _>>(),
            value: Some(1.8),
            threshold: Some(1.0),
            summary: summary.into(),
            trace_ids: vec!["4bf92f3577b34da6a3ce929d0e0e4736".into()],
        };
        AlertEvent {
            state: EventState::Firing,
            fingerprint: alert.fingerprint(),
            alert,
            starts_at: SystemTime::UNIX_EPOCH,
            pending_since: SystemTime::UNIX_EPOCH,
            ends_at: None,
            service: "academy".into(),
        }
    }

    #[test]
    fn many_labels_fit_in_ten_fields() {
        let p = payload(&event("s", 30));
        let fields = p["blocks"][2]["fields"].as_array().unwrap();
        assert_eq!(fields.len(), FIELDS_MAX);
        let last = fields[9]["text"].as_str().unwrap();
        assert!(last.starts_with("*Labels*\nk06=&lt;v6&gt;, "), "{last}");
        assert!(last.contains("k29=&lt;v29&gt;"), "{last}");
    }

    #[test]
    fn numbers_are_short() {
        assert_eq!(number(1.8), "1.8");
        assert_eq!(number(1250.0), "1250");
        assert_eq!(number(0.953_123_456), "0.953123");
        assert_eq!(number(0.0), "0");
        assert_eq!(number(1.5e-9), "1.5e-9");
    }
}
