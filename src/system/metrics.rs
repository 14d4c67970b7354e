//! The samples as OpenTelemetry observable gauges, read at export time from the latest sample.
//! Names, units and descriptions come from the [catalogue](crate::catalogue), where each is
//! the same figure `/metrics` writes (names from opentelemetry-semantic-conventions 0.33; load
//! average has none there).

use std::sync::Arc;

use opentelemetry::KeyValue;
use opentelemetry::metrics::Meter;
use opentelemetry_semantic_conventions::attribute::{CPU_MODE, SYSTEM_MEMORY_STATE};

use crate::catalogue::{self as c, Instrument};

use super::{SystemMonitor, SystemSample};

/// Registers the gauges on the global meter. They hold a weak reference: once the monitor
/// is dropped they report nothing.
pub(crate) fn register_metrics(monitor: &SystemMonitor) {
    let meter = crate::instrumentation::meter();
    let weak = monitor.downgrade();
    let latest = move || SystemMonitor::from_weak(&weak).map(|m| m.latest());

    u64_gauge(
        &meter,
        const { c::PROCESS_RESIDENT_MEMORY.instrument() },
        latest.clone(),
        |s| s.process.rss_bytes,
    );
    f64_gauge(
        &meter,
        const { c::PROCESS_CPU_UTILIZATION.instrument() },
        latest.clone(),
        |s| s.process.cpu_utilization,
    );
    let l = latest.clone();
    let i = const { c::PROCESS_CPU_TIME.instrument() };
    let _cpu_time = i
        .describe(meter.f64_observable_counter(i.name))
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
    u64_gauge(
        &meter,
        const { c::PROCESS_THREADS.instrument() },
        latest.clone(),
        |s| s.process.threads,
    );
    u64_gauge(
        &meter,
        const { c::PROCESS_OPEN_FDS.instrument() },
        latest.clone(),
        |s| s.process.open_fds,
    );
    f64_gauge(
        &meter,
        const { c::PROCESS_UPTIME.instrument() },
        latest.clone(),
        |s| s.process.uptime_s,
    );
    let l = latest.clone();
    let i = c::HOST_MEMORY_USAGE;
    let _mem_usage = i
        .describe(meter.i64_observable_up_down_counter(i.name))
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
    bytes_up_down(
        &meter,
        const { c::HOST_MEMORY_TOTAL.instrument() },
        latest.clone(),
        |s| s.host.memory_total_bytes,
    );
    bytes_up_down(
        &meter,
        const { c::HOST_MEMORY_AVAILABLE.instrument() },
        latest.clone(),
        |s| s.host.memory_available_bytes,
    );
    let l = latest;
    let i = const { c::HOST_LOAD_AVERAGE.instrument() };
    let _load = i
        .describe(meter.f64_observable_gauge(i.name))
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

/// A `u64` gauge of one figure of the sample, absent while the figure is.
fn u64_gauge<L>(meter: &Meter, i: Instrument, latest: L, read: fn(&SystemSample) -> Option<u64>)
where
    L: Fn() -> Option<Arc<SystemSample>> + Send + Sync + 'static,
{
    let _gauge = i
        .describe(meter.u64_observable_gauge(i.name))
        .with_callback(move |o| {
            if let Some(v) = latest().as_deref().and_then(read) {
                o.observe(v, &[]);
            }
        })
        .build();
}

/// An `f64` gauge of one figure of the sample, absent while the figure is.
fn f64_gauge<L>(meter: &Meter, i: Instrument, latest: L, read: fn(&SystemSample) -> Option<f64>)
where
    L: Fn() -> Option<Arc<SystemSample>> + Send + Sync + 'static,
{
    let _gauge = i
        .describe(meter.f64_observable_gauge(i.name))
        .with_callback(move |o| {
            if let Some(v) = latest().as_deref().and_then(read) {
                o.observe(v, &[]);
            }
        })
        .build();
}

/// An `i64` up-down counter of an amount of bytes in the sample (the semantic conventions'
/// instrument for memory), absent while the figure is.
fn bytes_up_down<L>(meter: &Meter, i: Instrument, latest: L, read: fn(&SystemSample) -> Option<u64>)
where
    L: Fn() -> Option<Arc<SystemSample>> + Send + Sync + 'static,
{
    let _counter = i
        .describe(meter.i64_observable_up_down_counter(i.name))
        .with_callback(move |o| {
            if let Some(v) = latest().as_deref().and_then(read) {
                o.observe(clamp_i64(v), &[]);
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
