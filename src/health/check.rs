//! What a health check is: the [`Check`] trait, what it reports ([`Observation`],
//! [`CheckError`]) and how it is registered ([`Registration`]).

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

use super::breaker::CircuitBreaker;
use super::redact::clean_output;

/// A probe of one dependency.
///
/// The runner measures latency, applies the timeout (dropping the future, so the probe stops),
/// catches panics and caches the result; a check only says what it saw.
///
/// ```
/// use pulsecheck::health::{Check, CheckError, Observation};
///
/// struct Queue;
/// impl Check for Queue {
///     fn name(&self) -> std::borrow::Cow<'static, str> { "queue".into() }
///     async fn check(&self) -> Result<Observation, CheckError> {
///         let depth = 12; // ask the queue
///         if depth > 1000 {
///             return Err(CheckError::new(format!("backlog of {depth}")));
///         }
///         Ok(Observation::pass().measured("depth", depth, None))
///     }
/// }
/// ```
pub trait Check: Send + Sync + 'static {
    /// Probes the dependency once.
    fn check(&self) -> impl Future<Output = Result<Observation, CheckError>> + Send;

    /// The name in outputs (`postgres`, `redis`, ...) unless the registration renames it.
    fn name(&self) -> Cow<'static, str>;

    /// What kind of component this is, for `application/health+json`.
    fn kind(&self) -> ComponentKind {
        ComponentKind::Component
    }

    /// Whether a failure should make the service unhealthy by default.
    fn critical_by_default(&self) -> bool {
        false
    }
}

/// `componentType` in `application/health+json`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ComponentKind {
    /// A service or API.
    Component,
    /// A database or cache.
    Datastore,
    /// The host or process.
    System,
}

/// A measured value: `observedValue`/`observedUnit` under `{name}:{measurement}`.
#[derive(Clone, Debug, PartialEq)]
pub struct Measurement {
    /// `responseTime`, `utilization`, `connections`, ...
    pub name: Cow<'static, str>,
    /// The value.
    pub value: Value,
    /// `ms`, `percent`, `bytes`, ...
    pub unit: Option<Cow<'static, str>>,
}

impl Measurement {
    /// A measurement named `name` (`responseTime`, `connections`, ...).
    pub fn new(
        name: impl Into<Cow<'static, str>>,
        value: impl Into<Value>,
        unit: Option<&'static str>,
    ) -> Self {
        Self {
            name: name.into(),
            value: value.into(),
            unit: unit.map(Cow::Borrowed),
        }
    }
}

/// What a successful check saw.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Observation {
    pub(crate) warn: Option<String>,
    pub(crate) measurements: Vec<Measurement>,
    pub(crate) details: Map<String, Value>,
}

impl Observation {
    /// The dependency works.
    pub fn pass() -> Self {
        Self::default()
    }

    /// The dependency works but something needs attention (`warn` in health+json, the check
    /// shows `warn` and the service `degraded`).
    pub fn warn(output: impl fmt::Display) -> Self {
        Self {
            warn: Some(clean_output(&output.to_string())),
            ..Self::default()
        }
    }

    /// Adds a measured value (`observedValue`/`observedUnit`).
    pub fn measured(
        mut self,
        name: impl Into<Cow<'static, str>>,
        value: impl Into<Value>,
        unit: Option<&'static str>,
    ) -> Self {
        self.measurements.push(Measurement::new(name, value, unit));
        self
    }

    /// Adds a detail shown to authorised callers (pool sizes, versions, ...).
    pub fn detail(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.details.insert(key.into(), value.into());
        self
    }

    /// Whether this observation is a warning.
    pub fn is_warn(&self) -> bool {
        self.warn.is_some()
    }

    /// The measurements.
    pub fn measurements(&self) -> &[Measurement] {
        &self.measurements
    }

    /// The details.
    pub fn details(&self) -> &Map<String, Value> {
        &self.details
    }
}

/// Why a check failed. The message is shortened and stripped of credentials before it is
/// stored, so `?` on a driver error is safe.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckError {
    message: String,
    measurements: Vec<Measurement>,
}

impl CheckError {
    /// A failure with a short explanation.
    pub fn new(message: impl fmt::Display) -> Self {
        Self {
            message: clean_output(&message.to_string()),
            measurements: Vec::new(),
        }
    }

    /// Adds a measured value (for example the free disk space that was too low).
    pub fn measured(
        mut self,
        name: impl Into<Cow<'static, str>>,
        value: impl Into<Value>,
        unit: Option<&'static str>,
    ) -> Self {
        self.measurements.push(Measurement::new(name, value, unit));
        self
    }

    /// The cleaned message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The measurements.
    pub fn measurements(&self) -> &[Measurement] {
        &self.measurements
    }
}

impl fmt::Display for CheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl<E: std::error::Error> From<E> for CheckError {
    fn from(e: E) -> Self {
        // The source chain often holds the useful part ("connection refused").
        Self::new(crate::error_chain::error_chain(&e))
    }
}

pub(crate) type BoxCheckFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Observation, CheckError>> + Send + 'a>>;

/// Object-safe form of [`Check`].
pub(crate) trait DynCheck: Send + Sync + 'static {
    fn check_boxed(&self) -> BoxCheckFuture<'_>;
}

impl<C: Check> DynCheck for C {
    fn check_boxed(&self) -> BoxCheckFuture<'_> {
        Box::pin(self.check())
    }
}

/// Default probe timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);
/// Default time a success is cached.
pub const DEFAULT_TTL: Duration = Duration::from_secs(30);
/// Default time a failure is cached before the dependency is probed again.
pub const DEFAULT_FAILURE_TTL: Duration = Duration::from_secs(5);
/// Default longest time between two background probes of a check, whatever its TTL: an idle
/// dependency's death shows within this plus the timeout.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);

/// A check with its name and policy: criticality, timeout, cache lifetimes, flap damping and
/// circuit breaker. Built with [`CheckExt`] methods on any [`Check`], or from a bare check.
///
/// ```
/// use std::time::Duration;
/// use pulsecheck::health::{Check, CheckError, CheckExt, Observation, Registration};
/// # struct Db;
/// # impl Check for Db {
/// #     fn name(&self) -> std::borrow::Cow<'static, str> { "db".into() }
/// #     async fn check(&self) -> Result<Observation, CheckError> { Ok(Observation::pass()) }
/// # }
/// let reg: Registration = Db.critical().timeout(Duration::from_millis(500)).failure_threshold(3);
/// assert!(reg.is_critical());
/// ```
#[derive(Clone)]
pub struct Registration {
    pub(crate) name: Cow<'static, str>,
    pub(crate) kind: ComponentKind,
    pub(crate) critical: bool,
    pub(crate) timeout: Duration,
    pub(crate) ttl: Duration,
    pub(crate) failure_ttl: Duration,
    pub(crate) interval: Duration,
    pub(crate) failure_threshold: u32,
    pub(crate) success_threshold: u32,
    pub(crate) breaker: Option<CircuitBreaker>,
    pub(crate) default_breaker: bool,
    pub(crate) check: Arc<dyn DynCheck>,
}

impl fmt::Debug for Registration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registration")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("critical", &self.critical)
            .field("timeout", &self.timeout)
            .field("ttl", &self.ttl)
            .field("failure_ttl", &self.failure_ttl)
            .field("interval", &self.interval)
            .field("failure_threshold", &self.failure_threshold)
            .field("success_threshold", &self.success_threshold)
            .field("breaker", &self.breaker)
            .finish_non_exhaustive()
    }
}

impl<C: Check> From<C> for Registration {
    fn from(check: C) -> Self {
        Registration::new(check)
    }
}

impl Registration {
    /// Registers `check` with the defaults: its own name, kind and criticality, a 2 s
    /// timeout, successes cached 30 s, failures 5 s, probed in the background at least every
    /// 10 s (jittered), and a circuit breaker with
    /// [`BreakerConfig::default`](super::BreakerConfig) unless the kind is `system`.
    pub fn new(check: impl Check) -> Self {
        Self {
            name: check.name(),
            kind: check.kind(),
            critical: check.critical_by_default(),
            timeout: DEFAULT_TIMEOUT,
            ttl: DEFAULT_TTL,
            failure_ttl: DEFAULT_FAILURE_TTL,
            interval: DEFAULT_INTERVAL,
            failure_threshold: 1,
            success_threshold: 1,
            breaker: None,
            default_breaker: check.kind() != ComponentKind::System,
            check: Arc::new(check),
        }
    }

    /// Renames the check (two Redis instances, say).
    pub fn named(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.name = name.into();
        self
    }

    /// A failure makes the service `unhealthy` (503) and not ready.
    pub fn critical(mut self) -> Self {
        self.critical = true;
        self
    }

    /// A failure only makes the service `degraded` (200).
    pub fn non_critical(mut self) -> Self {
        self.critical = false;
        self
    }

    /// The probe is cancelled after this long and counts as a failure.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How long a success is served from cache.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// How long a failure is served from cache before the next probe.
    pub fn failure_ttl(mut self, ttl: Duration) -> Self {
        self.failure_ttl = ttl;
        self
    }

    /// Longest time between two background probes (default 10 s), separate from the cache
    /// lifetimes: each wait is jittered down by up to a fifth, and is shorter when the cached
    /// result expires first. An idle dependency's death shows within the interval plus the
    /// timeout. (Failures the application sees on its own calls show sooner: see
    /// [`Health::observe`](super::Health::observe).)
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// Consecutive failures before a passing check is reported down (default 1).
    pub fn failure_threshold(mut self, n: u32) -> Self {
        self.failure_threshold = n.max(1);
        self
    }

    /// Consecutive successes before a failing check is reported up again (default 1).
    pub fn success_threshold(mut self, n: u32) -> Self {
        self.success_threshold = n.max(1);
        self
    }

    /// Probes through this breaker, which application code can share (wrap the payment calls
    /// in the same breaker and `/health` shows it open).
    pub fn breaker(mut self, breaker: CircuitBreaker) -> Self {
        self.breaker = Some(breaker);
        self
    }

    /// Probes without a circuit breaker.
    pub fn without_breaker(mut self) -> Self {
        self.breaker = None;
        self.default_breaker = false;
        self
    }

    /// The name in outputs.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether a failure makes the service unhealthy.
    pub fn is_critical(&self) -> bool {
        self.critical
    }
}

/// Registration shortcuts on every [`Check`]: `PostgresCheck::new(pool).critical()`.
pub trait CheckExt: Check + Sized {
    /// See [`Registration::named`].
    fn named(self, name: impl Into<Cow<'static, str>>) -> Registration {
        Registration::new(self).named(name)
    }
    /// See [`Registration::critical`].
    fn critical(self) -> Registration {
        Registration::new(self).critical()
    }
    /// See [`Registration::non_critical`].
    fn non_critical(self) -> Registration {
        Registration::new(self).non_critical()
    }
    /// See [`Registration::timeout`].
    fn timeout(self, timeout: Duration) -> Registration {
        Registration::new(self).timeout(timeout)
    }
    /// See [`Registration::ttl`].
    fn ttl(self, ttl: Duration) -> Registration {
        Registration::new(self).ttl(ttl)
    }
    /// See [`Registration::breaker`].
    fn breaker(self, breaker: CircuitBreaker) -> Registration {
        Registration::new(self).breaker(breaker)
    }
}

impl<C: Check> CheckExt for C {}
