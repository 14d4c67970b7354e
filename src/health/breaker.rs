//! A circuit breaker per dependency: closed -> open when the failure (or slow-call) rate over
//! a sliding window passes a threshold after a minimum number of calls; open answers at once;
//! half-open lets a few trial calls through after a wait and closes or re-opens on their
//! outcome; a maximum half-open wait re-opens a breaker whose trial calls never finish
//! (resilience4j #935).
//!
//! Health probes and application code can share one breaker:
//!
//! ```
//! use pulsecheck::health::{BreakerConfig, BreakerError, CircuitBreaker};
//!
//! # async fn charge() -> Result<u32, std::io::Error> { Ok(1) }
//! # async fn run() {
//! let stripe = CircuitBreaker::new("stripe", BreakerConfig::default());
//! match stripe.call(charge()).await {
//!     Ok(id) => println!("charged {id}"),
//!     Err(BreakerError::Open(open)) => println!("stripe is down, retry in {:?}", open.retry_after),
//!     Err(BreakerError::Inner(e)) => println!("payment failed: {e}"),
//! }
//! # }
//! ```

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::trace::get_active_span;
use tokio::time::Instant;

/// How outcomes are remembered while closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakerWindow {
    /// The last N calls.
    Count(u32),
    /// The calls of the last period, in one-second buckets.
    Time(Duration),
}

/// Slow calls count towards opening like failures.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SlowCalls {
    /// A call at least this long is slow.
    pub duration: Duration,
    /// Open when this fraction of calls (0..=1) is slow.
    pub rate: f64,
}

/// Thresholds and waits. The defaults suit health probes and request-path calls alike.
#[derive(Clone, Debug, PartialEq)]
pub struct BreakerConfig {
    /// Default: the last 20 calls.
    pub window: BreakerWindow,
    /// Open at or above this failure fraction. Default 0.5.
    pub failure_rate: f64,
    /// No decision before this many calls in the window. Default 5.
    pub minimum_calls: u32,
    /// Optional slow-call threshold. Default none.
    pub slow_calls: Option<SlowCalls>,
    /// Time open before trial calls. Default 30 s.
    pub open_wait: Duration,
    /// Trial calls in half-open. Default 1, so one good probe closes the breaker.
    pub half_open_calls: u32,
    /// Longest time in half-open before re-opening when trial calls do not finish. Default 30 s.
    pub half_open_max_wait: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            window: BreakerWindow::Count(20),
            failure_rate: 0.5,
            minimum_calls: 5,
            slow_calls: None,
            open_wait: Duration::from_secs(30),
            half_open_calls: 1,
            half_open_max_wait: Duration::from_secs(30),
        }
    }
}

/// The breaker's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    /// Calls go through.
    Closed,
    /// Calls are refused at once.
    Open,
    /// A limited number of trial calls go through.
    HalfOpen,
}

impl BreakerState {
    /// `closed`, `open` or `half_open`.
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }

    /// 0 closed, 1 open, 2 half-open: the value of the state gauge.
    pub fn code(self) -> i64 {
        match self {
            BreakerState::Closed => 0,
            BreakerState::Open => 1,
            BreakerState::HalfOpen => 2,
        }
    }
}

impl fmt::Display for BreakerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The breaker refused the call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("circuit open; retry in {} ms", retry_after.as_millis())]
pub struct BreakerOpen {
    /// When a trial call may be allowed.
    pub retry_after: Duration,
}

/// The outcome of [`CircuitBreaker::call`].
#[derive(Debug, thiserror::Error)]
pub enum BreakerError<E> {
    /// Refused without calling.
    #[error(transparent)]
    Open(BreakerOpen),
    /// The call ran and failed.
    #[error("{0}")]
    Inner(E),
}

/// Counts over the current window, for outputs.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct BreakerStats {
    /// The state.
    pub state: BreakerState,
    /// Calls in the window.
    pub calls: u32,
    /// Failed calls in the window.
    pub failures: u32,
    /// Slow calls in the window.
    pub slow: u32,
}

/// A circuit breaker. Cheap to clone; clones share state.
#[derive(Clone)]
pub struct CircuitBreaker {
    inner: Arc<Inner>,
}

struct Inner {
    name: String,
    config: BreakerConfig,
    state: Mutex<State>,
    /// Told of every recorded outcome and transition: how the health checks sharing this
    /// breaker learn at once what the application's calls see (passive detection).
    observers: Mutex<Vec<Observer>>,
}

/// What a breaker tells its observers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BreakerEvent {
    /// A call's outcome was recorded (`ok` false for a failure).
    Outcome { ok: bool },
    /// The state changed.
    Transition,
}

pub(crate) type Observer = Arc<dyn Fn(BreakerEvent) + Send + Sync>;

struct State {
    phase: Phase,
    window: Outcomes,
    /// Bumped on every transition, so late outcomes of calls let through in an earlier
    /// phase cannot decide the current one.
    generation: u64,
}

#[derive(Clone, Copy)]
enum Phase {
    Closed,
    Open {
        until: Instant,
    },
    HalfOpen {
        since: Instant,
        issued: u32,
        done: u32,
        failures: u32,
    },
}

impl fmt::Debug for CircuitBreaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreaker")
            .field("name", &self.inner.name)
            .field("state", &self.state())
            .finish()
    }
}

impl CircuitBreaker {
    /// A closed breaker named `name` (shown in `/health` and metrics).
    pub fn new(name: impl Into<String>, config: BreakerConfig) -> Self {
        let window = Outcomes::new(config.window);
        Self {
            inner: Arc::new(Inner {
                name: name.into(),
                config,
                state: Mutex::new(State {
                    phase: Phase::Closed,
                    window,
                    generation: 0,
                }),
                observers: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Adds an observer of outcomes and transitions. Observers run on the caller's thread
    /// after the state lock is released, so they must be quick (spawn for anything slow).
    pub(crate) fn observe(&self, observer: Observer) {
        self.inner
            .observers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(observer);
    }

    fn notify(&self, event: BreakerEvent) {
        let observers = self
            .inner
            .observers
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        for observer in observers.iter() {
            observer(event);
        }
    }

    /// The name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The configuration.
    pub fn config(&self) -> &BreakerConfig {
        &self.inner.config
    }

    /// The state now. An open breaker whose wait has passed reports `half_open`.
    pub fn state(&self) -> BreakerState {
        let st = self.lock();
        match st.phase {
            Phase::Closed => BreakerState::Closed,
            Phase::Open { until } if Instant::now() >= until => BreakerState::HalfOpen,
            Phase::Open { .. } => BreakerState::Open,
            Phase::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    /// State and window counts.
    pub fn stats(&self) -> BreakerStats {
        let state = self.state();
        let st = self.lock();
        let (calls, failures, slow) = st.window.totals(Instant::now());
        BreakerStats {
            state,
            calls,
            failures,
            slow,
        }
    }

    /// Asks to make a call. Record its outcome on the permit; a permit dropped unrecorded
    /// frees its trial slot without counting.
    pub fn try_acquire(&self) -> Result<Permit, BreakerOpen> {
        let now = Instant::now();
        let cfg = &self.inner.config;
        let mut st = self.lock();
        let mut change = None;
        let result = loop {
            match st.phase {
                Phase::Closed => break Ok(st.generation),
                Phase::Open { until } if now < until => {
                    break Err(BreakerOpen {
                        retry_after: until - now,
                    });
                }
                Phase::Open { .. } => {
                    st.phase = Phase::HalfOpen {
                        since: now,
                        issued: 0,
                        done: 0,
                        failures: 0,
                    };
                    st.generation += 1;
                    change = Some((BreakerState::Open, BreakerState::HalfOpen));
                }
                Phase::HalfOpen { since, .. }
                    if now.duration_since(since) > cfg.half_open_max_wait =>
                {
                    st.phase = Phase::Open {
                        until: now + cfg.open_wait,
                    };
                    st.generation += 1;
                    change = Some((BreakerState::HalfOpen, BreakerState::Open));
                    break Err(BreakerOpen {
                        retry_after: cfg.open_wait,
                    });
                }
                Phase::HalfOpen {
                    since,
                    issued,
                    done,
                    failures,
                } => {
                    if issued < cfg.half_open_calls {
                        st.phase = Phase::HalfOpen {
                            since,
                            issued: issued + 1,
                            done,
                            failures,
                        };
                        break Ok(st.generation);
                    }
                    break Err(BreakerOpen {
                        retry_after: (since + cfg.half_open_max_wait)
                            .saturating_duration_since(now),
                    });
                }
            }
        };
        drop(st);
        if let Some((from, to)) = change {
            self.announce(from, to);
        }
        result.map(|generation| Permit {
            breaker: self.clone(),
            generation,
            started: now,
            recorded: false,
        })
    }

    /// Runs `call` through the breaker; an `Err` counts as a failure.
    pub async fn call<T, E, F>(&self, call: F) -> Result<T, BreakerError<E>>
    where
        F: Future<Output = Result<T, E>>,
    {
        let permit = self.try_acquire().map_err(BreakerError::Open)?;
        match call.await {
            Ok(v) => {
                permit.success();
                Ok(v)
            }
            Err(e) => {
                permit.failure();
                Err(BreakerError::Inner(e))
            }
        }
    }

    /// Closes the breaker and forgets its window (an operator's reset).
    pub fn reset(&self) {
        let mut st = self.lock();
        let from = self.phase_state(&st);
        st.phase = Phase::Closed;
        st.window.clear();
        st.generation += 1;
        drop(st);
        if from != BreakerState::Closed {
            self.announce(from, BreakerState::Closed);
        }
    }

    fn phase_state(&self, st: &State) -> BreakerState {
        match st.phase {
            Phase::Closed => BreakerState::Closed,
            Phase::Open { .. } => BreakerState::Open,
            Phase::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state stays consistent across a panic elsewhere: every update is a plain store.
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn record(&self, generation: u64, ok: bool, elapsed: Duration) {
        let now = Instant::now();
        let cfg = &self.inner.config;
        let slow = cfg.slow_calls.is_some_and(|s| elapsed >= s.duration);
        let st = self.lock();
        if st.generation != generation {
            return;
        }
        self.record_locked(st, now, ok, slow);
        self.notify(BreakerEvent::Outcome { ok });
    }

    fn record_locked(&self, mut st: MutexGuard<'_, State>, now: Instant, ok: bool, slow: bool) {
        let cfg = &self.inner.config;
        let change = match st.phase {
            Phase::Closed => {
                st.window.push(now, ok, slow);
                let (calls, failures, slow_calls) = st.window.totals(now);
                let trips = calls >= cfg.minimum_calls.max(1)
                    && (rate(failures, calls) >= cfg.failure_rate
                        || cfg
                            .slow_calls
                            .is_some_and(|s| rate(slow_calls, calls) >= s.rate));
                trips.then(|| {
                    st.phase = Phase::Open {
                        until: now + cfg.open_wait,
                    };
                    st.window.clear();
                    (BreakerState::Closed, BreakerState::Open)
                })
            }
            Phase::HalfOpen {
                since,
                issued,
                done,
                failures,
            } => {
                let done = done + 1;
                let failures = failures + u32::from(!ok || slow);
                if done >= cfg.half_open_calls.max(1) {
                    if rate(failures, done) >= cfg.failure_rate {
                        st.phase = Phase::Open {
                            until: now + cfg.open_wait,
                        };
                        Some((BreakerState::HalfOpen, BreakerState::Open))
                    } else {
                        st.phase = Phase::Closed;
                        st.window.clear();
                        Some((BreakerState::HalfOpen, BreakerState::Closed))
                    }
                } else {
                    st.phase = Phase::HalfOpen {
                        since,
                        issued,
                        done,
                        failures,
                    };
                    None
                }
            }
            Phase::Open { .. } => None,
        };
        if change.is_some() {
            st.generation += 1;
        }
        drop(st);
        if let Some((from, to)) = change {
            self.announce(from, to);
        }
    }

    fn release(&self, generation: u64) {
        let mut st = self.lock();
        if st.generation != generation {
            return;
        }
        if let Phase::HalfOpen {
            since,
            issued,
            done,
            failures,
        } = st.phase
        {
            st.phase = Phase::HalfOpen {
                since,
                issued: issued.saturating_sub(1),
                done,
                failures,
            };
        }
    }

    /// Logs the transition, adds a span event to the active span, counts it and tells the
    /// observers.
    fn announce(&self, from: BreakerState, to: BreakerState) {
        self.notify(BreakerEvent::Transition);
        let name = self.inner.name.as_str();
        if to == BreakerState::Open {
            tracing::warn!(target: "pulsecheck::breaker", breaker = name, from = from.as_str(), to = to.as_str(), "circuit breaker opened");
        } else {
            tracing::info!(target: "pulsecheck::breaker", breaker = name, from = from.as_str(), to = to.as_str(), "circuit breaker state changed");
        }
        let attrs = [
            KeyValue::new("breaker.name", name.to_owned()),
            KeyValue::new("breaker.state.from", from.as_str()),
            KeyValue::new("breaker.state", to.as_str()),
        ];
        get_active_span(|span| {
            span.add_event("circuit_breaker.state_change", attrs.to_vec());
        });
        TRANSITIONS.get().add(1, &attrs);
    }
}

/// `pulsecheck.circuit_breaker.transitions`, shared by every breaker.
static TRANSITIONS: crate::instrumentation::Lazy<opentelemetry::metrics::Counter<u64>> =
    crate::instrumentation::Lazy::new(|meter| {
        meter
            .u64_counter("pulsecheck.circuit_breaker.transitions")
            .with_description("Circuit breaker state changes")
            .build()
    });

fn rate(part: u32, whole: u32) -> f64 {
    if whole == 0 {
        0.0
    } else {
        f64::from(part) / f64::from(whole)
    }
}

/// Permission for one call. Record the outcome with [`Permit::success`] or
/// [`Permit::failure`].
#[must_use = "record the call's outcome on the permit"]
pub struct Permit {
    breaker: CircuitBreaker,
    generation: u64,
    started: Instant,
    recorded: bool,
}

impl fmt::Debug for Permit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("breaker", &self.breaker.inner.name)
            .finish()
    }
}

impl Permit {
    /// The call succeeded.
    pub fn success(mut self) {
        self.recorded = true;
        self.breaker
            .record(self.generation, true, self.started.elapsed());
    }

    /// The call failed.
    pub fn failure(mut self) {
        self.recorded = true;
        self.breaker
            .record(self.generation, false, self.started.elapsed());
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if !self.recorded {
            self.breaker.release(self.generation);
        }
    }
}

/// Outcomes in the closed state's sliding window.
enum Outcomes {
    Count {
        size: usize,
        ring: VecDeque<(bool, bool)>,
    },
    /// One-second buckets (start, calls, failures, slow), subtracted as they expire.
    Time {
        span: Duration,
        buckets: VecDeque<(Instant, u32, u32, u32)>,
    },
}

impl Outcomes {
    fn new(window: BreakerWindow) -> Self {
        match window {
            BreakerWindow::Count(n) => Outcomes::Count {
                size: n.max(1) as usize,
                ring: VecDeque::with_capacity(n.max(1) as usize),
            },
            BreakerWindow::Time(span) => Outcomes::Time {
                span: span.max(Duration::from_secs(1)),
                buckets: VecDeque::new(),
            },
        }
    }

    fn clear(&mut self) {
        match self {
            Outcomes::Count { ring, .. } => ring.clear(),
            Outcomes::Time { buckets, .. } => buckets.clear(),
        }
    }

    fn push(&mut self, now: Instant, ok: bool, slow: bool) {
        match self {
            Outcomes::Count { size, ring } => {
                if ring.len() == *size {
                    ring.pop_front();
                }
                ring.push_back((ok, slow));
            }
            Outcomes::Time { span, buckets } => {
                expire(buckets, *span, now);
                match buckets.back_mut() {
                    Some(b) if now.duration_since(b.0) < Duration::from_secs(1) => {
                        b.1 += 1;
                        b.2 += u32::from(!ok);
                        b.3 += u32::from(slow);
                    }
                    _ => buckets.push_back((now, 1, u32::from(!ok), u32::from(slow))),
                }
            }
        }
    }

    fn totals(&self, now: Instant) -> (u32, u32, u32) {
        match self {
            Outcomes::Count { ring, .. } => ring.iter().fold((0, 0, 0), |(c, f, s), (ok, slow)| {
                (c + 1, f + u32::from(!ok), s + u32::from(*slow))
            }),
            Outcomes::Time { span, buckets } => buckets
                .iter()
                .filter(|b| now.duration_since(b.0) < *span)
                .fold((0, 0, 0), |(c, f, s), b| (c + b.1, f + b.2, s + b.3)),
        }
    }
}

fn expire(buckets: &mut VecDeque<(Instant, u32, u32, u32)>, span: Duration, now: Instant) {
    while buckets
        .front()
        .is_some_and(|b| now.duration_since(b.0) >= span)
    {
        buckets.pop_front();
    }
}
