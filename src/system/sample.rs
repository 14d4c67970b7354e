//! One reading of the process and the host, as served by `/health/system`.

use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;

#[cfg(target_os = "linux")]
use super::procfs;

/// The process and the host at one instant. Fields the platform cannot give are `None`
/// (everything but `sampled_at` off Linux).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SystemSample {
    /// When the sample was taken (RFC 3339 in JSON).
    #[serde(serialize_with = "crate::rfc3339::serialize")]
    pub sampled_at: SystemTime,
    /// This process.
    pub process: ProcessSample,
    /// The machine (or container) it runs on.
    pub host: HostSample,
}

/// This process.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ProcessSample {
    /// Resident set size (`VmRSS`).
    pub rss_bytes: Option<u64>,
    /// CPU used since the previous sample, in percent of one core (as `top` shows it: 200
    /// is two busy cores). `None` in the very first sample, which has nothing to compare
    /// with; the sampler takes the second one at most 1 s later.
    pub cpu_percent: Option<f64>,
    /// [`ProcessSample::cpu_percent`] divided by the number of CPUs available: 0..=1, the
    /// OpenTelemetry `process.cpu.utilization`.
    pub cpu_utilization: Option<f64>,
    /// User-mode CPU time since the process started, in seconds.
    pub cpu_user_s: Option<f64>,
    /// Kernel-mode CPU time since the process started, in seconds.
    pub cpu_system_s: Option<f64>,
    /// Threads.
    pub threads: Option<u64>,
    /// Open file descriptors (entries of `/proc/self/fd`).
    pub open_fds: Option<u64>,
    /// Seconds since the process started.
    pub uptime_s: Option<f64>,
}

/// The machine the process runs on.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct HostSample {
    /// CPUs available to the process.
    pub cpus: Option<u64>,
    /// `MemTotal`.
    pub memory_total_bytes: Option<u64>,
    /// `MemAvailable`: what can be allocated without swapping.
    pub memory_available_bytes: Option<u64>,
    /// Load average over 1 minute.
    pub load_1m: Option<f64>,
    /// Load average over 5 minutes.
    pub load_5m: Option<f64>,
    /// Load average over 15 minutes.
    pub load_15m: Option<f64>,
}

impl SystemSample {
    /// Total CPU seconds (user + system), when known.
    pub fn cpu_seconds(&self) -> Option<f64> {
        Some(self.process.cpu_user_s? + self.process.cpu_system_s?)
    }
}

/// What the previous sample left for computing CPU % over the interval.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CpuMark {
    cpu_s: f64,
    at: Instant,
}

/// Takes one sample; CPU % is measured since `previous`, and absent without it.
#[cfg_attr(not(target_os = "linux"), allow(unused_mut))]
pub(crate) fn take(previous: Option<CpuMark>) -> (SystemSample, Option<CpuMark>) {
    let now = Instant::now();
    let cpus = std::thread::available_parallelism()
        .ok()
        .map(|n| n.get() as u64);
    let mut process = ProcessSample::default();
    let mut host = HostSample {
        cpus,
        ..HostSample::default()
    };
    let mut mark = None;
    #[cfg(target_os = "linux")]
    {
        let read = |p: &str| std::fs::read_to_string(p).ok();
        let ticks = clock_ticks();
        let boot_uptime = read("/proc/uptime").and_then(|t| procfs::parse_uptime(&t));
        if let Some(stat) = read("/proc/self/stat").and_then(|t| procfs::parse_stat(&t)) {
            process.threads = Some(stat.threads);
            if let Some(hz) = ticks {
                let user = round_ms(stat.utime_ticks as f64 / hz);
                let system = round_ms(stat.stime_ticks as f64 / hz);
                process.cpu_user_s = Some(user);
                process.cpu_system_s = Some(system);
                let cpu_s = user + system;
                process.uptime_s =
                    boot_uptime.map(|up| round_ms(up - stat.start_ticks as f64 / hz));
                if let Some(p) = previous {
                    let elapsed = now.duration_since(p.at);
                    if elapsed > Duration::from_millis(1) {
                        let pct = ((cpu_s - p.cpu_s).max(0.0) / elapsed.as_secs_f64()) * 100.0;
                        process.cpu_percent = Some(pct);
                        process.cpu_utilization = cpus.map(|n| pct / 100.0 / n as f64);
                    }
                }
                mark = Some(CpuMark { cpu_s, at: now });
            }
        }
        process.rss_bytes = read("/proc/self/status").and_then(|t| procfs::parse_status_rss(&t));
        process.open_fds = std::fs::read_dir("/proc/self/fd")
            .ok()
            .map(|d| d.count() as u64);
        if let Some(t) = read("/proc/meminfo") {
            (host.memory_total_bytes, host.memory_available_bytes) = procfs::parse_meminfo(&t);
        }
        if let Some([l1, l5, l15]) = read("/proc/loadavg").and_then(|t| procfs::parse_loadavg(&t)) {
            (host.load_1m, host.load_5m, host.load_15m) = (Some(l1), Some(l5), Some(l15));
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (previous, now);
    (
        SystemSample {
            sampled_at: SystemTime::now(),
            process,
            host,
        },
        mark,
    )
}

/// Non-negative, to the millisecond (the inputs have centisecond resolution).
#[cfg(target_os = "linux")]
fn round_ms(s: f64) -> f64 {
    (s.max(0.0) * 1e3).round() / 1e3
}

/// Clock ticks per second (`_SC_CLK_TCK`, 100 on Linux).
#[cfg(target_os = "linux")]
fn clock_ticks() -> Option<f64> {
    // SAFETY: sysconf has no preconditions; it returns -1 for an unknown name.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (hz > 0).then_some(hz as f64)
}
