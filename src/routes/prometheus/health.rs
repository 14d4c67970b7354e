//! Health from the cached report (never a probe): the service's status and readiness, each
//! check's status, probe duration and result age, and each circuit breaker's state.

use super::exposition::Exposition;
use crate::catalogue::{
    CIRCUIT_BREAKER_STATE, HEALTH_CHECK_AGE, HEALTH_CHECK_DURATION, HEALTH_CHECK_STATUS,
    HEALTH_STATUS, READY,
};
use crate::health::{BreakerState, CheckStatus, CircuitBreaker, HealthReport, HealthStatus};

pub(super) fn write(e: &mut Exposition, report: &HealthReport) {
    e.family(&HEALTH_STATUS);
    let statuses = [
        HealthStatus::Healthy,
        HealthStatus::Degraded,
        HealthStatus::Unhealthy,
    ]
    .map(HealthStatus::as_str);
    e.one_hot(&[], "status", &statuses, report.status.as_str());
    e.family(&READY);
    e.sample(&[], if report.ready { 1.0 } else { 0.0 });

    e.family(&HEALTH_CHECK_STATUS);
    let statuses = [
        CheckStatus::Up,
        CheckStatus::Warn,
        CheckStatus::Down,
        CheckStatus::Unknown,
    ]
    .map(CheckStatus::as_str);
    for c in &report.checks {
        let critical = if c.critical { "true" } else { "false" };
        e.one_hot(
            &[("check", &c.name), ("critical", critical)],
            "status",
            &statuses,
            c.status().as_str(),
        );
    }
    e.family(&HEALTH_CHECK_DURATION);
    for c in &report.checks {
        if let Some(r) = &c.result {
            e.sample(&[("check", &c.name)], r.latency.as_secs_f64());
        }
    }
    e.family(&HEALTH_CHECK_AGE);
    for c in &report.checks {
        if let Some(r) = &c.result {
            e.sample(&[("check", &c.name)], r.age().as_secs_f64());
        }
    }
}

pub(super) fn breakers<'a>(
    e: &mut Exposition,
    breakers: impl Iterator<Item = (&'a str, &'a CircuitBreaker)>,
) {
    e.family(&CIRCUIT_BREAKER_STATE);
    let states = [
        BreakerState::Closed,
        BreakerState::Open,
        BreakerState::HalfOpen,
    ]
    .map(BreakerState::as_str);
    for (name, b) in breakers {
        e.one_hot(&[("breaker", name)], "state", &states, b.state().as_str());
    }
}
