//! What can go wrong: per request ([`ErrorKind`], [`RequestError`], counted in the report) and
//! before a run can start ([`LoadError`]).

use serde::Serialize;

/// The kind of a failed request, as counted in the report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ErrorKind {
    /// No answer within the request timeout.
    Timeout,
    /// The host refused the connection (nothing listening).
    Refused,
    /// The connection was reset or closed before the answer was complete.
    Reset,
    /// The host name could not be resolved.
    Dns,
    /// The TLS handshake failed (certificate, protocol, or not a TLS server).
    Tls,
    /// Another connection failure (network or host unreachable, ...).
    Connect,
    /// The peer did not speak valid HTTP (or HTTP/2).
    Protocol,
    /// Anything else.
    Other,
}

impl ErrorKind {
    /// Every kind, in report order.
    pub const ALL: [ErrorKind; 8] = [
        ErrorKind::Timeout,
        ErrorKind::Refused,
        ErrorKind::Reset,
        ErrorKind::Dns,
        ErrorKind::Tls,
        ErrorKind::Connect,
        ErrorKind::Protocol,
        ErrorKind::Other,
    ];

    /// Short lowercase name, as in the JSON report.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::Timeout => "timeout",
            ErrorKind::Refused => "refused",
            ErrorKind::Reset => "reset",
            ErrorKind::Dns => "dns",
            ErrorKind::Tls => "tls",
            ErrorKind::Connect => "connect",
            ErrorKind::Protocol => "protocol",
            ErrorKind::Other => "other",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One failed request or connection attempt.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct RequestError {
    /// Its kind.
    pub kind: ErrorKind,
    /// What happened, short, for people.
    pub message: String,
}

impl RequestError {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The URL cannot be used.
    #[error("invalid URL `{url}`: {reason}")]
    InvalidUrl {
        /// What was given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A setting is out of range.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The setting (`connections`, `rate`, ...).
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The load threads could not be started.
    #[error("cannot start the load threads: {0}")]
    Runtime(String),
    /// The first connection failed, so no request was sent.
    #[error("cannot connect to {url}: {error}{hint}")]
    Unreachable {
        /// The target.
        url: String,
        /// The failure.
        error: RequestError,
        /// A hint for the usual cause, with a leading separator.
        hint: &'static str,
    },
}

impl LoadError {
    pub(crate) fn unreachable(url: &str, error: RequestError) -> Self {
        let hint = match error.kind {
            ErrorKind::Refused => " (is the service running and listening on that port?)",
            ErrorKind::Dns => " (check the host name)",
            ErrorKind::Tls if error.message.contains("certificate") => {
                " (a self-signed or private CA certificate? --insecure skips verification)"
            }
            ErrorKind::Timeout => " (host unreachable or dropping packets?)",
            _ => "",
        };
        Self::Unreachable {
            url: url.to_owned(),
            error,
            hint,
        }
    }
}
