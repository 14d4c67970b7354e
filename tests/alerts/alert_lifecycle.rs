//! The alert engine on a simulated clock: real aggregator windows and budgets, a manual clock
//! for both the windows and the state machine, listeners counting notifications.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use pulsecheck::alert::{AlertEvent, AlertSources, AlertState, Alerts, EventState};
use pulsecheck::config::AlertSettings;
use pulsecheck::config::{Budgets, PulseConfig};
use pulsecheck::health::Health;
use pulsecheck::layer::{HttpMethod, RequestRecord, RouteTable};
use pulsecheck::otel::opentelemetry::trace::TraceId;
use pulsecheck::system::SystemMonitor;
use pulsecheck::window::{Aggregator, AggregatorConfig, ManualClock, Window};

const P95_ALERT: &str = "PulsecheckLatencyP95Critical";

struct Sim {
    clock: ManualClock,
    agg: Aggregator,
    alerts: Alerts,
    events: Arc<Mutex<Vec<AlertEvent>>>,
    second: u64,
    next_trace: u128,
}

fn t0() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

impl Sim {
    fn new() -> Self {
        Self::with_keep_firing_for(Duration::from_secs(60))
    }

    fn with_keep_firing_for(keep_firing_for: Duration) -> Self {
        let config = PulseConfig {
            budgets: Budgets {
                p95_ms: 200.0,
                p99_ms: 400.0,
                min_requests: 5,
                window: Window::OneMinute,
                ..Budgets::default()
            },
            alerts: AlertSettings {
                pending_for: Duration::from_secs(30),
                keep_firing_for,
                ..AlertSettings::default()
            },
            ..PulseConfig::default()
        };
        let clock = ManualClock::new(0);
        let agg = Aggregator::with_clock(
            AggregatorConfig::default(),
            Arc::new(RouteTable::default()),
            clock.clone(),
        );
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&events);
        let alerts = Alerts::builder(AlertSources {
            config: Arc::new(config),
            aggregator: agg.clone(),
            health: Health::builder().build(),
            system: SystemMonitor::start(Duration::from_secs(3600)).unwrap(),
            service: "sim".into(),
        })
        .on_event(move |e| sink.lock().unwrap().push(e.clone()))
        .build();
        Self {
            clock,
            agg,
            alerts,
            events,
            second: 0,
            next_trace: 1,
        }
    }

    /// One simulated second with `n` requests of `ms` milliseconds, then an evaluation.
    fn second(&mut self, n: usize, ms: u64) {
        for _ in 0..n {
            self.next_trace += 1;
            self.agg.record(&RequestRecord {
                method: HttpMethod::Get,
                route: None,
                status: 200,
                duration: Duration::from_millis(ms),
                trace_id: Some(TraceId::from_bytes(self.next_trace.to_be_bytes())),
            });
        }
        self.clock.advance(1);
        self.agg.tick();
        self.second += 1;
        self.alerts
            .evaluate_at(t0() + Duration::from_secs(self.second));
    }

    fn p95_events(&self) -> Vec<AlertEvent> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e.alert.name == P95_ALERT)
            .cloned()
            .collect()
    }

    fn p95_state(&self) -> Option<AlertState> {
        self.alerts
            .snapshot()
            .alerts
            .iter()
            .find(|a| a.name == P95_ALERT)
            .map(|a| a.status)
    }
}

#[test]
fn latency_breach_fires_after_for_and_resolves_once_after_recovery() {
    let mut sim = Sim::new();
    // Healthy traffic: nothing.
    for _ in 0..20 {
        sim.second(10, 20);
    }
    assert_eq!(sim.p95_state(), None);
    // Breach: every request 500 ms. Pending as soon as the window's p95 crosses the
    // budget (a few seconds, as slow requests pass 5 % of the window), firing 30 s later.
    let start = sim.second;
    while sim.p95_state().is_none() {
        assert!(sim.second - start <= 5, "never pending");
        sim.second(10, 500);
    }
    let breach_start = sim.second;
    assert_eq!(sim.p95_state(), Some(AlertState::Pending));
    assert!(sim.p95_events().is_empty());
    while sim.p95_events().is_empty() {
        assert!(sim.second - breach_start <= 40, "never fired");
        sim.second(10, 500);
    }
    let fired_after = sim.second - breach_start;
    assert_eq!(fired_after, 30, "fires exactly `for` after pending");
    // The listing keeps both moments: when the condition began (the incident's start, what
    // an operator correlates with a deploy) and when it fired.
    let view = sim
        .alerts
        .snapshot()
        .alerts
        .iter()
        .find(|a| a.name == P95_ALERT)
        .cloned()
        .unwrap();
    let pending_at = t0() + Duration::from_secs(breach_start);
    let fired_at = t0() + Duration::from_secs(sim.second);
    assert_eq!(view.pending_since, pending_at);
    assert_eq!(view.fired_at, Some(fired_at));
    assert_eq!(view.since, fired_at);
    let json = serde_json::to_value(&view).unwrap();
    assert_eq!(
        json["pending_since"],
        humantime::format_rfc3339_millis(pending_at).to_string()
    );
    assert_ne!(json["pending_since"], json["fired_at"], "{json}");
    let ev = sim.p95_events();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].state, EventState::Firing);
    assert_eq!(ev[0].alert.threshold, Some(200.0));
    assert!(
        ev[0].alert.value.unwrap() > 400.0,
        "{:?}",
        ev[0].alert.value
    );
    assert!(!ev[0].alert.trace_ids.is_empty(), "exemplar trace ids");
    assert_eq!(ev[0].alert.trace_ids[0].len(), 32);
    assert_eq!(ev[0].service, "sim");
    assert_eq!(
        ev[0].pending_since, pending_at,
        "notifiers know the start too"
    );
    assert_eq!(ev[0].starts_at, fired_at);
    // Keep breaching a while: no repeat events from the engine.
    for _ in 0..30 {
        sim.second(10, 500);
    }
    assert_eq!(sim.p95_events().len(), 1);
    // Recovery: fast requests. The 1 m window forgets the slow ones within a minute, then
    // the alert keeps firing for keep_firing_for (60 s), then resolves once.
    let recovery = sim.second;
    while sim.p95_events().len() < 2 {
        assert!(sim.second - recovery <= 200, "never resolved");
        sim.second(10, 20);
    }
    let resolved_after = sim.second - recovery;
    assert!(
        (60..=125).contains(&resolved_after),
        "resolved after {resolved_after} s"
    );
    let ev = sim.p95_events();
    assert_eq!(ev[1].state, EventState::Resolved);
    assert_eq!(ev[1].fingerprint, ev[0].fingerprint);
    assert_eq!(ev[1].starts_at, ev[0].starts_at);
    assert_eq!(ev[1].pending_since, pending_at);
    assert!(ev[1].ends_at.is_some());
    for _ in 0..60 {
        sim.second(10, 20);
    }
    assert_eq!(sim.p95_events().len(), 2, "one notification each way");
    assert_eq!(sim.p95_state(), Some(AlertState::Resolved));
    let history: Vec<AlertState> = sim
        .alerts
        .snapshot()
        .history
        .iter()
        .filter(|h| h.name == P95_ALERT)
        .map(|h| h.state)
        .collect();
    assert_eq!(
        history,
        [
            AlertState::Pending,
            AlertState::Firing,
            AlertState::Resolved
        ]
    );
}

/// Ten slow seconds every 90 s: the 1 m window's p95 is over budget for about a minute, then
/// under it for half a minute, again and again.
fn flap(sim: &mut Sim) -> (usize, usize) {
    for s in 0..900 {
        let ms = if s % 90 < 10 { 500 } else { 20 };
        sim.second(10, ms);
    }
    let ev = sim.p95_events();
    let firing = ev.iter().filter(|e| e.state == EventState::Firing).count();
    (firing, ev.len() - firing)
}

#[test]
fn flapping_latency_gives_no_notification_storm() {
    // The control: without keep_firing_for the same input notifies on every cycle, so the
    // input does flap.
    let (firing, resolved) = flap(&mut Sim::with_keep_firing_for(Duration::ZERO));
    assert!(
        firing >= 8 && resolved >= 8,
        "control: {firing} firing, {resolved} resolved"
    );
    let mut sim = Sim::new();
    let (firing, resolved) = flap(&mut sim);
    assert_eq!((firing, resolved), (1, 0), "one incident while it flaps");
    assert_eq!(sim.p95_state(), Some(AlertState::Firing));
}

#[test]
fn short_spikes_never_fire() {
    let mut sim = Sim::new();
    // One 5 s request every 40 s among 10 fast ones a second: at most 2 of ~600 requests in
    // the 1 m window, so the p95 never moves, and the spike's own second does not page.
    for s in 0..300 {
        if s % 40 == 0 {
            sim.second(1, 5000);
        } else {
            sim.second(10, 20);
        }
    }
    assert!(sim.p95_events().is_empty(), "{:?}", sim.p95_events());
    assert_eq!(sim.p95_state(), None);
}

/// A tracing layer standing for a log sink that fails: it panics on the first "alert firing"
/// line on `pulsecheck::alert` (inside the evaluation, where `announce` logs), and keeps
/// every line it sees.
struct FailingSink {
    armed: std::sync::atomic::AtomicBool,
    seen: Arc<Mutex<Vec<(tracing::Level, String)>>>,
}

struct Message<'a>(&'a mut String);

impl tracing::field::Visit for Message<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        use std::fmt::Write as _;
        let _ = write!(self.0, " {}={value:?}", field.name());
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for FailingSink {
    fn on_event(&self, e: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if e.metadata().target() != "pulsecheck::alert" {
            return;
        }
        let mut text = String::new();
        e.record(&mut Message(&mut text));
        let firing = text.contains("alert firing");
        self.seen
            .lock()
            .unwrap()
            .push((*e.metadata().level(), text));
        if firing && self.armed.swap(false, std::sync::atomic::Ordering::SeqCst) {
            panic!("the log sink failed");
        }
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_panic_in_an_evaluation_is_logged_and_the_next_interval_evaluates_again() {
    use tracing_subscriber::layer::SubscriberExt as _;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = FailingSink {
        armed: true.into(),
        seen: Arc::clone(&seen),
    };
    // Current-thread runtime: the evaluation task runs on this thread, under this subscriber.
    let _guard = tracing::subscriber::set_default(tracing_subscriber::registry().with(sink));
    let config = PulseConfig {
        budgets: Budgets {
            min_requests: 1,
            window: Window::OneMinute,
            ..Budgets::default()
        },
        alerts: AlertSettings {
            interval: Duration::from_millis(100),
            pending_for: Duration::ZERO,
            ..AlertSettings::default()
        },
        ..PulseConfig::default()
    };
    let clock = ManualClock::new(0);
    let agg = Aggregator::with_clock(
        AggregatorConfig::default(),
        Arc::new(RouteTable::default()),
        clock.clone(),
    );
    for _ in 0..10 {
        agg.record(&RequestRecord {
            method: HttpMethod::Get,
            route: None,
            status: 500,
            duration: Duration::from_millis(5),
            trace_id: None,
        });
    }
    clock.advance(1);
    agg.tick();
    let alerts = Alerts::builder(AlertSources {
        config: Arc::new(config),
        aggregator: agg,
        health: Health::builder().build(),
        system: SystemMonitor::start(Duration::from_secs(3600)).unwrap(),
        service: "sim".into(),
    })
    .build();
    assert!(alerts.start());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while alerts.snapshot().evaluations < 5 {
        assert!(
            std::time::Instant::now() < deadline,
            "evaluations stopped at {} after the panic; lines: {:?}",
            alerts.snapshot().evaluations,
            seen.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    alerts.stop();
    let seen = seen.lock().unwrap();
    let logged = seen.iter().find(|(level, text)| {
        *level == tracing::Level::ERROR
            && text.contains("alert evaluation panicked")
            && text.contains("the log sink failed")
    });
    assert!(logged.is_some(), "the panic was not logged: {seen:?}");
    // The alert itself is still firing in the state served to readers.
    assert!(
        alerts
            .snapshot()
            .firing()
            .any(|a| a.name == "PulsecheckErrorRateCritical"),
        "{:?}",
        alerts.snapshot()
    );
}
