//! Built-in checks, each behind its cargo feature.
//!
//! | check | feature | name | kind | critical by default |
//! | --- | --- | --- | --- | --- |
//! | [`PostgresCheck`] | `postgres` | `postgres` | datastore | yes |
//! | [`RedisCheck`] | `redis` | `redis` | datastore | no |
//! | [`HttpCheck`] | `http` | `stripe`, `paypal` or the host | component | no |
//! | [`SmtpCheck`] | `smtp` | `smtp` | component | no |
//! | [`SystemCheck`] | none | `memory`, `disk` | system | no |
//!
//! Every check keeps its connection or client between probes, reports what it measured and
//! leaves timing, timeouts, caching and breakers to the runner. Credentials stay out of
//! outputs, logs and `Debug`: keys and passwords are held in a type whose `Debug` prints `***`,
//! and URLs are shown without userinfo or query.
//!
//! ```
//! use pulsecheck::health::checks::SystemCheck;
//! use pulsecheck::health::{Check, CheckExt};
//!
//! let memory = SystemCheck::memory(512 * 1024 * 1024);
//! assert_eq!(memory.name(), "memory");
//! let _registration = SystemCheck::disk("/", 1 << 30).critical();
//! ```

#[cfg(feature = "http")]
mod http;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "redis")]
mod redis;
#[cfg(feature = "smtp")]
mod smtp;
mod system;

#[cfg(feature = "http")]
pub use http::HttpCheck;
#[cfg(feature = "postgres")]
pub use postgres::PostgresCheck;
#[cfg(feature = "redis")]
pub use redis::RedisCheck;
#[cfg(feature = "smtp")]
pub use smtp::{SmtpCheck, SmtpTls};
pub use system::SystemCheck;

#[cfg(any(feature = "http", feature = "smtp"))]
use std::fmt;

/// Why a built-in check could not be configured. Messages never contain the rejected URL
/// (it may hold credentials), only what was wrong with it.
///
/// ```
/// use pulsecheck::health::checks::ConfigError;
/// let err = ConfigError::UnsupportedScheme("ftp".into());
/// assert_eq!(err.to_string(), "unsupported URL scheme `ftp`");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The URL does not parse.
    #[error("invalid URL: {0}")]
    InvalidUrl(String),
    /// The URL's scheme is not one this check speaks.
    #[error("unsupported URL scheme `{0}`")]
    UnsupportedScheme(String),
    /// A query parameter of the URL is unknown or has an unknown value.
    #[error("invalid URL option `{0}`")]
    InvalidOption(String),
    /// A table name is not a plain SQL identifier (`name` or `schema.name`).
    #[error("`{0}` is not a plain identifier (letters, digits and `_`, optionally `schema.name`)")]
    InvalidIdentifier(String),
    /// A certificate does not parse.
    #[error("invalid certificate: {0}")]
    InvalidCertificate(String),
}

/// A credential: `Debug` prints `***` and there is no `Display`, so it cannot end up in an
/// output, a log line or a `{:?}` by accident.
#[cfg(any(feature = "http", feature = "smtp"))]
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Secret(Box<str>);

#[cfg(any(feature = "http", feature = "smtp"))]
impl Secret {
    pub(crate) fn new(value: impl Into<String>) -> Self {
        Self(value.into().into_boxed_str())
    }

    /// The credential itself, for the one place that sends it.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

#[cfg(any(feature = "http", feature = "smtp"))]
impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Decodes `%XX` escapes (URL userinfo); invalid escapes are kept as they are.
#[cfg(any(feature = "http", feature = "smtp"))]
pub(crate) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| s.get(i + 1..i + 3))
            .flatten()
            .filter(|hex| hex.bytes().all(|b| b.is_ascii_hexdigit()))
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(b) => {
                out.push(b);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(all(test, any(feature = "http", feature = "smtp")))]
mod tests {
    use super::Secret;

    #[test]
    fn secret_debug_is_masked() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "***");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(super::percent_decode("a%40b%2Fc"), "a@b/c");
        assert_eq!(super::percent_decode("100%"), "100%");
        assert_eq!(super::percent_decode("%zz%4"), "%zz%4");
        assert_eq!(super::percent_decode("%+1"), "%+1");
    }
}
