//! Time for the aggregator, in whole seconds: real, or simulated in tests and benchmarks.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Source of the current second.
pub trait Clock: Send + Sync + 'static {
    /// Seconds since the Unix epoch.
    fn now_s(&self) -> u64;
}

/// The system clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_s(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    }
}

/// A clock moved by hand, for tests and simulations.
///
/// ```
/// use pulsecheck::window::{Clock, ManualClock};
/// let clock = ManualClock::new(100);
/// clock.advance(5);
/// assert_eq!(clock.now_s(), 105);
/// ```
#[derive(Clone, Debug, Default)]
pub struct ManualClock(Arc<AtomicU64>);

impl ManualClock {
    /// A clock showing `start_s`.
    pub fn new(start_s: u64) -> Self {
        Self(Arc::new(AtomicU64::new(start_s)))
    }

    /// Moves the clock forward.
    pub fn advance(&self, seconds: u64) {
        self.0.fetch_add(seconds, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_s(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}
