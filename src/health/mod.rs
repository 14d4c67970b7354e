//! Dependency health: checks run in parallel off the request path, each with a timeout, a
//! cache and a circuit breaker; the endpoints read the cached state.
//!
//! - [`Check`]: what a check is; built-in ones live in [`checks`] behind cargo features.
//! - [`CircuitBreaker`]: shared by probes and application code.
//! - [`CheckStatus`] and [`HealthStatus`]: how results combine.
//! - Health groups ([`HealthSettings`]): subsets of the checks served as their own probes.

mod breaker;
mod check;
pub mod checks;
mod damping;
mod group;
mod metrics;
mod probe;
mod redact;
mod report;
mod runner;
mod status;

pub use crate::config::{GroupSettings, HealthSettings, is_group_name};
pub use breaker::{
    BreakerConfig, BreakerError, BreakerOpen, BreakerState, BreakerStats, BreakerWindow,
    CircuitBreaker, Permit, SlowCalls,
};
pub use check::{
    Check, CheckError, CheckExt, ComponentKind, DEFAULT_FAILURE_TTL, DEFAULT_INTERVAL,
    DEFAULT_TIMEOUT, DEFAULT_TTL, Measurement, Observation, Registration,
};
pub(crate) use group::Groups;
pub use group::UnknownMember;
pub(crate) use metrics::register_metrics;
pub use redact::redact_url;
pub use report::{CheckReport, CheckResult, HealthReport, Serving, Transition};
pub use runner::{Health, HealthBuilder, HealthConfig, PASSIVE_MIN_INTERVAL, Refresh};
pub use status::{CheckStatus, HealthStatus};
