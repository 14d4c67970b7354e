//! Alerts: rules over the budgets, SLO burn rates, dependency health and system resources,
//! a pending → firing → resolved state machine evaluated by a background task (never on the
//! request path), a bounded history, and the notifiers that tell people.
//!
//! Rules and their stable names (the budget ones match `pulsecheck rules`):
//!
//! | name | severity | when |
//! |---|---|---|
//! | `Pulsecheck[Route]{LatencyP95,LatencyP99,ErrorRate}{Warning,Critical}` | warning / critical | a budget line is `warning` / `critical` over the budget window |
//! | `PulsecheckMemory{Warning,Critical}` | warning / critical | process RSS against the memory budget |
//! | `PulsecheckSloErrorBudgetBurn` | page / ticket | an SLO tier burns on both its windows |
//! | `PulsecheckDependencyDown` | critical (critical check) / warning | a check is down |
//! | `PulsecheckCircuitBreakerOpen` | warning | a check's breaker is open |
//! | `PulsecheckProcessCpuHigh`, `PulsecheckHostMemoryHigh` | warning | over `[alerts]` thresholds |
//!
//! The background task contains a panic in an evaluation: it is logged on `pulsecheck::alert`
//! at error and the next interval evaluates again.
//!
//! A condition must hold for `for` (default 30 s) to fire, and a firing alert resolves only
//! after its condition stayed clear for `keep_firing_for` (default 1 m). See
//! [`crate::config::AlertSettings`] for the `[alerts]` section of `pulsecheck.toml`.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use pulsecheck::Pulse;
//! let pulse = Pulse::builder().without_telemetry().build()?;
//! let alerts = pulse.alerts();
//! alerts.evaluate_now();
//! assert!(alerts.snapshot().alerts.iter().all(|a| a.status != pulsecheck::alert::AlertState::Firing));
//! # Ok(()) }
//! ```

mod engine;
mod event;
pub mod notify;
mod rules;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::SystemTime;

use serde::Serialize;

pub use crate::severity::Severity;
use engine::Engine;
pub use engine::{AlertView, HistoryEntry};
pub use event::{Alert, AlertEvent, AlertState, EventState};

use crate::config::{AlertSettings, PulseConfig};
use crate::health::Health;
use crate::system::SystemMonitor;
use crate::window::Aggregator;

/// What the alert rules read.
#[derive(Clone, Debug)]
pub struct AlertSources {
    /// Budgets, SLOs and `[alerts]` settings.
    pub config: Arc<PulseConfig>,
    /// Request windows.
    pub aggregator: Aggregator,
    /// Dependency health (its cached report; alerts never probe).
    pub health: Health,
    /// Process and host samples.
    pub system: SystemMonitor,
    /// `service.name`, put on every notification.
    pub service: String,
}

/// The alert engine's state as the endpoints serve it: a shared copy replaced after each
/// evaluation.
#[derive(Clone, Debug, Default, Serialize)]
pub struct AlertsSnapshot {
    /// When the last evaluation ran (absent before the first).
    #[serde(serialize_with = "crate::rfc3339::serialize_opt")]
    pub evaluated_at: Option<SystemTime>,
    /// Pending, firing and recently resolved alerts; firing first.
    pub alerts: Vec<AlertView>,
    /// Recent transitions, oldest first.
    pub history: Vec<HistoryEntry>,
    /// Evaluations so far.
    pub evaluations: u64,
}

impl AlertsSnapshot {
    /// The firing alerts.
    pub fn firing(&self) -> impl Iterator<Item = &AlertView> {
        self.alerts
            .iter()
            .filter(|a| a.status == AlertState::Firing)
    }
}

type Listener = Arc<dyn Fn(&AlertEvent) + Send + Sync>;

/// The alert engine of one service: evaluates the rules every `[alerts].interval` on a
/// background task and hands firing/resolved transitions to the listeners and notifiers.
/// Cheap to clone.
#[derive(Clone)]
pub struct Alerts {
    inner: Arc<Inner>,
}

struct Inner {
    sources: AlertSources,
    engine: Mutex<Engine>,
    snapshot: RwLock<Arc<AlertsSnapshot>>,
    listeners: Vec<Listener>,
    evaluations: AtomicU64,
    started: AtomicBool,
    task: Mutex<Option<tokio::task::AbortHandle>>,
}

/// `pulsecheck.alert.transitions`, made from the global meter at the first transition.
static TRANSITIONS: crate::instrumentation::Lazy<opentelemetry::metrics::Counter<u64>> =
    crate::instrumentation::Lazy::new(|meter| {
        meter
            .u64_counter("pulsecheck.alert.transitions")
            .with_description("Alert transitions to firing or resolved")
            .build()
    });

impl std::fmt::Debug for Alerts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Alerts")
            .field("service", &self.inner.sources.service)
            .field("listeners", &self.inner.listeners.len())
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Builds [`Alerts`].
pub struct AlertsBuilder {
    sources: AlertSources,
    listeners: Vec<Listener>,
}

impl std::fmt::Debug for AlertsBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlertsBuilder").finish_non_exhaustive()
    }
}

impl AlertsBuilder {
    /// Called for every firing and resolved transition, on the evaluation task. Keep it
    /// quick (hand work to a channel); a panic is contained and logged.
    pub fn on_event(mut self, f: impl Fn(&AlertEvent) + Send + Sync + 'static) -> Self {
        self.listeners.push(Arc::new(f));
        self
    }

    /// The engine. Its background evaluation starts with [`Alerts::start`] (which
    /// [`Pulse`](crate::Pulse) calls).
    pub fn build(self) -> Alerts {
        let settings = self.sources.config.alerts.clone();
        Alerts {
            inner: Arc::new(Inner {
                engine: Mutex::new(Engine::new(settings, self.sources.service.clone())),
                sources: self.sources,
                snapshot: RwLock::new(Arc::default()),
                listeners: self.listeners,
                evaluations: AtomicU64::new(0),
                started: AtomicBool::new(false),
                task: Mutex::new(None),
            }),
        }
    }
}

impl Alerts {
    /// A builder reading `sources`.
    pub fn builder(sources: AlertSources) -> AlertsBuilder {
        AlertsBuilder {
            sources,
            listeners: Vec::new(),
        }
    }

    /// `service.name` as notifications carry it.
    pub fn service(&self) -> &str {
        &self.inner.sources.service
    }

    /// The settings in force.
    pub fn settings(&self) -> &AlertSettings {
        &self.inner.sources.config.alerts
    }

    /// The state after the latest evaluation (a shared copy; cheap).
    pub fn snapshot(&self) -> Arc<AlertsSnapshot> {
        Arc::clone(
            &self
                .inner
                .snapshot
                .read()
                .unwrap_or_else(|p| p.into_inner()),
        )
    }

    /// Runs one evaluation now. The background task calls this; tests and custom schedulers
    /// may too.
    pub fn evaluate_now(&self) -> Vec<AlertEvent> {
        self.evaluate_at(SystemTime::now())
    }

    /// Runs one evaluation as if the time were `now` (for simulated clocks; `now` must not go
    /// backwards between calls).
    pub fn evaluate_at(&self, now: SystemTime) -> Vec<AlertEvent> {
        let s = &self.inner.sources;
        let health = s.health.cached_report();
        let system = s.system.latest();
        let active = rules::active(&rules::Inputs {
            config: &s.config,
            aggregator: &s.aggregator,
            health: &health,
            system: &system,
        });
        let (events, snapshot) = {
            let mut engine = lock(&self.inner.engine);
            let events = engine.step(now, active);
            let evaluations = self.inner.evaluations.fetch_add(1, Ordering::Relaxed) + 1;
            let snapshot = AlertsSnapshot {
                evaluated_at: Some(now),
                alerts: engine.alerts(),
                history: engine.history(),
                evaluations,
            };
            (events, snapshot)
        };
        *self
            .inner
            .snapshot
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Arc::new(snapshot);
        for e in &events {
            self.announce(e);
        }
        events
    }

    fn announce(&self, e: &AlertEvent) {
        let a = &e.alert;
        match e.state {
            EventState::Firing if a.severity.is_urgent() => tracing::error!(
                target: "pulsecheck::alert", alert = %a.name, severity = a.severity.as_str(),
                labels = ?a.labels, value = ?a.value, threshold = ?a.threshold,
                trace_ids = ?a.trace_ids, "alert firing: {}", a.summary),
            EventState::Firing => tracing::warn!(
                target: "pulsecheck::alert", alert = %a.name, severity = a.severity.as_str(),
                labels = ?a.labels, value = ?a.value, threshold = ?a.threshold,
                trace_ids = ?a.trace_ids, "alert firing: {}", a.summary),
            EventState::Resolved => tracing::info!(
                target: "pulsecheck::alert", alert = %a.name, severity = a.severity.as_str(),
                labels = ?a.labels, "alert resolved: {}", a.summary),
        }
        let state = match e.state {
            EventState::Firing => "firing",
            EventState::Resolved => "resolved",
        };
        TRANSITIONS.get().add(
            1,
            &[
                opentelemetry::KeyValue::new("alert.name", a.name.clone()),
                opentelemetry::KeyValue::new("alert.severity", a.severity.as_str()),
                opentelemetry::KeyValue::new("alert.state", state),
            ],
        );
        for l in &self.inner.listeners {
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| l(e))).is_err() {
                tracing::error!(target: "pulsecheck::alert", alert = %a.name, "an alert listener panicked");
            }
        }
    }

    /// Starts the background evaluation on the current tokio runtime (once; later calls and
    /// calls outside a runtime do nothing). Returns whether it runs.
    pub fn start(&self) -> bool {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return self.inner.started.load(Ordering::Acquire);
        };
        if self.inner.started.swap(true, Ordering::AcqRel) {
            return true;
        }
        let weak = Arc::downgrade(&self.inner);
        let interval = self.settings().interval;
        let handle = runtime.spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(inner) = weak.upgrade() else { return };
                let alerts = Alerts { inner };
                // A panic in one evaluation (a rule, a log sink, a metrics exporter) must not
                // end the task: alerts would silently stop while `started` stays true.
                if let Err(panic) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    alerts.evaluate_now();
                })) {
                    tracing::error!(
                        target: "pulsecheck::alert",
                        panic = %crate::panic_text::panic_text(&*panic),
                        "alert evaluation panicked; evaluating again in {interval:?}"
                    );
                }
            }
        });
        *lock(&self.inner.task) = Some(handle.abort_handle());
        true
    }

    /// Stops the background evaluation. Safe to call twice.
    pub fn stop(&self) {
        if let Some(h) = lock(&self.inner.task).take() {
            h.abort();
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(h) = lock(&self.task).take() {
            h.abort();
        }
    }
}
