//! The runner: every check in parallel under a concurrency bound, each cancelled at its
//! timeout, panics turned into failures, results cached (successes for the TTL, failures
//! shorter), one shared probe per check however many callers wait (single-flight), optional
//! background refresh so readers never wait on I/O, flap damping, and listeners that fire once
//! per transition.
//!
//! Detection has two paths. Active: each check is probed on its own interval (default 10 s,
//! jittered), whatever its cache lifetime. Passive: what the application sees on its own calls
//! counts: an outcome recorded on the check's breaker, or reported with [`Health::observe`],
//! that disagrees with the check's status triggers an immediate re-probe (single-flight, at
//! most one per [`PASSIVE_MIN_INTERVAL`] per check), and every breaker transition re-probes
//! and republishes, so the check, readiness and every reader follow the breaker's live state.
//!
//! The runner schedules and caches; one probe's guards (breaker, timeout, panic, logging,
//! listeners) are in `probe.rs`, flap damping in `damping.rs`, what it reports in `report.rs`.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use futures_util::FutureExt as _;
use futures_util::future::{BoxFuture, Shared};
use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;

use super::breaker::{BreakerConfig, BreakerEvent, BreakerState, CircuitBreaker};
use super::check::{CheckError, Registration};
use super::damping::Streak;
use super::probe::{self, Listener};
use super::report::{CheckReport, CheckResult, HealthReport, Serving, Transition};
use super::status::{CheckStatus, HealthStatus, aggregate, contribution};

/// Background refresh never probes one check more often than this.
const MIN_REFRESH_INTERVAL: Duration = Duration::from_millis(50);

/// Passive detection re-probes one check at most this often, however many failures the
/// application reports.
pub const PASSIVE_MIN_INTERVAL: Duration = Duration::from_millis(500);

/// How results are refreshed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refresh {
    /// Background tasks re-probe each check when its cache expires; readers never wait.
    /// Before a check's first result it is `unknown` and readiness fails.
    Background,
    /// A reader finding an expired result probes (one shared probe per check) and waits.
    OnDemand,
}

/// Runner settings.
#[derive(Clone, Debug)]
pub struct HealthConfig {
    /// At most this many probes run at once. Default 16.
    pub max_concurrency: usize,
    /// Default [`Refresh::Background`].
    pub refresh: Refresh,
}

impl Default for HealthConfig {
    fn default() -> Self {
        Self {
            max_concurrency: 16,
            refresh: Refresh::Background,
        }
    }
}

type ProbeFuture = Shared<BoxFuture<'static, Arc<CheckResult>>>;

/// The health state of a service: its checks, their cached results and the lifecycle flags.
/// Cheap to clone.
///
/// ```
/// use pulsecheck::health::{Check, CheckError, Health, HealthConfig, Observation, Refresh};
/// # struct Db;
/// # impl Check for Db {
/// #     fn name(&self) -> std::borrow::Cow<'static, str> { "db".into() }
/// #     async fn check(&self) -> Result<Observation, CheckError> { Ok(Observation::pass()) }
/// # }
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let health = Health::builder()
///     .config(HealthConfig { refresh: Refresh::OnDemand, ..Default::default() })
///     .check(Db)
///     .build();
/// let report = health.report().await;
/// assert_eq!(report.status.as_str(), "healthy");
/// # }
/// ```
#[derive(Clone)]
pub struct Health {
    inner: Arc<Inner>,
}

impl fmt::Debug for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Health")
            .field("checks", &self.inner.entries.len())
            .field("refresh", &self.inner.config.refresh)
            .finish_non_exhaustive()
    }
}

struct Inner {
    config: HealthConfig,
    entries: Vec<Entry>,
    groups: super::Groups,
    limit: Arc<Semaphore>,
    listeners: Vec<Listener>,
    serving: watch::Sender<Serving>,
    shutting_down: AtomicBool,
    out_of_service: AtomicBool,
    broken: AtomicBool,
    background_started: AtomicBool,
    background: Mutex<Vec<tokio::task::AbortHandle>>,
    probes: AtomicU64,
    revision: AtomicU64,
}

struct Entry {
    reg: Registration,
    breaker: Option<CircuitBreaker>,
    state: Mutex<EntryState>,
    passive: Mutex<Passive>,
}

/// Rate limit of the re-probes passive detection asks for.
#[derive(Default)]
struct Passive {
    /// When the last passive re-probe started.
    last: Option<Instant>,
    /// A re-probe is scheduled and has not started yet.
    scheduled: bool,
}

#[derive(Default)]
struct EntryState {
    last: Option<Arc<CheckResult>>,
    inflight: Option<ProbeFuture>,
    streak: Streak,
}

/// Builds a [`Health`].
#[derive(Default)]
pub struct HealthBuilder {
    config: HealthConfig,
    checks: Vec<Registration>,
    listeners: Vec<Listener>,
    groups: super::Groups,
}

impl fmt::Debug for HealthBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HealthBuilder")
            .field("config", &self.config)
            .field("checks", &self.checks)
            .finish_non_exhaustive()
    }
}

impl HealthBuilder {
    /// Runner settings.
    pub fn config(mut self, config: HealthConfig) -> Self {
        self.config = config;
        self
    }

    /// Registers a check (a bare [`Check`](super::Check) or a configured [`Registration`]).
    pub fn check(mut self, check: impl Into<Registration>) -> Self {
        self.checks.push(check.into());
        self
    }

    /// Called once per status change of any check, off the request path.
    pub fn on_transition(mut self, f: impl Fn(&Transition) + Send + Sync + 'static) -> Self {
        self.listeners.push(Arc::new(f));
        self
    }

    /// The names of the checks registered so far.
    pub(crate) fn check_names(&self) -> impl Iterator<Item = &str> + Clone {
        self.checks.iter().map(|r| r.name.as_ref())
    }

    /// The health groups (their members already checked against [`Self::check_names`]).
    pub(crate) fn groups(mut self, groups: super::Groups) -> Self {
        self.groups = groups;
        self
    }

    /// Builds the state. Background refresh starts on the first use inside a Tokio runtime
    /// (or at once, when built inside one).
    pub fn build(self) -> Health {
        let entries: Vec<Entry> = self
            .checks
            .into_iter()
            .map(|reg| {
                let breaker = reg.breaker.clone().or_else(|| {
                    reg.default_breaker.then(|| {
                        CircuitBreaker::new(reg.name.to_string(), BreakerConfig::default())
                    })
                });
                Entry {
                    reg,
                    breaker,
                    state: Mutex::new(EntryState::default()),
                    passive: Mutex::new(Passive::default()),
                }
            })
            .collect();
        let initial = Serving {
            status: aggregate(
                entries
                    .iter()
                    .map(|e| contribution(e.reg.critical, CheckStatus::Unknown, None)),
            ),
            ready: !entries.iter().any(|e| e.reg.critical),
            live: true,
            shutting_down: false,
            checks_revision: 0,
        };
        let health = Health {
            inner: Arc::new(Inner {
                limit: Arc::new(Semaphore::new(self.config.max_concurrency.max(1))),
                config: self.config,
                entries,
                groups: self.groups,
                listeners: self.listeners,
                serving: watch::Sender::new(initial),
                shutting_down: AtomicBool::new(false),
                out_of_service: AtomicBool::new(false),
                broken: AtomicBool::new(false),
                background_started: AtomicBool::new(false),
                background: Mutex::new(Vec::new()),
                probes: AtomicU64::new(0),
                revision: AtomicU64::new(0),
            }),
        };
        for (i, entry) in health.inner.entries.iter().enumerate() {
            if let Some(breaker) = &entry.breaker {
                let weak = Arc::downgrade(&health.inner);
                breaker.observe(Arc::new(move |event| {
                    if let Some(inner) = weak.upgrade() {
                        breaker_event(&inner, i, event);
                    }
                }));
            }
        }
        if tokio::runtime::Handle::try_current().is_ok() {
            health.ensure_background();
        }
        health
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every update under these locks is a plain store: a panic cannot leave them half-done.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Health {
    /// A builder with [`HealthConfig::default`].
    pub fn builder() -> HealthBuilder {
        HealthBuilder::default()
    }

    /// The current state of every check. With [`Refresh::OnDemand`], expired results are
    /// re-probed first (one shared probe per check, all in parallel, each within its timeout).
    pub async fn report(&self) -> HealthReport {
        let probed = self.refresh_stale(|_| true).await;
        self.snapshot(!probed)
    }

    /// With [`Refresh::OnDemand`], probes the expired checks `wanted` selects and waits for
    /// them; whether any probe ran.
    async fn refresh_stale(&self, wanted: impl Fn(&str) -> bool) -> bool {
        self.ensure_background();
        if self.inner.config.refresh != Refresh::OnDemand {
            return false;
        }
        let stale: Vec<ProbeFuture> = (0..self.inner.entries.len())
            .filter(|&i| wanted(&self.inner.entries[i].reg.name) && !self.is_fresh(i))
            .map(|i| self.probe(i))
            .collect();
        let probed = !stale.is_empty();
        futures_util::future::join_all(stale).await;
        probed
    }

    /// Health group `name`, or `None` when there is no such group. With
    /// [`Refresh::OnDemand`] only the members' expired results are re-probed: a hung
    /// dependency outside the group cannot hold the group's answer.
    pub(crate) async fn group(&self, name: &str) -> Option<super::group::GroupView> {
        let groups = &self.inner.groups;
        let members = groups.members(name)?;
        let probed = self.refresh_stale(|c| members.iter().any(|m| m == c)).await;
        groups.view(name, &self.snapshot(!probed))
    }

    /// The health groups.
    pub(crate) fn groups(&self) -> &super::Groups {
        &self.inner.groups
    }

    /// The current state without probing, whatever the refresh mode.
    pub fn cached_report(&self) -> HealthReport {
        self.ensure_background();
        self.snapshot(true)
    }

    fn snapshot(&self, cached: bool) -> HealthReport {
        let checks: Vec<CheckReport> = self
            .inner
            .entries
            .iter()
            .map(|e| CheckReport {
                name: e.reg.name.to_string(),
                kind: e.reg.kind,
                critical: e.reg.critical,
                circuit: e.breaker.as_ref().map(CircuitBreaker::state),
                result: lock(&e.state).last.clone(),
            })
            .collect();
        let status = aggregate(
            checks
                .iter()
                .map(|c| contribution(c.critical, c.status(), c.circuit)),
        );
        let age = checks
            .iter()
            .filter_map(|c| c.result.as_ref().map(|r| r.age()))
            .max()
            .unwrap_or_default();
        let serving = self.serving_from(&checks, status);
        HealthReport {
            status,
            ready: serving.ready,
            shutting_down: serving.shutting_down,
            checks,
            cached,
            age,
        }
    }

    /// Readiness now, from cached results (never probes).
    pub fn serving(&self) -> Serving {
        *self.inner.serving.borrow()
    }

    /// Follows [`Serving`]: the current value, then every change.
    pub fn subscribe(&self) -> watch::Receiver<Serving> {
        self.ensure_background();
        self.inner.serving.subscribe()
    }

    /// Readiness turns false at once; liveness stays true. Later results do not make the
    /// service ready again.
    pub fn begin_shutdown(&self) {
        self.inner.shutting_down.store(true, Ordering::Release);
        self.publish();
    }

    /// Whether shutdown has begun.
    pub fn is_shutting_down(&self) -> bool {
        self.inner.shutting_down.load(Ordering::Acquire)
    }

    /// Takes the service out of (or back into) rotation: readiness fails while set.
    pub fn set_out_of_service(&self, out: bool) {
        self.inner.out_of_service.store(out, Ordering::Release);
        self.publish();
    }

    /// Marks the process broken (or not): liveness fails while set, so the orchestrator
    /// restarts it. For deadlock detectors and the like, never for dependencies.
    pub fn set_broken(&self, broken: bool) {
        self.inner.broken.store(broken, Ordering::Release);
        self.publish();
    }

    /// Reports the outcome of a call the application made to the dependency of check `check`,
    /// for calls that do not go through the check's breaker (those are seen already). A
    /// failure while the check is up, or a success while it is down, re-probes the check at
    /// once (one probe per check at a time, at most one every [`PASSIVE_MIN_INTERVAL`]), so
    /// `/health` shows a dead dependency within a second of the application seeing it.
    /// Report only errors that say something about the dependency (a refused connection, a
    /// timeout), not the caller's own (a constraint violation). Returns `false` when no check
    /// has that name. Needs a Tokio runtime; outside one it does nothing.
    ///
    /// ```
    /// # fn demo(health: &pulsecheck::health::Health) {
    /// // What the application's own call to the search service returned:
    /// let hits: Result<Vec<String>, std::io::Error> =
    ///     Err(std::io::ErrorKind::ConnectionRefused.into());
    /// health.observe("search", &hits);
    /// # }
    /// ```
    pub fn observe<T, E>(&self, check: &str, outcome: &Result<T, E>) -> bool {
        match self.inner.entries.iter().position(|e| e.reg.name == check) {
            Some(i) => {
                observed(&self.inner, i, outcome.is_ok());
                true
            }
            None => false,
        }
    }

    /// The breaker of the named check.
    pub fn breaker(&self, check: &str) -> Option<&CircuitBreaker> {
        self.inner
            .entries
            .iter()
            .find(|e| e.reg.name == check)
            .and_then(|e| e.breaker.as_ref())
    }

    /// Every breaker, with its check's name.
    pub fn breakers(&self) -> impl Iterator<Item = (&str, &CircuitBreaker)> {
        self.inner
            .entries
            .iter()
            .filter_map(|e| e.breaker.as_ref().map(|b| (e.reg.name.as_ref(), b)))
    }

    /// How many probes have started since the state was built.
    pub fn probes_started(&self) -> u64 {
        self.inner.probes.load(Ordering::Relaxed)
    }

    /// Stops background refresh (pending probes finish).
    pub fn stop(&self) {
        for handle in lock(&self.inner.background).drain(..) {
            handle.abort();
        }
    }

    fn is_fresh(&self, i: usize) -> bool {
        let e = &self.inner.entries[i];
        let st = lock(&e.state);
        st.last.as_ref().is_some_and(|r| {
            let ttl = if r.observed.is_ok() {
                e.reg.ttl
            } else {
                e.reg.failure_ttl
            };
            r.age() < ttl
        })
    }

    fn ensure_background(&self) {
        if self.inner.config.refresh != Refresh::Background
            || self.inner.entries.is_empty()
            || self.inner.background_started.load(Ordering::Acquire)
        {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if self.inner.background_started.swap(true, Ordering::AcqRel) {
            return;
        }
        let mut handles = lock(&self.inner.background);
        for i in 0..self.inner.entries.len() {
            let weak = Arc::downgrade(&self.inner);
            handles.push(runtime.spawn(refresh_loop(weak, i)).abort_handle());
        }
    }

    /// The shared probe of check `i`: the running one, or a new one.
    fn probe(&self, i: usize) -> ProbeFuture {
        probe(&self.inner, i)
    }

    fn serving_from(&self, checks: &[CheckReport], status: HealthStatus) -> Serving {
        let shutting_down = self.inner.shutting_down.load(Ordering::Acquire);
        let critical_ok = checks
            .iter()
            .filter(|c| c.critical)
            .all(|c| c.status().is_ok());
        Serving {
            status,
            ready: critical_ok
                && !shutting_down
                && !self.inner.out_of_service.load(Ordering::Acquire),
            live: !self.inner.broken.load(Ordering::Acquire),
            shutting_down,
            checks_revision: self.inner.revision.load(Ordering::Acquire),
        }
    }

    fn publish(&self) {
        publish(&self.inner);
    }
}

fn publish(inner: &Arc<Inner>) {
    let health = Health {
        inner: Arc::clone(inner),
    };
    let report = health.snapshot(true);
    let serving = health.serving_from(&report.checks, report.status);
    inner.serving.send_if_modified(|s| {
        let changed = *s != serving;
        *s = serving;
        changed
    });
}

async fn refresh_loop(inner: Weak<Inner>, i: usize) {
    loop {
        let Some(strong) = inner.upgrade() else {
            return;
        };
        let result = probe(&strong, i).await;
        let entry = &strong.entries[i];
        let cache = if result.observed.is_ok() {
            entry.reg.ttl
        } else {
            entry.reg.failure_ttl
        };
        let interval = entry.reg.interval;
        drop(strong);
        tokio::time::sleep(next_probe_in(interval, cache)).await;
    }
}

/// The wait before the next active probe: the probe interval, or a little before the cached
/// result expires if that comes first, jittered down by up to a fifth so checks of many
/// instances do not probe in step. Never shorter than [`MIN_REFRESH_INTERVAL`], so a zero
/// interval or TTL cannot turn the loop into a busy one.
pub(crate) fn next_probe_in(interval: Duration, cache: Duration) -> Duration {
    let base = interval.min(cache.mul_f64(0.9));
    base.mul_f64(1.0 - 0.2 * jitter()).max(MIN_REFRESH_INTERVAL)
}

/// A number in [0, 1) that differs between calls and processes (no RNG dependency: the
/// standard library's per-process random hash keys, over a counter).
fn jitter() -> f64 {
    use std::hash::{BuildHasher as _, Hasher as _};
    static STATE: std::sync::OnceLock<std::collections::hash_map::RandomState> =
        std::sync::OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = STATE.get_or_init(Default::default).build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// A breaker shared with check `i` recorded an outcome or changed state.
fn breaker_event(inner: &Arc<Inner>, i: usize, event: BreakerEvent) {
    match event {
        BreakerEvent::Outcome { ok } => observed(inner, i, ok),
        BreakerEvent::Transition => {
            // Readers that follow `Serving` (readiness, gRPC watches) see the new breaker
            // state now, not at the next probe; the re-probe then runs through the breaker
            // (an open one fails it at once), so the check's status agrees with the breaker.
            inner.revision.fetch_add(1, Ordering::AcqRel);
            publish(inner);
            let closed = inner.entries[i]
                .breaker
                .as_ref()
                .is_none_or(|b| b.state() == BreakerState::Closed);
            observed(inner, i, closed);
        }
    }
}

/// The application saw a call to check `i`'s dependency succeed or fail: when that
/// disagrees with the check's status, re-probe.
fn observed(inner: &Arc<Inner>, i: usize, ok: bool) {
    let status = lock(&inner.entries[i].state)
        .last
        .as_ref()
        .map_or(CheckStatus::Unknown, |r| r.status);
    let disagrees = match status {
        CheckStatus::Unknown => !ok,
        status => status.is_ok() != ok,
    };
    if disagrees {
        reprobe(inner, i);
    }
}

/// Probes check `i` soon: at once, or when [`PASSIVE_MIN_INTERVAL`] has passed since the last
/// passive re-probe. At most one is scheduled at a time, and the probe itself is the shared
/// single-flight one.
fn reprobe(inner: &Arc<Inner>, i: usize) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let delay = {
        let mut passive = lock(&inner.entries[i].passive);
        if passive.scheduled {
            return;
        }
        passive.scheduled = true;
        passive.last.map_or(Duration::ZERO, |last| {
            (last + PASSIVE_MIN_INTERVAL).saturating_duration_since(Instant::now())
        })
    };
    let weak = Arc::downgrade(inner);
    runtime.spawn(async move {
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let Some(inner) = weak.upgrade() else {
            return;
        };
        {
            let mut passive = lock(&inner.entries[i].passive);
            passive.scheduled = false;
            passive.last = Some(Instant::now());
        }
        // The probe runs in its own task and stores its result; nobody needs to wait here.
        drop(probe(&inner, i));
    });
}

fn probe(inner: &Arc<Inner>, i: usize) -> ProbeFuture {
    let entry = &inner.entries[i];
    let mut st = lock(&entry.state);
    if let Some(running) = &st.inflight {
        return running.clone();
    }
    inner.probes.fetch_add(1, Ordering::Relaxed);
    // A spawned task, so a caller that gives up does not cancel the probe others share.
    let task = tokio::spawn(run_probe(Arc::clone(inner), i));
    let owner = Arc::clone(inner);
    let shared = async move {
        match task.await {
            Ok(result) => result,
            Err(e) => {
                // Only a runtime shutting down aborts the task; do not keep a dead probe.
                let entry = &owner.entries[i];
                lock(&entry.state).inflight = None;
                Arc::new(CheckResult::failed(
                    CheckError::new(format!("probe did not finish: {e}")),
                    Duration::ZERO,
                ))
            }
        }
    }
    .boxed()
    .shared();
    st.inflight = Some(shared.clone());
    shared
}

/// One probe of check `i` through [`probe::run`]'s guards, then damped, cached, reported to
/// the breaker, announced when the status changed, and published.
async fn run_probe(inner: Arc<Inner>, i: usize) -> Arc<CheckResult> {
    let entry = &inner.entries[i];
    let (result, permit) = probe::run(&entry.reg, entry.breaker.as_ref(), &inner.limit).await;
    let (result, from) = entry.store(result);
    probe::record(permit, &result);
    if from != result.status {
        inner.revision.fetch_add(1, Ordering::AcqRel);
        let t = Transition {
            check: entry.reg.name.to_string(),
            critical: entry.reg.critical,
            from,
            to: result.status,
            error: result.error.clone(),
        };
        probe::announce(&t, &inner.listeners);
    }
    publish(&inner);
    result
}

impl Entry {
    /// Damps a probe's result against the status reported so far and caches it, ending the
    /// probe in flight; the stored result and the status it replaced.
    fn store(&self, mut result: CheckResult) -> (Arc<CheckResult>, CheckStatus) {
        let mut st = lock(&self.state);
        let from = st.last.as_ref().map_or(CheckStatus::Unknown, |r| r.status);
        result.status = st.streak.damp(
            from,
            result.observed,
            self.reg.failure_threshold,
            self.reg.success_threshold,
        );
        result.consecutive_failures = st.streak.failures();
        let result = Arc::new(result);
        st.last = Some(Arc::clone(&result));
        st.inflight = None;
        (result, from)
    }
}
