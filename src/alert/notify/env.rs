//! Notifiers from environment variables (the alert notifier variables of
//! [`env`](crate::env)), each on when its variable is set.
// Without the `http` and `smtp` features most variables only produce `FeatureDisabled`.
#![cfg_attr(
    not(all(feature = "http", feature = "smtp")),
    allow(dead_code, unused_imports, unused_mut)
)]

use super::{DispatcherBuilder, NotifyConfigError};

use crate::env::{
    PULSE_ALERT_EMAIL_FROM as ALERT_EMAIL_FROM, PULSE_ALERT_EMAIL_TO as ALERT_EMAIL_TO,
    PULSE_ALERTMANAGER_URL as ALERTMANAGER_URL,
    PULSE_PAGERDUTY_ROUTING_KEY as PAGERDUTY_ROUTING_KEY, PULSE_PAGERDUTY_URL as PAGERDUTY_URL,
    PULSE_SLACK_WEBHOOK_URL as SLACK_WEBHOOK_URL, PULSE_WEBHOOK_TOKEN as WEBHOOK_TOKEN,
    PULSE_WEBHOOK_URL as WEBHOOK_URL, SMTP_URL,
};

impl DispatcherBuilder {
    /// Adds the notifiers the environment configures, each when its variable is set and
    /// not empty:
    ///
    /// | variable | notifier |
    /// | --- | --- |
    /// | `PULSE_WEBHOOK_URL` (+ `PULSE_WEBHOOK_TOKEN`, sent as a bearer token) | [`WebhookNotifier`](super::WebhookNotifier) |
    /// | `PULSE_SLACK_WEBHOOK_URL` | [`SlackNotifier`](super::SlackNotifier) |
    /// | `PULSE_PAGERDUTY_ROUTING_KEY` (+ `PULSE_PAGERDUTY_URL`) | [`PagerDutyNotifier`](super::PagerDutyNotifier) |
    /// | `PULSE_ALERTMANAGER_URL` | [`AlertmanagerNotifier`](super::AlertmanagerNotifier) |
    /// | `PULSE_ALERT_EMAIL_TO` (+ `SMTP_URL`, required, and `PULSE_ALERT_EMAIL_FROM`) | [`EmailNotifier`](super::EmailNotifier) |
    ///
    /// `service_name` names the default email sender. An invalid value fails with an error
    /// naming the variable, never showing its value; a variable whose notifier was not
    /// compiled in (features `http`, `smtp`) fails too, rather than alerts silently going
    /// nowhere.
    pub fn with_env(self, service_name: &str) -> Result<Self, NotifyConfigError> {
        self.with_lookup(service_name, |name| std::env::var(name).ok())
    }

    pub(crate) fn with_lookup(
        mut self,
        service_name: &str,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, NotifyConfigError> {
        let var = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        // Without the features most of these are unused.
        let _ = service_name;

        if let Some(url) = var(WEBHOOK_URL) {
            #[cfg(feature = "http")]
            {
                let mut hook =
                    super::WebhookNotifier::new(&url).map_err(|e| rename(e, WEBHOOK_URL))?;
                if let Some(token) = var(WEBHOOK_TOKEN) {
                    hook = hook
                        .bearer_token(&token)
                        .map_err(|e| rename(e, WEBHOOK_TOKEN))?;
                }
                self = self.notifier(hook);
            }
            #[cfg(not(feature = "http"))]
            return Err(disabled(WEBHOOK_URL, "http", &url));
        }
        if let Some(url) = var(SLACK_WEBHOOK_URL) {
            #[cfg(feature = "http")]
            {
                let slack =
                    super::SlackNotifier::new(&url).map_err(|e| rename(e, SLACK_WEBHOOK_URL))?;
                self = self.notifier(slack);
            }
            #[cfg(not(feature = "http"))]
            return Err(disabled(SLACK_WEBHOOK_URL, "http", &url));
        }
        if let Some(key) = var(PAGERDUTY_ROUTING_KEY) {
            #[cfg(feature = "http")]
            {
                let mut pd = super::PagerDutyNotifier::new(&key)
                    .map_err(|e| rename(e, PAGERDUTY_ROUTING_KEY))?;
                if let Some(url) = var(PAGERDUTY_URL) {
                    pd = pd.base_url(&url).map_err(|e| rename(e, PAGERDUTY_URL))?;
                }
                self = self.notifier(pd);
            }
            #[cfg(not(feature = "http"))]
            return Err(disabled(PAGERDUTY_ROUTING_KEY, "http", &key));
        }
        if let Some(url) = var(ALERTMANAGER_URL) {
            #[cfg(feature = "http")]
            {
                let am = super::AlertmanagerNotifier::new(&url)
                    .map_err(|e| rename(e, ALERTMANAGER_URL))?;
                self = self.notifier(am);
            }
            #[cfg(not(feature = "http"))]
            return Err(disabled(ALERTMANAGER_URL, "http", &url));
        }
        if let Some(to) = var(ALERT_EMAIL_TO) {
            #[cfg(feature = "smtp")]
            {
                let Some(url) = var(SMTP_URL) else {
                    return Err(NotifyConfigError::invalid(
                        ALERT_EMAIL_TO,
                        "needs SMTP_URL, the server to send through",
                    ));
                };
                let smtp = crate::health::checks::SmtpCheck::from_url(&url)
                    .map_err(|e| NotifyConfigError::invalid(SMTP_URL, e))?;
                let from = var(ALERT_EMAIL_FROM).unwrap_or_else(|| default_sender(service_name));
                // Recipients first, so that an error in `new` can only be the sender's.
                super::email::parse_recipients(ALERT_EMAIL_TO, &to)?;
                let email = super::EmailNotifier::new(smtp, &from, &to)
                    .map_err(|e| rename(e, ALERT_EMAIL_FROM))?;
                self = self.notifier(email);
            }
            #[cfg(not(feature = "smtp"))]
            return Err(disabled(ALERT_EMAIL_TO, "smtp", &to));
        }
        Ok(self)
    }
}

/// The error with the variable's name in place of the setting's.
#[cfg(any(feature = "http", feature = "smtp"))]
fn rename(e: NotifyConfigError, var: &'static str) -> NotifyConfigError {
    match e {
        NotifyConfigError::InvalidUrl { reason, .. } => NotifyConfigError::InvalidUrl {
            name: var.into(),
            reason,
        },
        NotifyConfigError::Invalid { reason, .. } => NotifyConfigError::Invalid {
            name: var.into(),
            reason,
        },
        other => other,
    }
}

#[cfg(not(all(feature = "http", feature = "smtp")))]
#[allow(dead_code)]
fn disabled(var: &'static str, feature: &'static str, _value: &str) -> NotifyConfigError {
    NotifyConfigError::FeatureDisabled {
        name: var.into(),
        feature,
    }
}

/// `<service> alerts <pulsecheck@<host name>>`, or on `localhost` when the host name is not a
/// usable domain.
#[cfg(feature = "smtp")]
fn default_sender(service_name: &str) -> String {
    let host = gethostname::gethostname()
        .into_string()
        .ok()
        .filter(|h| {
            !h.is_empty()
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        })
        .unwrap_or_else(|| "localhost".to_owned());
    let name: String = service_name
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_' | '.'))
        .collect();
    if name.trim().is_empty() {
        format!("pulsecheck@{host}")
    } else {
        format!("\"{} alerts\" <pulsecheck@{host}>", name.trim())
    }
}

#[cfg(all(test, feature = "http", feature = "smtp"))]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn build(vars: &[(&str, &str)]) -> Result<Vec<String>, String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        DispatcherBuilder::default()
            .with_lookup("academy", |k| map.get(k).cloned())
            .map(|b| b.notifiers.iter().map(|n| n.name().to_owned()).collect())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn each_variable_enables_its_notifier() {
        assert_eq!(build(&[]), Ok(vec![]));
        assert_eq!(build(&[(WEBHOOK_URL, "  ")]), Ok(vec![]));
        let all = build(&[
            (WEBHOOK_URL, "https://ops.example.com/hook"),
            (WEBHOOK_TOKEN, "tok"),
            (SLACK_WEBHOOK_URL, "https://hooks.slack.com/services/T/B/X"),
            (PAGERDUTY_ROUTING_KEY, "0123456789abcdef0123456789abcdef"),
            (PAGERDUTY_URL, "http://127.0.0.1:1"),
            (ALERTMANAGER_URL, "http://127.0.0.1:9093"),
            (ALERT_EMAIL_TO, "oncall@example.com, sre@example.com"),
            (SMTP_URL, "smtp://u:p@127.0.0.1:2525?tls=none"),
        ]);
        assert_eq!(
            all,
            Ok(vec![
                "webhook".to_owned(),
                "slack".to_owned(),
                "pagerduty".to_owned(),
                "alertmanager".to_owned(),
                "email".to_owned(),
            ])
        );
    }

    #[test]
    fn errors_name_the_variable_and_hide_the_value() {
        let cases = [
            (
                SLACK_WEBHOOK_URL,
                "hooks.slack.com/services/T/B/SECRET1",
                SLACK_WEBHOOK_URL,
            ),
            (WEBHOOK_URL, "ftp://x/SECRET1", WEBHOOK_URL),
            (ALERTMANAGER_URL, "SECRET1", ALERTMANAGER_URL),
        ];
        for (var, value, named) in cases {
            let err = build(&[(var, value)]).unwrap_err();
            assert!(err.starts_with(named), "{err}");
            assert!(!err.contains("SECRET1"), "{err}");
        }
        let err = build(&[
            (PAGERDUTY_ROUTING_KEY, "SECRET1"),
            (PAGERDUTY_URL, "events.pagerduty.com"),
        ])
        .unwrap_err();
        assert!(
            err.starts_with(PAGERDUTY_URL) && !err.contains("SECRET1"),
            "{err}"
        );
        let err = build(&[(ALERT_EMAIL_TO, "a@b.c")]).unwrap_err();
        assert!(err.contains("needs SMTP_URL"), "{err}");
        let err = build(&[
            (ALERT_EMAIL_TO, "a@b.c"),
            (SMTP_URL, "smtp://u:SECRET1@h?pw=SECRET1"),
        ])
        .unwrap_err();
        assert!(
            err.starts_with(SMTP_URL) && !err.contains("SECRET1"),
            "{err}"
        );
        let err = build(&[(ALERT_EMAIL_TO, "not-an-address"), (SMTP_URL, "smtp://h")]).unwrap_err();
        assert!(err.starts_with(ALERT_EMAIL_TO), "{err}");
    }

    #[test]
    fn default_sender_parses() {
        for service in ["academy", "", "we<ird>\"name"] {
            let from = default_sender(service);
            assert!(from.parse::<lettre::message::Mailbox>().is_ok(), "{from}");
        }
    }
}
