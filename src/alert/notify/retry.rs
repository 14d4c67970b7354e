//! How often and how patiently a notification is retried.

use std::hash::BuildHasher;
use std::time::Duration;

/// Attempts, timeouts and backoff for each notification.
///
/// Between attempts the dispatcher waits `initial_backoff × 2^(retry − 1)`, capped at
/// `max_backoff`, with equal jitter (half fixed, half random, so that receivers coming back
/// are not hit by every process at once); when the receiver sent `Retry-After`, at least that
/// long, capped at `max_retry_after`.
///
/// ```
/// use std::time::Duration;
/// use pulsecheck::alert::notify::RetryPolicy;
///
/// let policy = RetryPolicy::default()
///     .max_attempts(3)
///     .backoff(Duration::from_millis(200), Duration::from_secs(5))
///     .attempt_timeout(Duration::from_secs(2));
/// assert_eq!(policy.attempts(), 3);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    max_attempts: u32,
    initial_backoff: Duration,
    max_backoff: Duration,
    max_retry_after: Duration,
    attempt_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            max_retry_after: Duration::from_secs(120),
            attempt_timeout: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// Attempts per notification, the first included (at least 1). Defaults to 5.
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// The first wait and the longest. Defaults to 1 s and 60 s.
    pub fn backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.initial_backoff = initial;
        self.max_backoff = max.max(initial);
        self
    }

    /// The longest `Retry-After` honoured; a receiver asking for more gets retried sooner.
    /// Defaults to 120 s.
    pub fn max_retry_after(mut self, max: Duration) -> Self {
        self.max_retry_after = max;
        self
    }

    /// How long one attempt may take before it is abandoned and counted as a retryable
    /// failure (a receiver that accepts and never answers). Defaults to 10 s.
    pub fn attempt_timeout(mut self, timeout: Duration) -> Self {
        self.attempt_timeout = timeout;
        self
    }

    /// Attempts per notification.
    pub fn attempts(&self) -> u32 {
        self.max_attempts
    }

    pub(crate) fn timeout(&self) -> Duration {
        self.attempt_timeout
    }

    /// The wait before retry number `retry` (1 for the wait after the first attempt).
    pub(crate) fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        let exp = 2u32.saturating_pow(retry.saturating_sub(1));
        let backoff = self
            .initial_backoff
            .saturating_mul(exp)
            .min(self.max_backoff);
        let half = backoff / 2;
        let jittered = half + half.mul_f64(random_unit());
        match retry_after {
            Some(asked) => jittered.max(asked.min(self.max_retry_after)),
            None => jittered,
        }
    }
}

/// A number in [0, 1). Each `RandomState` is seeded differently, so hashing a constant with a
/// fresh one is a cheap random source: jitter needs spread, not cryptographic quality, and no
/// crate is added for it.
fn random_unit() -> f64 {
    let bits = std::collections::hash_map::RandomState::new().hash_one(0u8) >> 11;
    bits as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_within_bounds_and_honours_retry_after() {
        let p = RetryPolicy::default().backoff(Duration::from_secs(1), Duration::from_secs(8));
        for _ in 0..100 {
            let d1 = p.delay(1, None);
            assert!(d1 >= Duration::from_millis(500) && d1 <= Duration::from_secs(1));
            let d3 = p.delay(3, None);
            assert!(d3 >= Duration::from_secs(2) && d3 <= Duration::from_secs(4));
            let d9 = p.delay(9, None);
            assert!(d9 >= Duration::from_secs(4) && d9 <= Duration::from_secs(8));
            assert!(p.delay(40, None) <= Duration::from_secs(8));
        }
        assert!(p.delay(1, Some(Duration::from_secs(30))) == Duration::from_secs(30));
        assert_eq!(
            p.delay(1, Some(Duration::from_secs(3600))),
            Duration::from_secs(120)
        );
        assert_eq!(RetryPolicy::default().max_attempts(0).attempts(), 1);
    }

    #[test]
    fn jitter_spreads() {
        let values: std::collections::HashSet<u64> =
            (0..50).map(|_| random_unit().to_bits()).collect();
        assert!(values.len() > 40);
    }
}
