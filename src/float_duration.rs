//! Numbers from configuration and flags into [`Duration`]s, with an error where
//! `Duration::from_secs_f64` would panic (NaN, negative, too large) and a ceiling the caller
//! picks, so that nothing a user types can later overflow `Instant + Duration`.
//!
//! Every float-to-duration conversion of a configured or typed value goes through here: the
//! same input always gives the same integer nanoseconds, wherever it is converted.

use std::time::Duration;

/// Why a number is not a duration. The caller names the field or flag.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// NaN, infinite or below zero.
    #[error("must be a finite number, at least 0")]
    NotANumber,
    /// Over the ceiling.
    #[error("must be at most {}", show(*max))]
    TooLarge {
        /// The ceiling.
        max: Duration,
    },
}

/// `365 days`, `60s`: whole days as days (humantime writes a year as `11months 30days ...`).
fn show(d: Duration) -> String {
    if d.subsec_nanos() == 0 && d.as_secs().is_multiple_of(86_400) && d.as_secs() > 0 {
        format!("{} days", d.as_secs() / 86_400)
    } else {
        humantime::format_duration(d).to_string()
    }
}

/// `secs` seconds, at most `max`.
// Flags only (`--timeout 1e20`, a load schedule: the command line); configuration goes through
// `from_millis_f64`.
pub fn from_secs_f64(secs: f64, max: Duration) -> Result<Duration, DurationError> {
    if !secs.is_finite() || secs < 0.0 {
        return Err(DurationError::NotANumber);
    }
    match Duration::try_from_secs_f64(secs) {
        Ok(d) if d <= max => Ok(d),
        _ => Err(DurationError::TooLarge { max }),
    }
}

/// `ms` milliseconds rounded to the nearest nanosecond, at most `max`. Rounds `ms × 10⁶`
/// directly (not `ms / 1000` seconds), so a decimal such as 33.3 ms is exactly 33 300 000 ns.
pub(crate) fn from_millis_f64(ms: f64, max: Duration) -> Result<Duration, DurationError> {
    if !ms.is_finite() || ms < 0.0 {
        return Err(DurationError::NotANumber);
    }
    let ns = (ms * 1e6).round();
    // 2^64 as f64; every smaller non-negative f64 converts to u64 exactly.
    if ns >= 18_446_744_073_709_551_616.0 {
        return Err(DurationError::TooLarge { max });
    }
    let d = Duration::from_nanos(ns as u64);
    if d > max {
        return Err(DurationError::TooLarge { max });
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Duration = Duration::from_secs(86_400);

    #[test]
    fn huge_nan_and_negative_values_are_errors_not_panics() {
        for v in [1e20, 1e300, f64::MAX] {
            let too_large = Err(DurationError::TooLarge { max: DAY });
            assert_eq!(from_secs_f64(v, DAY), too_large);
            assert_eq!(from_millis_f64(v, DAY), too_large);
        }
        for v in [f64::NAN, -1.0, f64::INFINITY, f64::NEG_INFINITY] {
            assert_eq!(from_secs_f64(v, DAY), Err(DurationError::NotANumber));
            assert_eq!(from_millis_f64(v, DAY), Err(DurationError::NotANumber));
        }
        assert_eq!(from_secs_f64(1.5, DAY), Ok(Duration::from_millis(1500)));
        assert_eq!(from_secs_f64(86_400.0, DAY), Ok(DAY));
        assert!(from_secs_f64(86_400.001, DAY).is_err());
    }

    #[test]
    fn decimal_milliseconds_are_exact_nanoseconds() {
        let max = Duration::MAX;
        assert_eq!(
            from_millis_f64(33.3, max),
            Ok(Duration::from_micros(33_300))
        );
        assert_eq!(from_millis_f64(0.1, max), Ok(Duration::from_micros(100)));
        assert_eq!(from_millis_f64(250.0, max), Ok(Duration::from_millis(250)));
        assert_eq!(from_millis_f64(1e-7, max), Ok(Duration::ZERO));
    }
}
