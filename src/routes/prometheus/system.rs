//! Resources: the connection pools health checks report, the process and the host from the
//! latest system sample, and the log writer's drops.

use super::exposition::Exposition;
use crate::catalogue as c;
use crate::health::HealthReport;
use crate::system::SystemSample;

pub(super) fn pools(e: &mut Exposition, report: &HealthReport) {
    let pools = crate::routes::system::pools(report);
    let n = |v: Option<u64>| v.map(|v| v as f64);
    e.family(&c::POOL_SIZE);
    for (check, p) in &pools {
        e.opt(&[("check", check)], n(p.pool_size));
    }
    e.family(&c::POOL_CONNECTIONS);
    for (check, p) in &pools {
        e.opt(&[("check", check), ("state", "idle")], n(p.idle));
        e.opt(&[("check", check), ("state", "in_use")], n(p.in_use));
    }
}

pub(super) fn resources(e: &mut Exposition, sample: &SystemSample) {
    let (p, h) = (&sample.process, &sample.host);
    let n = |v: Option<u64>| v.map(|v| v as f64);
    e.family(&c::PROCESS_RESIDENT_MEMORY);
    e.opt(&[], n(p.rss_bytes));
    e.family(&c::PROCESS_CPU_TIME);
    e.opt(&[("mode", "user")], p.cpu_user_s);
    e.opt(&[("mode", "system")], p.cpu_system_s);
    e.family(&c::PROCESS_CPU_UTILIZATION);
    e.opt(&[], p.cpu_utilization);
    e.family(&c::PROCESS_THREADS);
    e.opt(&[], n(p.threads));
    e.family(&c::PROCESS_OPEN_FDS);
    e.opt(&[], n(p.open_fds));
    e.family(&c::PROCESS_UPTIME);
    e.opt(&[], p.uptime_s);
    e.family(&c::HOST_CPUS);
    e.opt(&[], n(h.cpus));
    e.family(&c::HOST_MEMORY_TOTAL);
    e.opt(&[], n(h.memory_total_bytes));
    e.family(&c::HOST_MEMORY_AVAILABLE);
    e.opt(&[], n(h.memory_available_bytes));
    e.family(&c::HOST_LOAD_AVERAGE);
    e.opt(&[("period", "1m")], h.load_1m);
    e.opt(&[("period", "5m")], h.load_5m);
    e.opt(&[("period", "15m")], h.load_15m);
    e.family(&c::SYSTEM_SAMPLE_TIMESTAMP);
    e.opt(
        &[],
        sample
            .sampled_at
            .duration_since(std::time::UNIX_EPOCH)
            .ok()
            .map(|d| d.as_secs_f64()),
    );
}

/// The log writer's drops, when pulsecheck installed the subscriber.
pub(super) fn logs(e: &mut Exposition) {
    e.family(&c::LOG_LINES_DROPPED);
    e.opt(&[], crate::telemetry::log_lines_dropped().map(|n| n as f64));
}
