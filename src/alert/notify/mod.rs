//! Alert notifiers: where [`AlertEvent`]s go when an alert fires or resolves, and the
//! [`Dispatcher`] that delivers them off the evaluation path.
//!
//! | notifier | cargo feature | environment | repeats a firing alert every |
//! | --- | --- | --- | --- |
//! | [`WebhookNotifier`]: the event as JSON | `http` | `PULSE_WEBHOOK_URL` (+ `PULSE_WEBHOOK_TOKEN`) | 4 h |
//! | [`SlackNotifier`]: incoming webhook, text and blocks | `http` | `PULSE_SLACK_WEBHOOK_URL` | 4 h |
//! | [`PagerDutyNotifier`]: Events API v2 | `http` | `PULSE_PAGERDUTY_ROUTING_KEY` (+ `PULSE_PAGERDUTY_URL`) | 4 h |
//! | [`AlertmanagerNotifier`]: `POST /api/v2/alerts` | `http` | `PULSE_ALERTMANAGER_URL` | 1 min |
//! | [`EmailNotifier`]: plain-text mail through SMTP | `smtp` | `PULSE_ALERT_EMAIL_TO` (+ `SMTP_URL`, `PULSE_ALERT_EMAIL_FROM`) | 4 h |
//!
//! Any type implementing [`Notifier`] can be added with [`DispatcherBuilder::notifier`].
//! Secrets (webhook paths, routing keys, tokens, SMTP passwords) never appear in errors, logs
//! or `Debug`: notifiers show their receiver as `scheme://host[:port]`.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use pulsecheck::alert::notify::{Dispatcher, RetryPolicy, SlackNotifier};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), pulsecheck::alert::notify::NotifyConfigError> {
//! let slack = SlackNotifier::new("https://hooks.slack.com/services/T000/B000/XXXX")?;
//! assert!(!format!("{slack:?}").contains("XXXX"));
//! let dispatcher = Dispatcher::builder()
//!     .notifier(slack)
//!     .queue_capacity(64)
//!     .retry_policy(RetryPolicy::default().max_attempts(3))
//!     .repeat_interval(Some(Duration::from_secs(3600)))
//!     .build()?;
//! assert_eq!(dispatcher.notifier_names(), ["slack"]);
//! # Ok(()) }
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use super::AlertEvent;

mod dispatcher;
mod env;
mod error;
#[cfg(feature = "testing")]
mod memory;
mod retry;

#[cfg(feature = "http")]
mod alertmanager;
#[cfg(feature = "smtp")]
mod email;
#[cfg(feature = "http")]
mod http;
#[cfg(feature = "http")]
mod pagerduty;
#[cfg(feature = "http")]
mod slack;
#[cfg(any(feature = "http", feature = "smtp"))]
mod text;
#[cfg(feature = "http")]
mod webhook;

#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub use alertmanager::AlertmanagerNotifier;
pub use dispatcher::{
    Dispatcher, DispatcherBuilder, NotifierStats, QUEUE_CAPACITY_DEFAULT, REPEAT_INTERVAL_DEFAULT,
};
#[cfg(feature = "smtp")]
#[cfg_attr(docsrs, doc(cfg(feature = "smtp")))]
pub use email::EmailNotifier;
pub use error::{NotifyConfigError, NotifyError};
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub use memory::InMemoryNotifier;
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub use pagerduty::PagerDutyNotifier;
pub use retry::RetryPolicy;
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub use slack::SlackNotifier;
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub use webhook::WebhookNotifier;

/// What [`Notifier::send`] returns.
pub type NotifyFuture<'a> = Pin<Box<dyn Future<Output = Result<(), NotifyError>> + Send + 'a>>;

/// Somewhere alert transitions are sent: a chat, a pager, a mailbox, another alert manager.
///
/// The [`Dispatcher`] calls [`send`](Self::send) from one task per notifier, one event at a
/// time and in the order they were submitted, so an implementation needs no ordering of its
/// own. Each call runs under the [`RetryPolicy`]'s attempt timeout and is dropped when it
/// expires, so `send` must be safe to cancel at any `.await`. Return
/// [`NotifyError::Retryable`] for failures that may pass (the dispatcher retries with backoff,
/// waiting at least `retry_after` when given) and [`NotifyError::Permanent`] for the rest.
/// Error reasons are logged: keep secrets out of them.
///
/// A firing alert is sent again every repeat interval until it resolves, as the same
/// [`AlertEvent`]; a notifier that must refresh something (Alertmanager's `endsAt`) does it
/// in `send`.
///
/// See the [`Dispatcher`] docs for an implementation.
pub trait Notifier: Send + Sync + fmt::Debug + 'static {
    /// A short name for stats, metrics and logs (`slack`, `pagerduty`...).
    fn name(&self) -> &str;

    /// Sends one event.
    fn send<'a>(&'a self, event: &'a AlertEvent) -> NotifyFuture<'a>;

    /// How often a firing alert must be sent again, when the receiver needs it (Alertmanager
    /// forgets alerts that are not refreshed). `None` (the default) uses the dispatcher's
    /// interval.
    fn repeat_interval(&self) -> Option<Duration> {
        None
    }
}

impl<N: Notifier + ?Sized> Notifier for Box<N> {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn send<'a>(&'a self, event: &'a AlertEvent) -> NotifyFuture<'a> {
        (**self).send(event)
    }
    fn repeat_interval(&self) -> Option<Duration> {
        (**self).repeat_interval()
    }
}

impl<N: Notifier + ?Sized> Notifier for Arc<N> {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn send<'a>(&'a self, event: &'a AlertEvent) -> NotifyFuture<'a> {
        (**self).send(event)
    }
    fn repeat_interval(&self) -> Option<Duration> {
        (**self).repeat_interval()
    }
}
