//! Process memory against a budget, and free disk space.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use crate::health::{Check, CheckError, ComponentKind, Observation};

/// Default share of the memory budget above which [`SystemCheck::memory`] warns.
const DEFAULT_WARN_PERCENT: f64 = 80.0;

/// Host and process resources, in two flavours:
///
/// - [`SystemCheck::memory`] (name `memory`): the process's resident memory (RSS) against a
///   budget, reported as `memory:utilization` in percent; `warn` from 80 % of the budget
///   ([`warn_at`](Self::warn_at)), `fail` above 100 %.
/// - [`SystemCheck::disk`] (name `disk`): the space an unprivileged process may still write
///   on the file system holding a path, reported as `disk:free` in bytes; `fail` below the
///   minimum.
///
/// Both have kind `system`, are non-critical by default (a full disk or a fat process is
/// rarely a reason to take an instance out of rotation) and need no cargo feature.
///
/// ```
/// use pulsecheck::health::checks::SystemCheck;
/// use pulsecheck::health::{Check, ComponentKind};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let memory = SystemCheck::memory(64 * 1024 * 1024 * 1024).warn_at(90.0);
/// assert_eq!(memory.kind(), ComponentKind::System);
/// # if cfg!(target_os = "linux") {
/// assert!(!memory.check().await.unwrap().is_warn());
/// # }
/// let disk = SystemCheck::disk("/", 1);
/// # if cfg!(unix) {
/// assert!(disk.check().await.is_ok());
/// # }
/// # });
/// ```
#[derive(Clone, Debug)]
pub struct SystemCheck {
    resource: Resource,
}

#[derive(Clone, Debug)]
enum Resource {
    Memory {
        limit: u64,
        warn_percent: f64,
    },
    Disk {
        path: PathBuf,
        min_free: u64,
        read: ReadSpace,
        reading: Arc<Reading>,
    },
}

/// Reads the space of the file system holding a path (a seam: tests put a call that hangs).
type ReadSpace = fn(&Path) -> std::io::Result<DiskSpace>;

/// The disk check's blocking read, at most one at a time: on a hung mount `statvfs` never
/// returns, and a probe per timeout each leaving a stuck thread would use up Tokio's blocking
/// pool. While a read is still running, a probe reports it instead of starting another.
#[derive(Debug, Default)]
struct Reading {
    /// When the running read started.
    since: Mutex<Option<Instant>>,
}

/// Marks the read finished when dropped: after it returns, panics, or is never run (the
/// runtime shutting down drops the closure).
struct ReadDone(Arc<Reading>);

impl Drop for ReadDone {
    fn drop(&mut self) {
        *self.0.since.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }
}

impl SystemCheck {
    /// Checks the process's resident memory against `limit_bytes` (the service's memory
    /// budget). Warns from 80 % of it, fails above it.
    pub fn memory(limit_bytes: u64) -> Self {
        Self {
            resource: Resource::Memory {
                limit: limit_bytes,
                warn_percent: DEFAULT_WARN_PERCENT,
            },
        }
    }

    /// Checks that the file system holding `path` has at least `min_free_bytes` available
    /// to this (unprivileged) process.
    pub fn disk(path: impl Into<PathBuf>, min_free_bytes: u64) -> Self {
        Self::disk_read_with(path, min_free_bytes, disk_space)
    }

    /// A disk check whose space is read by `read` instead of `statvfs`.
    fn disk_read_with(path: impl Into<PathBuf>, min_free_bytes: u64, read: ReadSpace) -> Self {
        Self {
            resource: Resource::Disk {
                path: path.into(),
                min_free: min_free_bytes,
                read,
                reading: Arc::default(),
            },
        }
    }

    /// The utilisation, in percent of the memory budget, from which the memory check warns.
    /// No effect on a disk check. Defaults to 80.
    pub fn warn_at(mut self, percent: f64) -> Self {
        if let Resource::Memory { warn_percent, .. } = &mut self.resource {
            *warn_percent = percent;
        }
        self
    }

    fn check_memory(limit: u64, warn_percent: f64) -> Result<Observation, CheckError> {
        let Some(rss) = crate::system::rss_bytes() else {
            return Ok(Observation::warn(
                "resident memory is not readable on this platform",
            ));
        };
        // A zero budget is full as soon as the process uses anything.
        let percent = if limit == 0 {
            f64::INFINITY
        } else {
            rss as f64 * 100.0 / limit as f64
        };
        let shown = round1(percent);
        if percent > 100.0 {
            return Err(CheckError::new(format!(
                "resident memory {} is {}% of the {} budget",
                mib(rss),
                shown_percent(percent),
                mib(limit)
            ))
            .measured("utilization", shown, Some("percent")));
        }
        let obs = if percent >= warn_percent {
            Observation::warn(format!(
                "resident memory {} is {}% of the {} budget",
                mib(rss),
                shown_percent(percent),
                mib(limit)
            ))
        } else {
            Observation::pass()
        };
        Ok(obs
            .measured("utilization", shown, Some("percent"))
            .detail("rss_bytes", rss)
            .detail("limit_bytes", limit))
    }

    fn check_disk(path: &Path, min_free: u64, read: ReadSpace) -> Result<Observation, CheckError> {
        let space = read(path).map_err(|e| {
            CheckError::new(format!("cannot read free space of {}: {e}", path.display()))
        })?;
        if space.available < min_free {
            return Err(CheckError::new(format!(
                "{} free on {}, below the {} minimum",
                mib(space.available),
                path.display(),
                mib(min_free)
            ))
            .measured("free", space.available, Some("bytes")));
        }
        Ok(Observation::pass()
            .measured("free", space.available, Some("bytes"))
            .detail("path", path.display().to_string())
            .detail("total_bytes", space.total)
            .detail("min_free_bytes", min_free))
    }
}

impl Check for SystemCheck {
    async fn check(&self) -> Result<Observation, CheckError> {
        match &self.resource {
            Resource::Memory {
                limit,
                warn_percent,
            } => Self::check_memory(*limit, *warn_percent),
            Resource::Disk {
                path,
                min_free,
                read,
                reading,
            } => {
                // statvfs is a quick syscall, but on a hung network mount it blocks: keep it off
                // the async workers, and never more than one read at a time. Dropping the probe
                // (a timeout) abandons the read's result; the read keeps its thread until it
                // returns, and until then later probes fail at once.
                {
                    let mut since = reading.since.lock().unwrap_or_else(PoisonError::into_inner);
                    if let Some(since) = *since {
                        return Err(CheckError::new(format!(
                            "reading the free space of {} has not returned for {} ms (hung mount?); no new read until it does",
                            path.display(),
                            since.elapsed().as_millis()
                        )));
                    }
                    *since = Some(Instant::now());
                }
                let done = ReadDone(Arc::clone(reading));
                let (path, min_free, read) = (path.clone(), *min_free, *read);
                tokio::task::spawn_blocking(move || {
                    let _done = done;
                    Self::check_disk(&path, min_free, read)
                })
                .await
                .map_err(|e| CheckError::new(format!("disk check did not finish: {e}")))?
            }
        }
    }

    fn name(&self) -> Cow<'static, str> {
        match self.resource {
            Resource::Memory { .. } => "memory".into(),
            Resource::Disk { .. } => "disk".into(),
        }
    }

    fn kind(&self) -> ComponentKind {
        ComponentKind::System
    }
}

struct DiskSpace {
    available: u64,
    total: u64,
}

#[cfg(unix)]
fn disk_space(path: &Path) -> std::io::Result<DiskSpace> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;

    let c_path = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "NUL in path"))?;
    let mut stat = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `c_path` is a valid NUL-terminated string and `stat` points to writable memory
    // of the right size; statvfs only writes to it.
    let rc = unsafe { libc::statvfs(c_path.as_ptr(), stat.as_mut_ptr()) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: statvfs returned 0, so it filled the struct.
    let stat = unsafe { stat.assume_init() };
    // The field widths differ between platforms; all are unsigned and fit in u64.
    #[allow(clippy::unnecessary_cast)]
    let (frsize, bavail, blocks) = (
        stat.f_frsize as u64,
        stat.f_bavail as u64,
        stat.f_blocks as u64,
    );
    Ok(DiskSpace {
        available: bavail.saturating_mul(frsize),
        total: blocks.saturating_mul(frsize),
    })
}

#[cfg(not(unix))]
fn disk_space(_path: &Path) -> std::io::Result<DiskSpace> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "free disk space is only read on Unix",
    ))
}

fn round1(x: f64) -> f64 {
    if x.is_finite() {
        (x * 10.0).round() / 10.0
    } else {
        x
    }
}

fn shown_percent(x: f64) -> String {
    if x.is_finite() {
        format!("{:.1}", x)
    } else {
        "∞".to_owned()
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn names_and_kinds() {
        assert_eq!(SystemCheck::memory(1).name(), "memory");
        assert_eq!(SystemCheck::disk("/", 1).name(), "disk");
        assert_eq!(SystemCheck::disk("/", 1).kind(), ComponentKind::System);
        assert!(!SystemCheck::memory(1).critical_by_default());
    }

    /// A read that blocks until [`release`] (a hung mount), counting calls and how many run.
    mod hung {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::{Condvar, Mutex};

        use super::super::DiskSpace;

        pub(super) static CALLS: AtomicUsize = AtomicUsize::new(0);
        pub(super) static RUNNING: AtomicUsize = AtomicUsize::new(0);
        pub(super) static MAX_RUNNING: AtomicUsize = AtomicUsize::new(0);
        static GATE: (Mutex<bool>, Condvar) = (Mutex::new(false), Condvar::new());

        pub(super) fn read(_: &std::path::Path) -> std::io::Result<DiskSpace> {
            CALLS.fetch_add(1, Ordering::SeqCst);
            let now = RUNNING.fetch_add(1, Ordering::SeqCst) + 1;
            MAX_RUNNING.fetch_max(now, Ordering::SeqCst);
            let mut open = GATE.0.lock().unwrap();
            while !*open {
                open = GATE.1.wait(open).unwrap();
            }
            RUNNING.fetch_sub(1, Ordering::SeqCst);
            Ok(DiskSpace {
                available: 10 << 30,
                total: 20 << 30,
            })
        }

        pub(super) fn release() {
            *GATE.0.lock().unwrap() = true;
            GATE.1.notify_all();
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_hung_read_keeps_one_thread_however_many_probes_time_out() {
        use std::sync::atomic::Ordering;
        use std::time::Duration;

        use crate::health::{CheckExt as _, CheckStatus, Health, HealthConfig, Refresh};

        let health = Health::builder()
            .config(HealthConfig {
                refresh: Refresh::OnDemand,
                ..HealthConfig::default()
            })
            .check(
                SystemCheck::disk_read_with("/mnt/hung", 1, hung::read)
                    .timeout(Duration::from_millis(20))
                    .ttl(Duration::ZERO)
                    .failure_ttl(Duration::ZERO),
            )
            .build();
        let mut errors = Vec::new();
        for _ in 0..50 {
            let report = health.report().await;
            let check = &report.checks[0];
            assert_eq!(check.status(), CheckStatus::Down);
            errors.push(check.result.as_ref().unwrap().error.clone().unwrap());
        }
        // Give any extra blocking thread time to start before counting.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let (calls, max) = (
            hung::CALLS.load(Ordering::SeqCst),
            hung::MAX_RUNNING.load(Ordering::SeqCst),
        );
        // The mount comes back before any assertion, so a failure cannot leave threads
        // blocked for the runtime's shutdown to wait on.
        hung::release();
        assert_eq!(health.probes_started(), 50);
        assert_eq!(
            (calls, max),
            (1, 1),
            "50 timed-out probes of a hung mount started {calls} reads, {max} at once"
        );
        assert!(errors[0].contains("timed out"), "{}", errors[0]);
        assert!(
            errors[49].contains("has not returned") && errors[49].contains("/mnt/hung"),
            "{}",
            errors[49]
        );

        // The stuck read returns, and the next probe reads again.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let report = health.report().await;
            if report.checks[0].status() == CheckStatus::Up {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "disk check never recovered"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(hung::CALLS.load(Ordering::SeqCst), 2);
        assert_eq!(hung::RUNNING.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn zero_budget_fails_rather_than_dividing_by_zero() {
        if crate::system::rss_bytes().is_some() {
            let err = SystemCheck::memory(0).check().await.unwrap_err();
            assert!(err.message().contains("budget"), "{err}");
        }
    }
}
