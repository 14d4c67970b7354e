//! One guarded probe, in the style of Spring Boot's `AbstractHealthIndicator`: a check's own
//! code only says whether its dependency works; what every probe needs around it is here,
//! one small step each, and [`run`] chains them:
//!
//! 1. [`admit`]: the check's circuit breaker lets the probe through, or fails it at once;
//! 2. [`bounded`]: a concurrency slot, the timeout (waiting for the slot counts against it,
//!    so `/health` answers in time) and a caught panic turn any ending into an outcome;
//! 3. [`CheckResult::of`] and [`log_failure`]: the result, the failure logged at debug;
//! 4. once the runner has damped and stored it, [`record`] tells the breaker, and
//!    [`announce`] logs a status change and calls the listeners, each panic-safe.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt as _;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::breaker::{CircuitBreaker, Permit};
use super::check::{CheckError, Observation, Registration};
use super::report::{CheckResult, Transition};
use super::status::CheckStatus;

/// A listener of [`Transition`]s.
pub(super) type Listener = Arc<dyn Fn(&Transition) + Send + Sync>;

/// Probes `reg`'s check under its guards. The result is undamped (`status` is what was
/// observed); the permit, if the breaker gave one, waits for [`record`].
pub(super) async fn run(
    reg: &Registration,
    breaker: Option<&CircuitBreaker>,
    limit: &Arc<Semaphore>,
) -> (CheckResult, Option<Permit>) {
    let started = Instant::now();
    let (outcome, permit) = match admit(breaker) {
        Err(open) => (Err(open), None),
        Ok(permit) => (bounded(reg, limit).await, permit),
    };
    let latency = started.elapsed();
    let result = CheckResult::of(outcome, latency);
    if let Some(error) = &result.error {
        log_failure(reg, error, latency);
    }
    (result, permit)
}

/// The breaker's permission: a permit to report the outcome on, none without a breaker, or
/// the failure of an open breaker.
fn admit(breaker: Option<&CircuitBreaker>) -> Result<Option<Permit>, CheckError> {
    breaker
        .map(CircuitBreaker::try_acquire)
        .transpose()
        .map_err(CheckError::new)
}

/// The check's own probe in a concurrency slot, within its timeout, a panic caught.
async fn bounded(reg: &Registration, limit: &Arc<Semaphore>) -> Result<Observation, CheckError> {
    let limit = Arc::clone(limit);
    let check = Arc::clone(&reg.check);
    let run = async move {
        // Waiting for a slot counts against the timeout: /health answers in time.
        let _slot = limit.acquire_owned().await;
        AssertUnwindSafe(check.check_boxed()).catch_unwind().await
    };
    match tokio::time::timeout(reg.timeout, run).await {
        Err(_) => Err(timed_out(reg.timeout)),
        Ok(Err(panic)) => Err(CheckError::new(format!(
            "check panicked: {}",
            crate::panic_text::panic_text(panic.as_ref())
        ))),
        Ok(Ok(outcome)) => outcome,
    }
}

fn timed_out(timeout: Duration) -> CheckError {
    CheckError::new(format!("timed out after {} ms", timeout.as_millis()))
}

fn log_failure(reg: &Registration, error: &str, latency: Duration) {
    tracing::debug!(target: "pulsecheck::health", check = %reg.name, error = %error, latency_ms = latency.as_millis() as u64, "health check failed");
}

/// Reports the probe's outcome on the breaker's permit. Called once the result is stored,
/// so the breaker's observers compare the outcome with this probe's result and do not ask
/// for another probe of what it just saw.
pub(super) fn record(permit: Option<Permit>, result: &CheckResult) {
    if let Some(p) = permit {
        if result.observed.is_ok() {
            p.success();
        } else {
            p.failure();
        }
    }
}

/// Logs a status change (a warning for `down`) and calls every listener once.
pub(super) fn announce(t: &Transition, listeners: &[Listener]) {
    if t.to == CheckStatus::Down {
        tracing::warn!(target: "pulsecheck::health", check = %t.check, critical = t.critical, from = %t.from, error = t.error.as_deref().unwrap_or(""), "dependency check is down");
    } else {
        tracing::info!(target: "pulsecheck::health", check = %t.check, critical = t.critical, from = %t.from, to = %t.to, "dependency check status changed");
    }
    for listener in listeners {
        // A panicking listener must not poison the probe or the others.
        if std::panic::catch_unwind(AssertUnwindSafe(|| listener(t))).is_err() {
            tracing::error!(target: "pulsecheck::health", check = %t.check, "a health transition listener panicked");
        }
    }
}
