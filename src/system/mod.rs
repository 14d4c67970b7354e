//! Process and host resources: RSS, CPU %, threads, open file descriptors, host memory and
//! load, sampled off the request path by a background thread and read as a copied snapshot.
//!
//! On Linux every figure comes from `/proc` (no extra crate, no scan of other processes);
//! elsewhere the fields are `None`. The samples feed `GET /health/system`, `GET /metrics` and
//! the OpenTelemetry gauges `process.memory.usage`, `process.cpu.utilization`,
//! `process.cpu.time`, `process.thread.count`, `process.unix.file_descriptor.count`,
//! `process.uptime`, `system.memory.usage`, `system.memory.limit`,
//! `system.memory.linux.available` and `pulsecheck.system.load_average`.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use pulsecheck::system::SystemMonitor;
//!
//! let monitor = SystemMonitor::start(Duration::from_secs(30))?;
//! let sample = monitor.latest(); // a copy; the first sample is taken by `start`
//! if cfg!(target_os = "linux") {
//!     assert!(sample.process.rss_bytes.unwrap() > 0);
//!     assert!(sample.process.threads.unwrap() >= 1);
//! }
//! # Ok::<(), pulsecheck::system::SystemError>(())
//! ```

mod metrics;
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub(crate) mod procfs;
mod sample;

use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

use crate::env;

pub(crate) use metrics::register_metrics;
pub(crate) use procfs::rss_bytes;
pub use sample::{HostSample, ProcessSample, SystemSample};

/// Shortest interval the sampler accepts; shorter ones are raised to it.
pub const MIN_INTERVAL: Duration = Duration::from_millis(100);
/// Longest wait for the second sample, the first with a CPU %.
const FIRST_REFRESH_MAX: Duration = Duration::from_secs(1);

/// Why the system sampler could not start.
#[derive(Debug, thiserror::Error)]
pub enum SystemError {
    /// `PULSE_SYSTEM_INTERVAL` is not a duration.
    #[error("PULSE_SYSTEM_INTERVAL={value:?} is not a duration such as `30s` or `500ms`")]
    Interval {
        /// The rejected value (at most 64 characters).
        value: String,
    },
    /// The sampler thread could not be spawned.
    #[error("cannot start the system sampler thread: {0}")]
    Spawn(#[source] std::io::Error),
}

/// The interval from [`PULSE_SYSTEM_INTERVAL`](env::PULSE_SYSTEM_INTERVAL), or
/// [`PULSE_SYSTEM_INTERVAL_DEFAULT`](env::PULSE_SYSTEM_INTERVAL_DEFAULT) when it is unset or
/// blank.
pub fn interval_from_env() -> Result<Duration, SystemError> {
    env::duration(
        env::PULSE_SYSTEM_INTERVAL,
        env::PULSE_SYSTEM_INTERVAL_DEFAULT,
    )
    .map_err(|value| SystemError::Interval { value })
}

struct Shared {
    latest: RwLock<Arc<SystemSample>>,
    interval: Duration,
    /// Dropping it (here or with `Shared`) wakes and ends the sampler thread.
    stop: Mutex<Option<Sender<()>>>,
}

/// The sampler's handle: the latest sample, cheap to clone. The thread stops when
/// [`SystemMonitor::stop`] is called or every clone is dropped. See the
/// [module docs](self) for an example.
#[derive(Clone)]
pub struct SystemMonitor {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for SystemMonitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SystemMonitor")
            .field("interval", &self.shared.interval)
            .finish_non_exhaustive()
    }
}

impl SystemMonitor {
    /// Takes a first sample, then starts a thread sampling every `interval` (at least
    /// [`MIN_INTERVAL`]). The second sample comes after at most 1 s, since CPU
    /// % needs two.
    pub fn start(interval: Duration) -> Result<Self, SystemError> {
        let interval = interval.max(MIN_INTERVAL);
        let (first, mut mark) = sample::take(None);
        let (tx, rx) = mpsc::channel::<()>();
        let shared = Arc::new(Shared {
            latest: RwLock::new(Arc::new(first)),
            interval,
            stop: Mutex::new(Some(tx)),
        });
        let weak: Weak<Shared> = Arc::downgrade(&shared);
        std::thread::Builder::new()
            .name("pulsecheck-system".into())
            .spawn(move || {
                // The second sample comes early so that CPU % (a delta) is known soon after
                // start; then one per interval. A message or a dropped sender (stop, or the
                // last handle gone) ends the loop.
                let mut wait = interval.min(FIRST_REFRESH_MAX);
                while let Err(RecvTimeoutError::Timeout) = rx.recv_timeout(wait) {
                    wait = interval;
                    let Some(shared) = weak.upgrade() else { break };
                    let (s, m) = sample::take(mark);
                    mark = m;
                    *shared.latest.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(s);
                }
                tracing::debug!(target: "pulsecheck", "system sampler stopped");
            })
            .map_err(SystemError::Spawn)?;
        tracing::debug!(target: "pulsecheck", interval_ms = interval.as_millis() as u64, "system sampler started");
        Ok(Self { shared })
    }

    /// The latest sample (a shared copy; the sampler replaces it, never mutates it).
    pub fn latest(&self) -> Arc<SystemSample> {
        Arc::clone(&self.shared.latest.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// The interval in force.
    pub fn interval(&self) -> Duration {
        self.shared.interval
    }

    /// Stops the sampler thread; [`SystemMonitor::latest`] keeps the last sample. Safe to
    /// call twice.
    pub fn stop(&self) {
        self.shared
            .stop
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
    }

    fn downgrade(&self) -> Weak<Shared> {
        Arc::downgrade(&self.shared)
    }

    fn from_weak(weak: &Weak<Shared>) -> Option<Self> {
        weak.upgrade().map(|shared| Self { shared })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampler_replaces_the_sample_at_its_interval_and_stops() {
        let m = SystemMonitor::start(Duration::from_millis(100)).expect("starts");
        let first = m.latest().sampled_at;
        std::thread::sleep(Duration::from_millis(350));
        let second = m.latest().sampled_at;
        assert!(second > first, "no new sample after 350 ms at 100 ms");
        m.stop();
        std::thread::sleep(Duration::from_millis(150));
        let stopped = m.latest().sampled_at;
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(m.latest().sampled_at, stopped, "sampled after stop");
    }

    #[test]
    fn interval_is_raised_to_the_minimum() {
        let m = SystemMonitor::start(Duration::ZERO).expect("starts");
        assert_eq!(m.interval(), MIN_INTERVAL);
    }
}
