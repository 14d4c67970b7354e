//! A generic JSON webhook: the event, as it serialises, in a POST.

use std::fmt;

use http::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};
use reqwest::Url;

use super::http::{client, origin, parse_url, post_json};
use super::{Notifier, NotifyConfigError, NotifyError, NotifyFuture};
use crate::alert::AlertEvent;

/// POSTs each [`AlertEvent`] as JSON to a URL: `{"state": "firing" | "resolved", "alert":
/// {"name", "severity", "labels", "value", "threshold", "summary", "trace_ids"},
/// "fingerprint", "starts_at", "pending_since", "ends_at", "service"}` (times in RFC 3339;
/// `pending_since` is when the condition began, `for` before `starts_at`).
///
/// Any 2xx answer is success; 408, 429 and 5xx are retried. An optional bearer token or
/// other headers authenticate the sender; the URL's path, query and the header values never
/// appear in logs or `Debug`.
///
/// Name `webhook`. Environment: `PULSE_WEBHOOK_URL`, `PULSE_WEBHOOK_TOKEN` (bearer).
///
/// ```
/// use pulsecheck::alert::notify::{Notifier, WebhookNotifier};
///
/// # fn demo() -> Result<(), pulsecheck::alert::notify::NotifyConfigError> {
/// let hook = WebhookNotifier::new("https://ops.example.com/hooks/alerts")?
///     .bearer_token("s3cr3t")?
///     .header("x-team", "payments")?;
/// assert_eq!(hook.name(), "webhook");
/// assert!(!format!("{hook:?}").contains("s3cr3t"));
/// # Ok(()) }
/// # demo().unwrap();
/// ```
pub struct WebhookNotifier {
    name: String,
    url: Url,
    shown: String,
    headers: HeaderMap,
    client: reqwest::Client,
}

impl WebhookNotifier {
    /// POSTs to `url` (`http` or `https`).
    pub fn new(url: &str) -> Result<Self, NotifyConfigError> {
        let url = parse_url("webhook URL", url)?;
        Ok(Self {
            name: "webhook".into(),
            shown: origin(&url),
            url,
            headers: HeaderMap::new(),
            client: client("webhook")?,
        })
    }

    /// Sends `Authorization: Bearer <token>`.
    pub fn bearer_token(self, token: &str) -> Result<Self, NotifyConfigError> {
        self.header(AUTHORIZATION.as_str(), &format!("Bearer {}", token.trim()))
    }

    /// Sends a header with every request (its value is treated as a secret).
    pub fn header(mut self, name: &str, value: &str) -> Result<Self, NotifyConfigError> {
        let header = HeaderName::try_from(name)
            .map_err(|_| NotifyConfigError::invalid("webhook header", "invalid header name"))?;
        let mut value = HeaderValue::try_from(value).map_err(|_| {
            NotifyConfigError::invalid(format!("webhook header {header}"), "invalid header value")
        })?;
        value.set_sensitive(true);
        self.headers.insert(header, value);
        Ok(self)
    }

    /// The name in stats and logs, to tell several webhooks apart. Defaults to `webhook`.
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }
}

impl Notifier for WebhookNotifier {
    fn name(&self) -> &str {
        &self.name
    }

    fn send<'a>(&'a self, event: &'a AlertEvent) -> NotifyFuture<'a> {
        Box::pin(async move {
            let body = serde_json::to_vec(event).map_err(NotifyError::permanent)?;
            post_json(
                &self.client,
                &self.url,
                &self.shown,
                self.headers.clone(),
                body,
            )
            .await
        })
    }
}

impl fmt::Debug for WebhookNotifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<&str> = self.headers.keys().map(HeaderName::as_str).collect();
        f.debug_struct("WebhookNotifier")
            .field("name", &self.name)
            .field("receiver", &self.shown)
            .field("headers", &headers)
            .finish()
    }
}
