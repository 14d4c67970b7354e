//! Why configuration was refused: the crate's one configuration error, for `pulsecheck.toml`,
//! the environment and the built-in checks' URLs alike.

use std::path::PathBuf;

/// Why configuration was refused. Each names the field or variable to fix; none contains a
/// rejected URL (it may hold credentials), only what was wrong with it.
///
/// ```
/// use pulsecheck::config::{ConfigError, PulseConfig};
/// let err = PulseConfig::from_toml_str("[budgets]\nwarn_ratio = 2\n").unwrap_err();
/// assert!(matches!(&err, ConfigError::Invalid { field, .. } if field == "budgets.warn_ratio"));
/// let err = ConfigError::UnsupportedScheme("ftp".into());
/// assert_eq!(err.to_string(), "unsupported URL scheme `ftp`");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {reason}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        reason: String,
    },
    /// The file is not valid TOML or has unknown or mistyped fields.
    #[error("{path}: {reason}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message, naming the key and line.
        reason: String,
    },
    /// A value is out of range.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The field (`budgets.p95_ms`) or variable (`PULSE_BUDGET_P95_MS`).
        field: String,
        /// What is wrong.
        reason: String,
    },
    // --- The built-in health checks' settings (`pulsecheck::health::checks`) ---
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
