//! Health and breaker state as OpenTelemetry metrics, read by observable gauges at export
//! time (nothing is recorded on the request path).

use opentelemetry::KeyValue;

use super::runner::Health;
use crate::catalogue as c;

/// Registers `pulsecheck.health.status` (1 for the check's current status, per status),
/// `pulsecheck.health.check.duration` (last probe latency, seconds) and
/// `pulsecheck.circuit_breaker.state` (0 closed, 1 open, 2 half-open) on the global meter.
pub(crate) fn register_metrics(health: &Health) {
    let meter = crate::instrumentation::meter();
    let h = health.clone();
    let i = const { c::HEALTH_CHECK_STATUS.instrument() };
    let _status = i
        .describe(meter.i64_observable_gauge(i.name))
        .with_callback(move |obs| {
            for c in h.cached_report().checks {
                for s in ["up", "warn", "down", "unknown"] {
                    obs.observe(
                        i64::from(c.status().as_str() == s),
                        &[
                            KeyValue::new("health.check", c.name.clone()),
                            KeyValue::new("health.status", s),
                            KeyValue::new("health.critical", c.critical),
                        ],
                    );
                }
            }
        })
        .build();
    let h = health.clone();
    let i = const { c::HEALTH_CHECK_DURATION.instrument() };
    let _latency = i
        .describe(meter.f64_observable_gauge(i.name))
        .with_callback(move |obs| {
            for c in h.cached_report().checks {
                if let Some(r) = &c.result {
                    obs.observe(
                        r.latency.as_secs_f64(),
                        &[KeyValue::new("health.check", c.name.clone())],
                    );
                }
            }
        })
        .build();
    let h = health.clone();
    let i = c::CIRCUIT_BREAKER_STATE_CODE;
    let _breakers = i
        .describe(meter.i64_observable_gauge(i.name))
        .with_callback(move |obs| {
            for (name, b) in h.breakers() {
                obs.observe(
                    b.state().code(),
                    &[KeyValue::new("breaker.name", name.to_owned())],
                );
            }
        })
        .build();
}
