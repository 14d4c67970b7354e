//! What the runner reports: each check's latest [`CheckResult`], the [`HealthReport`] of all
//! checks at one moment, the [`Serving`] state probes follow, and the [`Transition`]
//! listeners hear.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use super::breaker::BreakerState;
use super::check::{CheckError, ComponentKind, Measurement, Observation};
use super::status::{CheckStatus, HealthStatus};

/// One check's latest result.
#[derive(Clone, Debug)]
pub struct CheckResult {
    /// The reported status, after flap damping.
    pub status: CheckStatus,
    /// What the last probe itself saw.
    pub observed: CheckStatus,
    /// How long the last probe took.
    pub latency: Duration,
    /// When the last probe finished.
    pub time: SystemTime,
    /// The last probe's error, cleaned of credentials.
    pub error: Option<String>,
    /// The last probe's warning, if it passed with one.
    pub warning: Option<String>,
    /// Measurements of the last probe.
    pub measurements: Vec<Measurement>,
    /// Details of the last passing probe.
    pub details: serde_json::Map<String, serde_json::Value>,
    /// Failures in a row.
    pub consecutive_failures: u32,
    at: Instant,
}

impl CheckResult {
    /// Time since the probe finished.
    pub fn age(&self) -> Duration {
        self.at.elapsed()
    }

    /// A probe's result as it saw it, before damping (which sets `status` and
    /// `consecutive_failures`).
    pub(super) fn of(outcome: Result<Observation, CheckError>, latency: Duration) -> Self {
        match outcome {
            Ok(obs) => {
                let observed = if obs.warn.is_some() {
                    CheckStatus::Warn
                } else {
                    CheckStatus::Up
                };
                Self {
                    status: CheckStatus::Up,
                    observed,
                    latency,
                    time: SystemTime::now(),
                    error: None,
                    warning: obs.warn,
                    measurements: obs.measurements,
                    details: obs.details,
                    consecutive_failures: 0,
                    at: Instant::now(),
                }
            }
            Err(error) => Self::failed(error, latency),
        }
    }

    /// A failed probe's result.
    pub(super) fn failed(error: CheckError, latency: Duration) -> Self {
        Self {
            status: CheckStatus::Down,
            observed: CheckStatus::Down,
            latency,
            time: SystemTime::now(),
            measurements: error.measurements().to_vec(),
            error: Some(error.message().to_owned()),
            warning: None,
            details: serde_json::Map::new(),
            consecutive_failures: 0,
            at: Instant::now(),
        }
    }
}

/// A check's status changed.
#[derive(Clone, Debug)]
pub struct Transition {
    /// The check.
    pub check: String,
    /// Whether it is critical.
    pub critical: bool,
    /// Before.
    pub from: CheckStatus,
    /// After.
    pub to: CheckStatus,
    /// The error that caused a change to `down`.
    pub error: Option<String>,
}

/// What probes and gRPC health watch: the service status, readiness and liveness.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Serving {
    /// The aggregated status.
    pub status: HealthStatus,
    /// Critical checks pass, and the service is neither shutting down nor out of service.
    pub ready: bool,
    /// The process can serve.
    pub live: bool,
    /// Shutdown has begun.
    pub shutting_down: bool,
    /// Bumped on every status change of any check, so a watcher of one check wakes even
    /// when the aggregate does not change.
    pub checks_revision: u64,
}

/// One check in a [`HealthReport`].
#[derive(Clone, Debug)]
pub struct CheckReport {
    /// The name.
    pub name: String,
    /// Its kind.
    pub kind: ComponentKind,
    /// Whether it is critical.
    pub critical: bool,
    /// The breaker's state, if it has one.
    pub circuit: Option<BreakerState>,
    /// The latest result, if any (shared with the cache, so reports are cheap).
    pub result: Option<Arc<CheckResult>>,
}

impl CheckReport {
    /// The reported status (`unknown` before the first result).
    pub fn status(&self) -> CheckStatus {
        self.result
            .as_ref()
            .map_or(CheckStatus::Unknown, |r| r.status)
    }
}

/// The state of every check at one moment.
#[derive(Clone, Debug)]
pub struct HealthReport {
    /// The aggregated status.
    pub status: HealthStatus,
    /// Each check, in registration order.
    pub checks: Vec<CheckReport>,
    /// No probe ran for this report: everything came from cache.
    pub cached: bool,
    /// Age of the oldest result.
    pub age: Duration,
    /// Readiness at the time of the report.
    pub ready: bool,
    /// Shutdown has begun.
    pub shutting_down: bool,
}
