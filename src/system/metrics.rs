//! The samples as OpenTelemetry observable gauges, read at export time from the latest sample
//! (names from opentelemetry-semantic-conventions 0.33; load average has none there).

use opentelemetry::KeyValue;
use opentelemetry_semantic_conventions::attribute::{CPU_MODE, SYSTEM_MEMORY_STATE};
use opentelemetry_semantic_conventions::metric as semconv;

use super::{SystemMonitor, SystemSample};

/// Registers the gauges on the global meter. They hold a weak reference: once the monitor
/// is dropped they report nothing.
pub(crate) fn register_metrics(monitor: &SystemMonitor) {
    let meter = crate::instrumentation::meter();
    let weak = monitor.downgrade();
    let latest = move || SystemMonitor::from_weak(&weak).map(|m| m.latest());

    let l = latest.clone();
    let _rss = meter
        .u64_observable_gauge(semconv::PROCESS_MEMORY_USAGE)
        .with_unit("By")
        .with_description("Resident set size of the process")
        .with_callback(move |o| {
            if let Some(v) = l().and_then(|s| s.process.rss_bytes) {
                o.observe(v, &[]);
            }
        })
        .build();
    let l = latest.clone();
    let _cpu = meter
        .f64_observable_gauge(semconv::PROCESS_CPU_UTILIZATION)
        .with_unit("1")
        .with_description("CPU used by the process over the last sampling interval, divided by the CPUs available")
        .with_callback(move |o| {
            if let Some(v) = l().and_then(|s| s.process.cpu_utilization) {
                o.observe(v, &[]);
            }
        })
        .build();
    let l = latest.clone();
    let _cpu_time = meter
        .f64_observable_counter(semconv::PROCESS_CPU_TIME)
        .with_unit("s")
        .with_description("CPU time used by the process, by mode")
        .with_callback(move |o| {
            if let Some(s) = l() {
                for (mode, v) in [
                    ("user", s.process.cpu_user_s),
                    ("system", s.process.cpu_system_s),
                ] {
                    if let Some(v) = v {
                        o.observe(v, &[KeyValue::new(CPU_MODE, mode)]);
                    }
                }
            }
        })
        .build();
    let l = latest.clone();
    let _threads = meter
        .u64_observable_gauge(semconv::PROCESS_THREAD_COUNT)
        .with_unit("{thread}")
        .with_description("Threads of the process")
        .with_callback(move |o| {
            if let Some(v) = l().and_then(|s| s.process.threads) {
                o.observe(v, &[]);
            }
        })
        .build();
    let l = latest.clone();
    let _fds = meter
        .u64_observable_gauge(semconv::PROCESS_UNIX_FILE_DESCRIPTOR_COUNT)
        .with_unit("{file_descriptor}")
        .with_description("Open file descriptors of the process")
        .with_callback(move |o| {
            if let Some(v) = l().and_then(|s| s.process.open_fds) {
                o.observe(v, &[]);
            }
        })
        .build();
    let l = latest.clone();
    let _uptime = meter
        .f64_observable_gauge(semconv::PROCESS_UPTIME)
        .with_unit("s")
        .with_description("Time since the process started")
        .with_callback(move |o| {
            if let Some(v) = l().and_then(|s| s.process.uptime_s) {
                o.observe(v, &[]);
            }
        })
        .build();
    let l = latest.clone();
    let _mem_usage = meter
        .i64_observable_up_down_counter(semconv::SYSTEM_MEMORY_USAGE)
        .with_unit("By")
        .with_description("Host memory in use (MemTotal - MemAvailable) and free (MemAvailable)")
        .with_callback(move |o| {
            if let Some((total, avail)) = l().as_deref().and_then(memory) {
                o.observe(
                    total.saturating_sub(avail),
                    &[KeyValue::new(SYSTEM_MEMORY_STATE, "used")],
                );
                o.observe(avail, &[KeyValue::new(SYSTEM_MEMORY_STATE, "free")]);
            }
        })
        .build();
    let l = latest.clone();
    let _mem_limit = meter
        .i64_observable_up_down_counter(semconv::SYSTEM_MEMORY_LIMIT)
        .with_unit("By")
        .with_description("Total host memory (MemTotal)")
        .with_callback(move |o| {
            if let Some(v) = l().and_then(|s| s.host.memory_total_bytes) {
                o.observe(clamp_i64(v), &[]);
            }
        })
        .build();
    let l = latest.clone();
    let _mem_avail = meter
        .i64_observable_up_down_counter(semconv::SYSTEM_MEMORY_LINUX_AVAILABLE)
        .with_unit("By")
        .with_description("Host memory available without swapping (MemAvailable)")
        .with_callback(move |o| {
            if let Some(v) = l().and_then(|s| s.host.memory_available_bytes) {
                o.observe(clamp_i64(v), &[]);
            }
        })
        .build();
    let l = latest;
    let _load = meter
        .f64_observable_gauge("pulsecheck.system.load_average")
        .with_unit("{thread}")
        .with_description("Host load average (runnable and uninterruptible tasks), per period")
        .with_callback(move |o| {
            if let Some(s) = l() {
                for (p, v) in [
                    ("1m", s.host.load_1m),
                    ("5m", s.host.load_5m),
                    ("15m", s.host.load_15m),
                ] {
                    if let Some(v) = v {
                        o.observe(v, &[KeyValue::new("period", p)]);
                    }
                }
            }
        })
        .build();
}

fn memory(s: &SystemSample) -> Option<(i64, i64)> {
    Some((
        clamp_i64(s.host.memory_total_bytes?),
        clamp_i64(s.host.memory_available_bytes?),
    ))
}

fn clamp_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}
