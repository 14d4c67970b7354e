//! Email through SMTP: one plain-text message per transition.

use std::fmt;
use std::fmt::Write as _;

use lettre::Message;
use lettre::message::Mailbox;
use lettre::message::header::ContentType;

use super::text::truncate_chars;
use super::{Notifier, NotifyConfigError, NotifyError, NotifyFuture};
use crate::alert::{AlertEvent, EventState};
use crate::health::checks::SmtpCheck;

/// Subjects are cut to this many characters.
const SUBJECT_MAX: usize = 200;

/// Mails each transition as plain text through an SMTP server, configured like the SMTP
/// health check ([`SmtpCheck::from_url`]: `smtp://[user:pass@]host[:port][?tls=...]` or
/// `smtps://...`), with the same TLS rules (credentials are never sent unencrypted unless
/// `tls=none`).
///
/// Subject: `[FIRING] critical: PulsecheckLatencyP95Critical (academy)`; the body lists the
/// summary, value, threshold, times, labels, trace ids and fingerprint. SMTP 5xx replies are
/// permanent failures; 4xx replies and connection failures are retried.
///
/// Name `email`. Environment: `PULSE_ALERT_EMAIL_TO` (comma-separated), `SMTP_URL`,
/// `PULSE_ALERT_EMAIL_FROM` (defaults to `<service> alerts <pulsecheck@<host name>>`).
///
/// ```
/// use pulsecheck::alert::notify::{EmailNotifier, Notifier};
/// use pulsecheck::health::checks::SmtpCheck;
///
/// # fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let smtp = SmtpCheck::from_url("smtp://alerts:hunter2@mail.internal:587?tls=required")?;
/// let email = EmailNotifier::new(smtp, "Academy alerts <alerts@example.com>", "oncall@example.com, sre@example.com")?;
/// assert_eq!(email.name(), "email");
/// assert!(!format!("{email:?}").contains("hunter2"));
/// # Ok(()) }
/// # demo().unwrap();
/// ```
pub struct EmailNotifier {
    smtp: SmtpCheck,
    from: Mailbox,
    to: Vec<Mailbox>,
}

impl EmailNotifier {
    /// Mails from `from` to each address of `to` (comma-separated), both as
    /// `name <address>` or `address`.
    pub fn new(smtp: SmtpCheck, from: &str, to: &str) -> Result<Self, NotifyConfigError> {
        let from = from
            .trim()
            .parse::<Mailbox>()
            .map_err(|e| NotifyConfigError::invalid("alert email sender", e))?;
        let to = parse_recipients("alert email recipients", to)?;
        Ok(Self { smtp, from, to })
    }

    /// The message for `event`.
    pub(crate) fn message(&self, event: &AlertEvent) -> Result<Message, NotifyError> {
        let mut builder = Message::builder()
            .from(self.from.clone())
            .subject(subject(event));
        for to in &self.to {
            builder = builder.to(to.clone());
        }
        builder
            .header(ContentType::TEXT_PLAIN)
            .body(body(event))
            .map_err(|e| NotifyError::permanent(format!("alert email: {e}")))
    }
}

pub(crate) fn parse_recipients(
    name: &'static str,
    list: &str,
) -> Result<Vec<Mailbox>, NotifyConfigError> {
    let to: Vec<Mailbox> = list
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<Mailbox>()
                .map_err(|e| NotifyConfigError::invalid(name, e))
        })
        .collect::<Result<_, _>>()?;
    if to.is_empty() {
        return Err(NotifyConfigError::invalid(name, "no address"));
    }
    Ok(to)
}

fn state(event: &AlertEvent) -> &'static str {
    match event.state {
        EventState::Firing => "FIRING",
        EventState::Resolved => "RESOLVED",
    }
}

/// `[FIRING] critical: Name (service)`, on one line.
pub(crate) fn subject(event: &AlertEvent) -> String {
    let line = format!(
        "[{}] {}: {} ({})",
        state(event),
        event.alert.severity.as_str(),
        event.alert.name,
        event.service
    );
    let line: String = line
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    truncate_chars(&line, SUBJECT_MAX)
}

fn body(event: &AlertEvent) -> String {
    let alert = &event.alert;
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = writeln!(out, "{}", alert.summary);
    let _ = writeln!(out);
    let _ = writeln!(out, "Alert:       {}", alert.name);
    let _ = writeln!(out, "State:       {}", state(event).to_lowercase());
    let _ = writeln!(out, "Severity:    {}", alert.severity.as_str());
    let _ = writeln!(out, "Service:     {}", event.service);
    if let Some(v) = alert.value {
        let _ = writeln!(out, "Value:       {v}");
    }
    if let Some(t) = alert.threshold {
        let _ = writeln!(out, "Threshold:   {t}");
    }
    let _ = writeln!(
        out,
        "Started:     {}",
        humantime::format_rfc3339_seconds(event.starts_at)
    );
    if let Some(ended) = event.ends_at {
        let _ = writeln!(
            out,
            "Resolved:    {}",
            humantime::format_rfc3339_seconds(ended)
        );
    }
    for (k, v) in &alert.labels {
        let _ = writeln!(out, "Label:       {k}={v}");
    }
    for id in &alert.trace_ids {
        let _ = writeln!(out, "Trace:       {id}");
    }
    let _ = writeln!(out, "Fingerprint: {}", event.fingerprint);
    out
}

impl Notifier for EmailNotifier {
    fn name(&self) -> &str {
        "email"
    }

    fn send<'a>(&'a self, event: &'a AlertEvent) -> NotifyFuture<'a> {
        Box::pin(async move {
            let message = self.message(event)?;
            let bytes = message.formatted();
            // Connecting, TLS and AUTH failures are usually passing: retried.
            let (mut conn, _) = self
                .smtp
                .session()
                .await
                .map_err(|e| NotifyError::retryable(e.message()))?;
            let sent = conn.send(message.envelope(), &bytes).await;
            match sent {
                Ok(_) => {
                    // The server has the message; a failed QUIT changes nothing.
                    let _ = conn.quit().await;
                    Ok(())
                }
                Err(e) => {
                    conn.abort().await;
                    let reason = self.smtp.step("sending the alert email to", &e).to_string();
                    if e.is_permanent() {
                        Err(NotifyError::permanent(reason))
                    } else {
                        Err(NotifyError::retryable(reason))
                    }
                }
            }
        })
    }
}

impl fmt::Debug for EmailNotifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmailNotifier")
            .field("smtp", &self.smtp)
            .field("from", &self.from.email.to_string())
            .field("to", &self.to.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;
    use crate::alert::{Alert, Severity};

    #[test]
    fn subject_and_recipients() {
        let alert = Alert {
            name: "PulsecheckDependencyDown".into(),
            severity: Severity::Critical,
            labels: [("check".to_owned(), "postgres".to_owned())].into(),
            value: None,
            threshold: None,
            summary: "postgres is down\r\nBcc: evil@example.com".into(),
            trace_ids: vec![],
        };
        let event = AlertEvent {
            state: EventState::Resolved,
            fingerprint: alert.fingerprint(),
            alert,
            starts_at: SystemTime::UNIX_EPOCH,
            pending_since: SystemTime::UNIX_EPOCH,
            ends_at: Some(SystemTime::UNIX_EPOCH),
            service: "academy\n".into(),
        };
        assert_eq!(
            subject(&event),
            "[RESOLVED] critical: PulsecheckDependencyDown (academy )"
        );
        assert!(parse_recipients("x", " , ").is_err());
        assert!(parse_recipients("x", "not an address").is_err());
        assert_eq!(parse_recipients("x", "a@b.c, D <d@e.f>").unwrap().len(), 2);
        let smtp = SmtpCheck::from_url("smtp://127.0.0.1:2525?tls=none").unwrap();
        let notifier = EmailNotifier::new(smtp, "a@b.c", "d@e.f").unwrap();
        let formatted = String::from_utf8(notifier.message(&event).unwrap().formatted()).unwrap();
        let (headers, _) = formatted.split_once("\r\n\r\n").unwrap();
        assert!(!headers.contains("Bcc:"), "{formatted}");
        assert!(formatted.contains("Fingerprint:"), "{formatted}");
    }
}
