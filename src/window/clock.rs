//! Time for the aggregator, in whole seconds: real, or simulated in tests and benchmarks.
//!
//! Two readings, for two jobs. Windows advance on a **monotonic** clock: a wall-clock step
//! backwards (an NTP correction, an operator's `date -s`) must not freeze them, and a step
//! forward must not expire an hour of data at once. The **wall** clock only labels what users
//! see (the timestamps of chart points).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Source of the current second.
pub trait Clock: Send + Sync + 'static {
    /// Wall time: seconds since the Unix epoch. Used only for timestamps shown to users.
    fn now_s(&self) -> u64;

    /// Monotonic seconds since an arbitrary origin: never goes back, unaffected by changes to
    /// the wall clock. Windows advance on this.
    fn monotonic_s(&self) -> u64;
}

/// The system clock: `SystemTime` for the wall, `Instant` for the windows.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

/// The process-wide origin of [`SystemClock::monotonic_s`], shared with the ticker so that it
/// wakes just after each monotonic second.
fn origin() -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    *ORIGIN.get_or_init(Instant::now)
}

/// How long until just after the next second of [`SystemClock::monotonic_s`].
pub(crate) fn until_next_monotonic_second() -> Duration {
    let since = origin().elapsed();
    Duration::from_secs(1).saturating_sub(Duration::from_nanos(u64::from(since.subsec_nanos())))
        + Duration::from_millis(1)
}

impl Clock for SystemClock {
    fn now_s(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    }

    fn monotonic_s(&self) -> u64 {
        origin().elapsed().as_secs()
    }
}

/// A clock moved by hand, for tests and simulations. [`advance`](Self::advance) moves both
/// readings; [`step_wall`](Self::step_wall) moves only the wall clock, as an NTP step does.
///
/// ```
/// use pulsecheck::window::{Clock, ManualClock};
/// let clock = ManualClock::new(100);
/// clock.advance(5);
/// assert_eq!((clock.now_s(), clock.monotonic_s()), (105, 105));
/// clock.step_wall(-60);
/// assert_eq!((clock.now_s(), clock.monotonic_s()), (45, 105));
/// ```
#[derive(Clone, Debug, Default)]
pub struct ManualClock {
    wall: Arc<AtomicU64>,
    monotonic: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock showing `start_s` on both readings.
    pub fn new(start_s: u64) -> Self {
        Self {
            wall: Arc::new(AtomicU64::new(start_s)),
            monotonic: Arc::new(AtomicU64::new(start_s)),
        }
    }

    /// Lets `seconds` pass: both readings move forward.
    pub fn advance(&self, seconds: u64) {
        self.wall.fetch_add(seconds, Ordering::SeqCst);
        self.monotonic.fetch_add(seconds, Ordering::SeqCst);
    }

    /// Steps the wall clock by `seconds` (negative: backwards, saturating at the epoch)
    /// without time passing: the monotonic reading does not move.
    pub fn step_wall(&self, seconds: i64) {
        let _ = self
            .wall
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |w| {
                Some(w.saturating_add_signed(seconds))
            });
    }
}

impl Clock for ManualClock {
    fn now_s(&self) -> u64 {
        self.wall.load(Ordering::SeqCst)
    }

    fn monotonic_s(&self) -> u64 {
        self.monotonic.load(Ordering::SeqCst)
    }
}
