//! Statuses and how they combine: a failing critical check makes the service unhealthy; a
//! failing non-critical check, a warning or an open non-critical breaker make it degraded.

use std::fmt;

use super::breaker::BreakerState;

/// What one check reports (after flap damping).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    /// No result yet.
    Unknown,
    /// Works.
    Up,
    /// Works, but needs attention.
    Warn,
    /// Fails.
    Down,
}

impl CheckStatus {
    /// `unknown`, `up`, `warn` or `down`.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckStatus::Unknown => "unknown",
            CheckStatus::Up => "up",
            CheckStatus::Warn => "warn",
            CheckStatus::Down => "down",
        }
    }

    /// `pass`, `warn` or `fail` (`application/health+json`).
    pub fn health_json(self) -> &'static str {
        match self {
            CheckStatus::Up => "pass",
            CheckStatus::Warn => "warn",
            CheckStatus::Down | CheckStatus::Unknown => "fail",
        }
    }

    /// Whether the dependency answered well enough to serve.
    pub fn is_ok(self) -> bool {
        matches!(self, CheckStatus::Up | CheckStatus::Warn)
    }
}

impl fmt::Display for CheckStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The service's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    /// Everything passes.
    Healthy,
    /// Something non-critical fails or warns; the service still serves (HTTP 200).
    Degraded,
    /// A critical check fails (HTTP 503).
    Unhealthy,
    /// A critical check has no result yet (HTTP 503).
    Unknown,
}

impl HealthStatus {
    /// `healthy`, `degraded`, `unhealthy` or `unknown`.
    pub fn as_str(self) -> &'static str {
        match self {
            HealthStatus::Healthy => "healthy",
            HealthStatus::Degraded => "degraded",
            HealthStatus::Unhealthy => "unhealthy",
            HealthStatus::Unknown => "unknown",
        }
    }

    /// `pass`, `warn` or `fail` (`application/health+json`).
    pub fn health_json(self) -> &'static str {
        match self {
            HealthStatus::Healthy => "pass",
            HealthStatus::Degraded => "warn",
            HealthStatus::Unhealthy | HealthStatus::Unknown => "fail",
        }
    }

    /// 200 while the service can serve, 503 otherwise.
    pub fn http_status(self) -> http::StatusCode {
        match self {
            HealthStatus::Healthy | HealthStatus::Degraded => http::StatusCode::OK,
            HealthStatus::Unhealthy | HealthStatus::Unknown => {
                http::StatusCode::SERVICE_UNAVAILABLE
            }
        }
    }

    fn rank(self) -> u8 {
        match self {
            HealthStatus::Healthy => 0,
            HealthStatus::Degraded => 1,
            HealthStatus::Unknown => 2,
            HealthStatus::Unhealthy => 3,
        }
    }
}

impl fmt::Display for HealthStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One check's contribution to the service status.
pub(crate) fn contribution(
    critical: bool,
    status: CheckStatus,
    circuit: Option<BreakerState>,
) -> HealthStatus {
    match (critical, status) {
        (true, CheckStatus::Down) => HealthStatus::Unhealthy,
        (true, CheckStatus::Unknown) => HealthStatus::Unknown,
        (false, CheckStatus::Down) | (_, CheckStatus::Warn) => HealthStatus::Degraded,
        // A breaker open on the application's calls degrades even while probes pass.
        (false, _) if circuit.is_some_and(|c| c != BreakerState::Closed) => HealthStatus::Degraded,
        _ => HealthStatus::Healthy,
    }
}

/// The worst of the contributions; no checks is healthy.
pub(crate) fn aggregate(parts: impl IntoIterator<Item = HealthStatus>) -> HealthStatus {
    parts
        .into_iter()
        .max_by_key(|s| s.rank())
        .unwrap_or(HealthStatus::Healthy)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn critical_failure_dominates() {
        let parts = [
            contribution(false, CheckStatus::Down, None),
            contribution(true, CheckStatus::Down, None),
            contribution(true, CheckStatus::Unknown, None),
        ];
        assert_eq!(aggregate(parts), HealthStatus::Unhealthy);
    }

    #[test]
    fn non_critical_failures_and_open_breakers_degrade() {
        assert_eq!(
            aggregate([contribution(false, CheckStatus::Down, None)]),
            HealthStatus::Degraded
        );
        assert_eq!(
            aggregate([contribution(
                false,
                CheckStatus::Up,
                Some(BreakerState::Open)
            )]),
            HealthStatus::Degraded
        );
        assert_eq!(
            aggregate([contribution(true, CheckStatus::Warn, None)]),
            HealthStatus::Degraded
        );
        assert_eq!(
            aggregate([contribution(false, CheckStatus::Unknown, None)]),
            HealthStatus::Healthy
        );
    }

    #[test]
    fn pending_critical_is_unknown_and_none_is_healthy() {
        assert_eq!(
            aggregate([
                contribution(true, CheckStatus::Unknown, None),
                contribution(false, CheckStatus::Down, None)
            ]),
            HealthStatus::Unknown
        );
        assert_eq!(aggregate([]), HealthStatus::Healthy);
        assert_eq!(HealthStatus::Unknown.http_status(), 503);
        assert_eq!(HealthStatus::Degraded.http_status(), 200);
    }
}
