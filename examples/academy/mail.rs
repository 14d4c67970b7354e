//! Confirmation emails over SMTP (`SMTP_URL`, the same URL forms as pulsecheck's SMTP check:
//! `smtp://host:port` with STARTTLS when offered, `?tls=none|required`, `smtps://`).
//!
//! A failed email never fails the enrollment (the payment is taken by then): it is logged,
//! recorded on the span and reported as `"email": "failed"` in the response.

use std::time::Duration;

use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::{AsyncSmtpTransport, AsyncTransport as _, Message, Tokio1Executor};
use tracing::Instrument as _;
use tracing::field::Empty;

const SEND_TIMEOUT: Duration = Duration::from_secs(5);

pub(crate) struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    host: String,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum MailConfigError {
    #[error("SMTP_URL is not a valid smtp:// or smtps:// URL")]
    Url,
    #[error("MAIL_FROM is not an email address")]
    From,
}

pub(crate) struct Confirmation<'a> {
    pub(crate) to: &'a lettre::Address,
    pub(crate) enrollment_id: i64,
    pub(crate) course_title: &'a str,
    pub(crate) amount_cents: i64,
}

impl Mailer {
    pub(crate) fn from_url(url: &str, from: &str) -> Result<Self, MailConfigError> {
        let mut parsed = url::Url::parse(url).map_err(|_| MailConfigError::Url)?;
        let host = parsed.host_str().unwrap_or_default().to_owned();
        // lettre reads no `tls` as plain text and knows no `tls=none`; pulsecheck's check
        // reads no `tls` as opportunistic STARTTLS. Speak the check's dialect.
        let tls = parsed
            .query_pairs()
            .find(|(k, _)| k == "tls")
            .map(|(_, v)| v.into_owned());
        let port = parsed.port_or_known_default();
        match (parsed.scheme(), tls.as_deref()) {
            ("smtp", None) => {
                parsed.set_query(Some("tls=opportunistic"));
            }
            ("smtp", Some("none")) => parsed.set_query(None),
            ("smtp", Some("opportunistic" | "required")) | ("smtps", _) => {}
            _ => return Err(MailConfigError::Url),
        }
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(parsed.as_str())
            .map_err(|_| MailConfigError::Url)?
            // lettre's default port for opportunistic is 587; keep the URL's (or SMTP's 25).
            .port(port.unwrap_or(25))
            .timeout(Some(SEND_TIMEOUT))
            .build();
        let from = from.parse().map_err(|_| MailConfigError::From)?;
        Ok(Self {
            transport,
            from,
            host,
        })
    }

    /// Sends the confirmation; `false` when it could not be sent.
    pub(crate) async fn send_confirmation(&self, c: &Confirmation<'_>) -> bool {
        let span = tracing::info_span!(
            "smtp",
            otel.name = "smtp send",
            otel.kind = "client",
            otel.status_code = Empty,
            server.address = self.host.as_str(),
            messaging.operation.name = "send",
            error.type = Empty,
        );
        let message = Message::builder()
            .from(self.from.clone())
            .to(Mailbox::new(None, c.to.clone()))
            .subject(format!("You are enrolled: {}", c.course_title))
            .header(ContentType::TEXT_PLAIN)
            .body(format!(
                "Welcome to {}.\n\nEnrollment {}, amount paid: ${}.{:02}.\n",
                c.course_title,
                c.enrollment_id,
                c.amount_cents / 100,
                c.amount_cents % 100
            ));
        let message = match message {
            Ok(m) => m,
            Err(e) => {
                span.record("error.type", "message");
                span.record("otel.status_code", "error");
                tracing::warn!(parent: &span, error = %e, "confirmation email not built");
                return false;
            }
        };
        match self.transport.send(message).instrument(span.clone()).await {
            Ok(_) => true,
            Err(e) => {
                let kind = if e.is_timeout() {
                    "timeout"
                } else if e.is_transient() || e.is_permanent() {
                    "rejected"
                } else {
                    "connection"
                };
                span.record("error.type", kind);
                span.record("otel.status_code", "error");
                tracing::warn!(parent: &span, error.type = kind, "confirmation email not sent");
                false
            }
        }
    }
}
