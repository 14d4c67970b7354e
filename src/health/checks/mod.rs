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
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub use http::HttpCheck;
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use postgres::PostgresCheck;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use redis::RedisCheck;
#[cfg(feature = "smtp")]
#[cfg_attr(docsrs, doc(cfg(feature = "smtp")))]
pub use smtp::{SmtpCheck, SmtpTls};
pub use system::SystemCheck;

/// Credentials and URL userinfo: the crate's one [`Secret`] and percent-decoder.
#[cfg(any(feature = "http", feature = "smtp"))]
pub(crate) use crate::redact::{Secret, percent_decode};
