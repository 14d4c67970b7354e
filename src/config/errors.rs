//! `[errors]`: which statuses count as errors.

use serde::Deserialize;

use crate::window::ErrorPolicy;

/// Which statuses count as errors.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Errors {
    /// Status classes counted as errors (`5` for 5xx). Defaults to `[5]`.
    pub classes: Vec<u16>,
    /// Extra statuses counted as errors (e.g. `429`). Defaults to none.
    pub statuses: Vec<u16>,
    /// Whether a request the client gave up on (recorded as
    /// [`CANCELLED_STATUS`](crate::layer::CANCELLED_STATUS), 499) counts as an error: it was
    /// not served. Decides for 499 whatever `classes` says. Defaults to `true`.
    pub count_cancelled: bool,
}

impl Default for Errors {
    fn default() -> Self {
        Self {
            classes: vec![5],
            statuses: Vec::new(),
            count_cancelled: true,
        }
    }
}

impl Errors {
    /// As an [`ErrorPolicy`].
    ///
    /// ```
    /// use pulsecheck::config::PulseConfig;
    /// let quiet = PulseConfig::from_toml_str("[errors]\nclasses = [4, 5]\ncount_cancelled = false\n").unwrap();
    /// let p = quiet.errors.policy();
    /// assert!(p.is_error(404) && p.is_error(503) && !p.is_error(499));
    /// assert!(PulseConfig::default().errors.policy().is_error(499));
    /// ```
    pub fn policy(&self) -> ErrorPolicy {
        let mut p = ErrorPolicy::none();
        for c in &self.classes {
            p = p.with_class(*c);
        }
        for s in &self.statuses {
            p = p.with_status(*s);
        }
        if self.count_cancelled {
            p.with_status(crate::layer::CANCELLED_STATUS)
        } else {
            p.without_status(crate::layer::CANCELLED_STATUS)
        }
    }
}
