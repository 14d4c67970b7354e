//! Why a notification or a notifier's configuration failed.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

/// Why one delivery attempt failed, and whether trying again can help.
///
/// The reason is shown in logs: notifiers build it from what they know (status, host, the
/// receiver's short answer), never from a secret (a routing key, a webhook path, a password).
///
/// ```
/// use std::time::Duration;
/// use pulsecheck::alert::notify::NotifyError;
///
/// let busy = NotifyError::retryable("HTTP 429 from https://hooks.slack.com")
///     .with_retry_after(Duration::from_secs(30));
/// assert!(busy.is_retryable());
/// assert_eq!(busy.retry_after(), Some(Duration::from_secs(30)));
/// assert!(!NotifyError::permanent("HTTP 404").is_retryable());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NotifyError {
    /// The receiver may take it later: a timeout, a refused or reset connection, HTTP 429 or
    /// 5xx, an SMTP 4xx reply.
    #[error("{reason}")]
    Retryable {
        /// What happened.
        reason: String,
        /// How long the receiver asked us to wait (`Retry-After`), if it said.
        retry_after: Option<Duration>,
    },
    /// Trying again will not help: HTTP 4xx other than 408 and 429, an SMTP 5xx reply, a
    /// payload or configuration the receiver rejects.
    #[error("{reason}")]
    Permanent {
        /// What happened.
        reason: String,
    },
}

impl NotifyError {
    /// A failure worth retrying.
    pub fn retryable(reason: impl fmt::Display) -> Self {
        Self::Retryable {
            reason: reason.to_string(),
            retry_after: None,
        }
    }

    /// A failure that retrying cannot fix.
    pub fn permanent(reason: impl fmt::Display) -> Self {
        Self::Permanent {
            reason: reason.to_string(),
        }
    }

    /// The wait the receiver asked for (ignored on a permanent error).
    pub fn with_retry_after(self, wait: Duration) -> Self {
        match self {
            Self::Retryable { reason, .. } => Self::Retryable {
                reason,
                retry_after: Some(wait),
            },
            permanent => permanent,
        }
    }

    /// Whether the dispatcher tries again.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Retryable { .. })
    }

    /// The wait the receiver asked for, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Retryable { retry_after, .. } => *retry_after,
            Self::Permanent { .. } => None,
        }
    }
}

/// Why a notifier or the dispatcher could not be set up. Names the environment variable (or
/// the setting) at fault and what is wrong with it, never its value: webhook URLs, routing
/// keys and SMTP URLs carry secrets.
///
/// ```
/// use pulsecheck::alert::notify::{NotifyConfigError, SlackNotifier};
///
/// let err = SlackNotifier::new("hooks.slack.com/services/T0/B0/secret").unwrap_err();
/// assert!(matches!(err, NotifyConfigError::InvalidUrl { .. }));
/// assert!(!err.to_string().contains("secret"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NotifyConfigError {
    /// A URL does not parse, or is not `http`/`https` with a host.
    #[error("{name}: invalid URL: {reason}")]
    InvalidUrl {
        /// The variable or setting.
        name: Cow<'static, str>,
        /// What is wrong, without the URL.
        reason: String,
    },
    /// Any other invalid value (an email address, a missing companion variable).
    #[error("{name}: {reason}")]
    Invalid {
        /// The variable or setting.
        name: Cow<'static, str>,
        /// What is wrong, without the value.
        reason: String,
    },
    /// The variable is set, but the notifier it enables was not compiled in.
    #[error("{name} is set, but pulsecheck was built without its `{feature}` feature")]
    FeatureDisabled {
        /// The variable.
        name: Cow<'static, str>,
        /// The cargo feature that enables the notifier.
        feature: &'static str,
    },
    /// [`DispatcherBuilder::build`](super::DispatcherBuilder::build) was called outside a
    /// Tokio runtime: the delivery tasks need one.
    #[error("the alert dispatcher must be built inside a Tokio runtime")]
    NoRuntime,
}

impl NotifyConfigError {
    #[cfg_attr(not(any(feature = "http", feature = "smtp")), allow(dead_code))]
    pub(crate) fn invalid(name: impl Into<Cow<'static, str>>, reason: impl fmt::Display) -> Self {
        Self::Invalid {
            name: name.into(),
            reason: reason.to_string(),
        }
    }
}
