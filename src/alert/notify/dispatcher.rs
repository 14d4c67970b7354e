//! The dispatcher: one bounded queue and one delivery task per notifier, so that a slow or dead
//! receiver only ever delays its own notifications.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::metrics::Counter;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::{Notifier, NotifyConfigError, NotifyError, RetryPolicy};
use crate::alert::{AlertEvent, EventState};

/// Notifications waiting per notifier before new ones are dropped.
pub const QUEUE_CAPACITY_DEFAULT: usize = 256;
/// How often a still-firing alert is sent again. Alertmanager's notifier asks for 1 minute.
pub const REPEAT_INTERVAL_DEFAULT: Duration = Duration::from_secs(4 * 3600);
/// At most one "queue full" warning per notifier per this long.
const DROP_WARNING_EVERY: Duration = Duration::from_secs(10);

/// Delivers [`AlertEvent`]s to notifiers off the evaluation path.
///
/// [`submit`](Self::submit) only puts the event on one bounded queue per notifier and
/// returns; it never waits. Each notifier has its own task that sends its queue in order
/// (so a resolution never overtakes its trigger), with a timeout per attempt and retries
/// with backoff on retryable errors, honouring `Retry-After` (see [`RetryPolicy`]). When a
/// queue is full the event is dropped for that notifier, counted and logged (at most one
/// warning per notifier every 10 s). Firing alerts are sent again every repeat interval
/// until they resolve.
///
/// Cloning is cheap; clones share the queues. Counts are in [`stats`](Self::stats) and in
/// the OpenTelemetry counters `pulsecheck.alert.notifications` (attributes `notifier` and
/// `outcome`: `sent`, `failed` or `dropped`) and `pulsecheck.alert.notification.retries`.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use pulsecheck::alert::notify::{Dispatcher, Notifier, NotifyFuture};
/// use pulsecheck::alert::{Alert, AlertEvent, EventState, Severity};
///
/// #[derive(Debug)]
/// struct Stdout;
///
/// impl Notifier for Stdout {
///     fn name(&self) -> &str {
///         "stdout"
///     }
///     fn send<'a>(&'a self, event: &'a AlertEvent) -> NotifyFuture<'a> {
///         Box::pin(async move {
///             println!("{:?} {}", event.state, event.alert.name);
///             Ok(())
///         })
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dispatcher = Dispatcher::builder().notifier(Stdout).build()?;
/// let alert = Alert {
///     name: "PulsecheckLatencyP95Critical".into(),
///     severity: Severity::Critical,
///     labels: [("route".to_owned(), "/api/courses".to_owned())].into(),
///     value: Some(1.8),
///     threshold: Some(1.0),
///     summary: "P95 of GET /api/courses is 1.8 s (budget 1 s)".into(),
///     trace_ids: vec![],
/// };
/// dispatcher.submit(AlertEvent {
///     state: EventState::Firing,
///     fingerprint: alert.fingerprint(),
///     alert,
///     starts_at: SystemTime::now(),
///     pending_since: SystemTime::now(),
///     ends_at: None,
///     service: "academy".into(),
/// });
/// dispatcher.shutdown(Duration::from_secs(5)).await;
/// assert_eq!(dispatcher.stats()[0].sent, 1);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Dispatcher {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    lanes: Vec<Lane>,
    closed: AtomicBool,
    /// `Some(deadline)` once shutdown began.
    shutdown: watch::Sender<Option<Instant>>,
    workers: Mutex<Vec<JoinHandle<()>>>,
    started: Instant,
}

#[derive(Debug)]
struct Lane {
    name: String,
    capacity: usize,
    tx: mpsc::Sender<Arc<AlertEvent>>,
    stats: Arc<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    sent: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
    retries: AtomicU64,
    /// Milliseconds after `Inner::started` of the last drop warning, plus one (0: never).
    last_drop_warning: AtomicU64,
}

/// The dispatcher's counters, made from the global meter on first use.
static INSTRUMENTS: crate::instrumentation::Lazy<Instruments> =
    crate::instrumentation::Lazy::new(Instruments::new);

#[derive(Debug)]
struct Instruments {
    notifications: Counter<u64>,
    retries: Counter<u64>,
}

impl Instruments {
    fn new(meter: &opentelemetry::metrics::Meter) -> Self {
        Self {
            notifications: meter
                .u64_counter("pulsecheck.alert.notifications")
                .with_description(
                    "Alert notifications by notifier and outcome (sent, failed, dropped)",
                )
                .build(),
            retries: meter
                .u64_counter("pulsecheck.alert.notification.retries")
                .with_description("Alert notification attempts repeated after a retryable error")
                .build(),
        }
    }
}

/// What one notifier did so far.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct NotifierStats {
    /// [`Notifier::name`].
    pub name: String,
    /// Notifications delivered (repeats included).
    pub sent: u64,
    /// Notifications given up: a permanent error, or retries exhausted.
    pub failed: u64,
    /// Notifications never attempted: the queue was full, or the dispatcher shut down.
    pub dropped: u64,
    /// Attempts repeated after a retryable error.
    pub retries: u64,
    /// Notifications waiting now.
    pub queued: usize,
}

impl Dispatcher {
    /// A builder with no notifiers; see [`DispatcherBuilder`].
    pub fn builder() -> DispatcherBuilder {
        DispatcherBuilder::default()
    }

    /// The notifiers configured by the environment (`PULSE_WEBHOOK_URL`,
    /// `PULSE_SLACK_WEBHOOK_URL`, `PULSE_PAGERDUTY_ROUTING_KEY`, `PULSE_ALERTMANAGER_URL`,
    /// `PULSE_ALERT_EMAIL_TO`; see [`DispatcherBuilder::with_env`]) with default settings, or
    /// `None` when none is set. Must be called inside a Tokio runtime.
    pub fn from_env(service_name: &str) -> Result<Option<Self>, NotifyConfigError> {
        let builder = Self::builder().with_env(service_name)?;
        if builder.notifiers.is_empty() {
            return Ok(None);
        }
        builder.build().map(Some)
    }

    /// Queues `event` for every notifier and returns at once. Never blocks, never awaits:
    /// a full queue drops the event for that notifier (counted in
    /// [`NotifierStats::dropped`]).
    pub fn submit(&self, event: AlertEvent) {
        let closed = self.inner.closed.load(Ordering::Acquire);
        let event = Arc::new(event);
        for lane in &self.inner.lanes {
            if closed {
                self.inner
                    .dropped(lane, &event, "the dispatcher is shut down");
                continue;
            }
            match lane.tx.try_send(Arc::clone(&event)) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(_)) => {
                    self.inner.dropped(lane, &event, "its queue is full");
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    self.inner.dropped(lane, &event, "its delivery task ended");
                }
            }
        }
    }

    /// Counts per notifier, in the order they were added.
    pub fn stats(&self) -> Vec<NotifierStats> {
        self.inner
            .lanes
            .iter()
            .map(|lane| NotifierStats {
                name: lane.name.clone(),
                sent: lane.stats.sent.load(Ordering::Relaxed),
                failed: lane.stats.failed.load(Ordering::Relaxed),
                dropped: lane.stats.dropped.load(Ordering::Relaxed),
                retries: lane.stats.retries.load(Ordering::Relaxed),
                queued: lane.capacity.saturating_sub(lane.tx.capacity()),
            })
            .collect()
    }

    /// The notifiers' names, in the order they were added.
    pub fn notifier_names(&self) -> Vec<&str> {
        self.inner.lanes.iter().map(|l| l.name.as_str()).collect()
    }

    /// Stops accepting events and delivers what is queued, with retries, until `deadline`
    /// has passed; deliveries still running then are abandoned (counted as failed when
    /// they were being attempted, otherwise lost with the task). Repeats stop. Idempotent.
    pub async fn shutdown(&self, deadline: Duration) {
        let until = Instant::now() + deadline;
        self.inner.closed.store(true, Ordering::Release);
        self.inner.shutdown.send_if_modified(|d| {
            if d.is_none() {
                *d = Some(until);
                true
            } else {
                false
            }
        });
        let workers = match self.inner.workers.lock() {
            Ok(mut w) => std::mem::take(&mut *w),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        };
        for mut worker in workers {
            if tokio::time::timeout_at(until, &mut worker).await.is_err() {
                worker.abort();
                tracing::warn!(
                    target: "pulsecheck::alert",
                    "alert notifications still undelivered at the shutdown deadline were abandoned"
                );
            }
        }
    }
}

impl Inner {
    fn dropped(&self, lane: &Lane, event: &AlertEvent, why: &str) {
        lane.stats.dropped.fetch_add(1, Ordering::Relaxed);
        INSTRUMENTS.get().notifications.add(
            1,
            &[
                KeyValue::new("notifier", lane.name.clone()),
                KeyValue::new("outcome", "dropped"),
            ],
        );
        // Rate-limited: a dead receiver under an alert storm must not flood the logs.
        let now = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX - 1) + 1;
        let last = lane.stats.last_drop_warning.load(Ordering::Relaxed);
        let every = DROP_WARNING_EVERY.as_millis() as u64;
        if (last == 0 || now.saturating_sub(last) >= every)
            && lane
                .stats
                .last_drop_warning
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(
                target: "pulsecheck::alert",
                notifier = %lane.name,
                alert = %event.alert.name,
                dropped_total = lane.stats.dropped.load(Ordering::Relaxed),
                "alert notification dropped: {why}"
            );
        }
    }
}

/// Builds a [`Dispatcher`]: notifiers, queue capacity, retries and repeat intervals.
///
/// See the [`Dispatcher`] docs for an example.
#[derive(Debug)]
pub struct DispatcherBuilder {
    pub(super) notifiers: Vec<Arc<dyn Notifier>>,
    capacity: usize,
    retry: RetryPolicy,
    repeat: Option<Duration>,
    repeat_for: HashMap<String, Option<Duration>>,
}

impl Default for DispatcherBuilder {
    fn default() -> Self {
        Self {
            notifiers: Vec::new(),
            capacity: QUEUE_CAPACITY_DEFAULT,
            retry: RetryPolicy::default(),
            repeat: Some(REPEAT_INTERVAL_DEFAULT),
            repeat_for: HashMap::new(),
        }
    }
}

impl DispatcherBuilder {
    /// Adds a notifier (any [`Notifier`], a `Box<dyn Notifier>` or an `Arc<dyn Notifier>`).
    pub fn notifier(mut self, notifier: impl Notifier) -> Self {
        self.notifiers.push(Arc::new(notifier));
        self
    }

    /// Notifications that may wait per notifier (at least 1). Defaults to
    /// [`QUEUE_CAPACITY_DEFAULT`].
    pub fn queue_capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity.max(1);
        self
    }

    /// Attempts, timeouts and backoff. Defaults to [`RetryPolicy::default`].
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// How often a firing alert is sent again to notifiers that do not ask for their own
    /// interval ([`Notifier::repeat_interval`]); `None` sends it once. Defaults to
    /// [`REPEAT_INTERVAL_DEFAULT`] (4 hours).
    pub fn repeat_interval(mut self, interval: Option<Duration>) -> Self {
        self.repeat = interval.filter(|d| !d.is_zero());
        self
    }

    /// The repeat interval of the notifiers named `name`, overriding both
    /// [`repeat_interval`](Self::repeat_interval) and the notifier's own. For Alertmanager,
    /// change `AlertmanagerNotifier::resend_interval`
    /// instead: its `endsAt` must stay ahead of the next refresh.
    pub fn repeat_interval_for(mut self, name: &str, interval: Option<Duration>) -> Self {
        self.repeat_for
            .insert(name.to_owned(), interval.filter(|d| !d.is_zero()));
        self
    }

    /// Starts one delivery task per notifier on the current Tokio runtime.
    pub fn build(self) -> Result<Dispatcher, NotifyConfigError> {
        let runtime =
            tokio::runtime::Handle::try_current().map_err(|_| NotifyConfigError::NoRuntime)?;
        let (shutdown, _) = watch::channel(None);
        let mut lanes = Vec::with_capacity(self.notifiers.len());
        let mut workers = Vec::with_capacity(self.notifiers.len());
        for notifier in self.notifiers {
            let name = notifier.name().to_owned();
            let repeat = match self.repeat_for.get(&name) {
                Some(interval) => *interval,
                None => notifier.repeat_interval().or(self.repeat),
            }
            .filter(|d| !d.is_zero());
            let (tx, rx) = mpsc::channel(self.capacity);
            let stats = Arc::new(Counts::default());
            let worker = Worker {
                notifier,
                name: name.clone(),
                retry: self.retry.clone(),
                repeat,
                stats: Arc::clone(&stats),
                shutdown: shutdown.subscribe(),
            };
            workers.push(runtime.spawn(worker.run(rx)));
            lanes.push(Lane {
                name,
                capacity: self.capacity,
                tx,
                stats,
            });
        }
        Ok(Dispatcher {
            inner: Arc::new(Inner {
                lanes,
                closed: AtomicBool::new(false),
                shutdown,
                workers: Mutex::new(workers),
                started: Instant::now(),
            }),
        })
    }
}

/// One notifier's delivery task.
struct Worker {
    notifier: Arc<dyn Notifier>,
    name: String,
    retry: RetryPolicy,
    repeat: Option<Duration>,
    stats: Arc<Counts>,
    shutdown: watch::Receiver<Option<Instant>>,
}

impl Worker {
    async fn run(mut self, mut rx: mpsc::Receiver<Arc<AlertEvent>>) {
        // Firing alerts by fingerprint, with when they are next due again.
        let mut firing: HashMap<String, (Arc<AlertEvent>, Instant)> = HashMap::new();
        loop {
            if self.shutdown.borrow().is_some() {
                break;
            }
            let next_due = firing.values().map(|(_, due)| *due).min();
            tokio::select! {
                // Queued events first: a queued resolution must cancel a repeat that is due.
                biased;
                event = rx.recv() => match event {
                    Some(event) => {
                        self.remember(&mut firing, &event);
                        self.deliver(&event).await;
                    }
                    None => break,
                },
                _ = self.shutdown.changed() => break,
                () = sleep_until_opt(next_due), if next_due.is_some() => {
                    self.repeat_due(&mut firing).await;
                }
            }
        }
        // Shutting down (or every sender is gone): flush what is queued, repeats stop.
        rx.close();
        while let Ok(event) = rx.try_recv() {
            let deadline = *self.shutdown.borrow();
            if deadline.is_some_and(|d| Instant::now() >= d) {
                // Out of time: what is left is never attempted.
                let left = 1 + rx.len() as u64;
                self.stats.dropped.fetch_add(left, Ordering::Relaxed);
                INSTRUMENTS.get().notifications.add(
                    left,
                    &[
                        KeyValue::new("notifier", self.name.clone()),
                        KeyValue::new("outcome", "dropped"),
                    ],
                );
                tracing::warn!(
                    target: "pulsecheck::alert",
                    notifier = %self.name,
                    dropped = left,
                    "alert notifications still queued at the shutdown deadline were dropped"
                );
                return;
            }
            self.deliver(&event).await;
        }
    }

    fn remember(
        &self,
        firing: &mut HashMap<String, (Arc<AlertEvent>, Instant)>,
        event: &Arc<AlertEvent>,
    ) {
        match (event.state, self.repeat) {
            (EventState::Firing, Some(every)) => {
                firing.insert(
                    event.fingerprint.clone(),
                    (Arc::clone(event), Instant::now() + every),
                );
            }
            _ => {
                firing.remove(&event.fingerprint);
            }
        }
    }

    async fn repeat_due(&mut self, firing: &mut HashMap<String, (Arc<AlertEvent>, Instant)>) {
        let Some(every) = self.repeat else { return };
        let now = Instant::now();
        let due: Vec<Arc<AlertEvent>> = firing
            .values_mut()
            .filter(|(_, due)| *due <= now)
            .map(|(event, due)| {
                *due = now + every;
                Arc::clone(event)
            })
            .collect();
        for event in due {
            tracing::debug!(
                target: "pulsecheck::alert",
                notifier = %self.name,
                alert = %event.alert.name,
                "repeating a firing alert"
            );
            self.deliver(&event).await;
        }
    }

    /// Sends one event with retries; counts and logs the outcome.
    async fn deliver(&mut self, event: &AlertEvent) {
        let mut attempt = 1;
        loop {
            let deadline = *self.shutdown.borrow();
            let mut timeout = self.retry.timeout();
            if let Some(deadline) = deadline {
                timeout = timeout.min(deadline.saturating_duration_since(Instant::now()));
            }
            let result = match tokio::time::timeout(timeout, self.notifier.send(event)).await {
                Ok(result) => result,
                Err(_) => Err(NotifyError::retryable(format!(
                    "no answer within {}",
                    humantime::format_duration(timeout)
                ))),
            };
            let error = match result {
                Ok(()) => {
                    self.stats.sent.fetch_add(1, Ordering::Relaxed);
                    self.count("sent");
                    tracing::debug!(
                        target: "pulsecheck::alert",
                        notifier = %self.name,
                        alert = %event.alert.name,
                        state = ?event.state,
                        attempt,
                        "alert notification sent"
                    );
                    return;
                }
                Err(e) => e,
            };
            let wait = self.retry.delay(attempt, error.retry_after());
            let in_time = deadline.is_none_or(|d| Instant::now() + wait < d);
            if !error.is_retryable() || attempt >= self.retry.attempts() || !in_time {
                self.stats.failed.fetch_add(1, Ordering::Relaxed);
                self.count("failed");
                tracing::warn!(
                    target: "pulsecheck::alert",
                    notifier = %self.name,
                    alert = %event.alert.name,
                    state = ?event.state,
                    attempts = attempt,
                    retryable = error.is_retryable(),
                    error = %error,
                    "alert notification failed, giving up"
                );
                return;
            }
            tracing::debug!(
                target: "pulsecheck::alert",
                notifier = %self.name,
                alert = %event.alert.name,
                attempt,
                retry_in_ms = wait.as_millis() as u64,
                error = %error,
                "alert notification failed, will retry"
            );
            self.stats.retries.fetch_add(1, Ordering::Relaxed);
            INSTRUMENTS
                .get()
                .retries
                .add(1, &[KeyValue::new("notifier", self.name.clone())]);
            let wake = Instant::now() + wait;
            // A shutdown during the wait cuts it to the deadline (checked above next round).
            while Instant::now() < wake {
                tokio::select! {
                    () = tokio::time::sleep_until(wake) => {}
                    changed = self.shutdown.changed() => {
                        let cut = *self.shutdown.borrow();
                        if changed.is_err() || cut.is_some_and(|d| d <= wake) {
                            break;
                        }
                    }
                }
            }
            attempt += 1;
        }
    }

    fn count(&self, outcome: &'static str) {
        INSTRUMENTS.get().notifications.add(
            1,
            &[
                KeyValue::new("notifier", self.name.clone()),
                KeyValue::new("outcome", outcome),
            ],
        );
    }
}

async fn sleep_until_opt(when: Option<Instant>) {
    match when {
        Some(when) => tokio::time::sleep_until(when).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::notify::NotifyFuture;

    #[derive(Debug)]
    struct Noop;

    impl Notifier for Noop {
        fn name(&self) -> &str {
            "noop"
        }
        fn send<'a>(&'a self, _: &'a AlertEvent) -> NotifyFuture<'a> {
            Box::pin(async { Ok(()) })
        }
    }

    #[test]
    fn building_needs_a_runtime() {
        let err = Dispatcher::builder().notifier(Noop).build().err();
        assert_eq!(err, Some(NotifyConfigError::NoRuntime));
    }

    #[tokio::test]
    async fn boxed_and_shared_notifiers_are_notifiers() {
        let boxed: Box<dyn Notifier> = Box::new(Noop);
        let shared: Arc<dyn Notifier> = Arc::new(Noop);
        let dispatcher = Dispatcher::builder()
            .notifier(boxed)
            .notifier(shared)
            .build()
            .unwrap();
        assert_eq!(dispatcher.notifier_names(), ["noop", "noop"]);
        dispatcher.shutdown(Duration::from_secs(1)).await;
    }
}
