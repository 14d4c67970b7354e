//! The alert state machine: pending → firing → resolved, with `for` and `keep_firing_for`,
//! and a bounded history of transitions. Pure: time is an argument, so tests drive it on a
//! simulated clock.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::event::{Alert, AlertEvent, AlertState, EventState};
use crate::config::AlertSettings;

/// One alert's place in the state machine.
#[derive(Clone, Debug)]
struct Entry {
    alert: Alert,
    state: AlertState,
    /// When the condition started holding (pending since).
    active_since: SystemTime,
    /// When it started firing.
    fired_at: Option<SystemTime>,
    /// While firing: when the condition stopped holding.
    inactive_since: Option<SystemTime>,
    /// When it resolved.
    resolved_at: Option<SystemTime>,
}

/// An alert as `/health/alerts` lists it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AlertView {
    /// Stable name.
    pub name: String,
    /// `warning`, `critical`, `ticket` or `page`.
    pub severity: super::Severity,
    /// `pending`, `firing` or `resolved`.
    pub status: AlertState,
    /// When the current status began (pending: the condition; firing: the first
    /// notification; resolved: the resolution).
    #[serde(serialize_with = "crate::rfc3339::serialize")]
    pub since: SystemTime,
    /// When the condition started holding, the incident's start: `for` before `fired_at`
    /// once it fires, so a reader sees both when it began and when it paged.
    #[serde(serialize_with = "crate::rfc3339::serialize")]
    pub pending_since: SystemTime,
    /// When it started firing (absent while pending).
    #[serde(serialize_with = "crate::rfc3339::serialize_opt")]
    pub fired_at: Option<SystemTime>,
    /// Observed value.
    pub value: Option<f64>,
    /// Limit.
    pub threshold: Option<f64>,
    /// One line for a human.
    pub summary: String,
    /// Identity labels.
    pub labels: std::collections::BTreeMap<String, String>,
    /// Example slow or failed requests.
    pub trace_ids: Vec<String>,
    /// [`Alert::fingerprint`].
    pub fingerprint: String,
}

/// One transition, kept in the history.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HistoryEntry {
    /// When.
    #[serde(serialize_with = "crate::rfc3339::serialize")]
    pub at: SystemTime,
    /// Alert name.
    pub name: String,
    /// Its labels.
    pub labels: std::collections::BTreeMap<String, String>,
    /// Its severity.
    pub severity: super::Severity,
    /// The state entered: `pending`, `firing` or `resolved`. (A pending alert whose condition
    /// cleared before `for` leaves no entry: nothing happened.)
    pub state: AlertState,
    /// The value at that moment.
    pub value: Option<f64>,
}

/// The state machine for every alert of one process.
#[derive(Debug)]
pub(crate) struct Engine {
    settings: AlertSettings,
    service: String,
    entries: HashMap<String, Entry>,
    history: VecDeque<HistoryEntry>,
}

fn elapsed(now: SystemTime, since: SystemTime) -> Duration {
    now.duration_since(since).unwrap_or(Duration::ZERO)
}

impl Engine {
    /// A state machine with no alerts.
    pub(crate) fn new(settings: AlertSettings, service: impl Into<String>) -> Self {
        Self {
            settings,
            service: service.into(),
            entries: HashMap::new(),
            history: VecDeque::new(),
        }
    }

    fn record(&mut self, at: SystemTime, alert: &Alert, state: AlertState) {
        if self.history.len() >= self.settings.history {
            self.history.pop_front();
        }
        self.history.push_back(HistoryEntry {
            at,
            name: alert.name.clone(),
            labels: alert.labels.clone(),
            severity: alert.severity,
            state,
            value: alert.value,
        });
    }

    fn event(&self, e: &Entry, state: EventState, now: SystemTime) -> AlertEvent {
        AlertEvent {
            state,
            fingerprint: e.alert.fingerprint(),
            alert: e.alert.clone(),
            starts_at: e.fired_at.unwrap_or(now),
            pending_since: e.active_since,
            ends_at: (state == EventState::Resolved).then_some(now),
            service: self.service.clone(),
        }
    }

    /// One evaluation: `active` holds every alert whose condition is true now; every other
    /// known alert's condition is false. Returns the transitions to notify (firing and
    /// resolved only; pending is internal).
    pub(crate) fn step(&mut self, now: SystemTime, active: Vec<Alert>) -> Vec<AlertEvent> {
        let mut events = Vec::new();
        let mut seen = std::collections::HashSet::with_capacity(active.len());
        for alert in active {
            let key = alert.fingerprint();
            seen.insert(key.clone());
            let entry = self.entries.remove(&key);
            let mut entry = match entry {
                Some(mut e) if e.state != AlertState::Resolved => {
                    e.alert = alert;
                    e.inactive_since = None;
                    e
                }
                // New, or back after a resolution: a new incident.
                _ => {
                    self.record(now, &alert, AlertState::Pending);
                    Entry {
                        alert,
                        state: AlertState::Pending,
                        active_since: now,
                        fired_at: None,
                        inactive_since: None,
                        resolved_at: None,
                    }
                }
            };
            if entry.state == AlertState::Pending
                && elapsed(now, entry.active_since) >= self.settings.pending_for(&entry.alert.name)
            {
                entry.state = AlertState::Firing;
                entry.fired_at = Some(now);
                self.record(now, &entry.alert, AlertState::Firing);
                events.push(self.event(&entry, EventState::Firing, now));
            }
            self.entries.insert(key, entry);
        }
        let keep = self.settings.keep_firing_for;
        let retention = self.settings.resolved_retention;
        let mut resolved = Vec::new();
        self.entries.retain(|key, e| {
            if seen.contains(key) {
                return true;
            }
            match e.state {
                // The condition cleared before `for`: forget it, nobody was told.
                AlertState::Pending => false,
                AlertState::Firing => {
                    let since = *e.inactive_since.get_or_insert(now);
                    if elapsed(now, since) >= keep {
                        e.state = AlertState::Resolved;
                        e.resolved_at = Some(now);
                        resolved.push(key.clone());
                    }
                    true
                }
                AlertState::Resolved => e.resolved_at.is_some_and(|t| elapsed(now, t) < retention),
            }
        });
        for key in resolved {
            if let Some(e) = self.entries.get(&key).cloned() {
                self.record(now, &e.alert, AlertState::Resolved);
                events.push(self.event(&e, EventState::Resolved, now));
            }
        }
        events
    }

    /// Every pending, firing and recently resolved alert: firing first, then pending, then
    /// resolved; most severe first within each.
    pub(crate) fn alerts(&self) -> Vec<AlertView> {
        let mut out: Vec<AlertView> = self
            .entries
            .values()
            .map(|e| AlertView {
                name: e.alert.name.clone(),
                severity: e.alert.severity,
                status: e.state,
                since: match e.state {
                    AlertState::Pending => e.active_since,
                    AlertState::Firing => e.fired_at.unwrap_or(e.active_since),
                    AlertState::Resolved => e.resolved_at.unwrap_or(e.active_since),
                },
                pending_since: e.active_since,
                fired_at: e.fired_at,
                value: e.alert.value,
                threshold: e.alert.threshold,
                summary: e.alert.summary.clone(),
                labels: e.alert.labels.clone(),
                trace_ids: e.alert.trace_ids.clone(),
                fingerprint: e.alert.fingerprint(),
            })
            .collect();
        let rank = |s: AlertState| match s {
            AlertState::Firing => 0,
            AlertState::Pending => 1,
            AlertState::Resolved => 2,
        };
        out.sort_by(|a, b| {
            rank(a.status)
                .cmp(&rank(b.status))
                .then(b.severity.is_urgent().cmp(&a.severity.is_urgent()))
                .then(a.name.cmp(&b.name))
                .then(a.labels.cmp(&b.labels))
        });
        out
    }

    /// Recent transitions, oldest first.
    pub(crate) fn history(&self) -> Vec<HistoryEntry> {
        self.history.iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::Severity;

    fn settings() -> AlertSettings {
        AlertSettings {
            pending_for: Duration::from_secs(30),
            keep_firing_for: Duration::from_secs(60),
            ..AlertSettings::default()
        }
    }

    fn alert(v: f64) -> Alert {
        Alert {
            name: "PulsecheckLatencyP95Critical".into(),
            severity: Severity::Critical,
            labels: Default::default(),
            value: Some(v),
            threshold: Some(1000.0),
            summary: "p95".into(),
            trace_ids: vec![],
        }
    }

    fn t(s: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + s)
    }

    #[test]
    fn fires_after_for_and_resolves_after_keep_firing_for() {
        let mut e = Engine::new(settings(), "svc");
        assert!(e.step(t(0), vec![alert(1500.0)]).is_empty());
        assert_eq!(e.alerts()[0].status, AlertState::Pending);
        assert!(e.step(t(29), vec![alert(1500.0)]).is_empty());
        let ev = e.step(t(30), vec![alert(1600.0)]);
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].state, EventState::Firing);
        assert_eq!(ev[0].alert.value, Some(1600.0));
        assert_eq!(ev[0].starts_at, t(30));
        // Clears: keeps firing for 60 s.
        assert!(e.step(t(35), vec![]).is_empty());
        assert_eq!(e.alerts()[0].status, AlertState::Firing);
        assert!(e.step(t(94), vec![]).is_empty());
        let ev = e.step(t(95), vec![]);
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].state, EventState::Resolved);
        assert_eq!(ev[0].ends_at, Some(t(95)));
        assert_eq!(ev[0].starts_at, t(30));
        assert_eq!(e.alerts()[0].status, AlertState::Resolved);
        // Listed until the retention passes.
        assert!(e.step(t(95 + 15 * 60), vec![]).is_empty());
        assert!(e.alerts().is_empty());
        let states: Vec<AlertState> = e.history().iter().map(|h| h.state).collect();
        assert_eq!(
            states,
            [
                AlertState::Pending,
                AlertState::Firing,
                AlertState::Resolved
            ]
        );
    }

    #[test]
    fn for_rule_overrides_for_by_alert_name_only() {
        let mut settings = settings();
        settings
            .for_rule
            .insert("PulsecheckDependencyDown".into(), Duration::ZERO);
        let mut e = Engine::new(settings, "svc");
        let down = Alert {
            name: "PulsecheckDependencyDown".into(),
            ..alert(1.0)
        };
        let ev = e.step(t(0), vec![down, alert(1500.0)]);
        assert_eq!(ev.len(), 1, "only the zero-`for` alert fires at once");
        assert_eq!(ev[0].alert.name, "PulsecheckDependencyDown");
        assert_eq!(ev[0].state, EventState::Firing);
        let ev = e.step(t(30), vec![alert(1500.0)]);
        assert_eq!(ev.len(), 1, "the other keeps the general 30 s `for`");
        assert_eq!(ev[0].alert.name, "PulsecheckLatencyP95Critical");
    }

    #[test]
    fn a_blip_shorter_than_for_is_forgotten() {
        let mut e = Engine::new(settings(), "svc");
        for s in 0..600 {
            // On one second in three: never 30 s in a row.
            let active = if s % 3 == 0 {
                vec![alert(2000.0)]
            } else {
                vec![]
            };
            assert!(e.step(t(s), active).is_empty(), "second {s}");
        }
    }

    #[test]
    fn flapping_after_firing_keeps_one_incident() {
        let mut e = Engine::new(settings(), "svc");
        let mut events = Vec::new();
        for s in 0..=30 {
            events.extend(e.step(t(s), vec![alert(2000.0)]));
        }
        // Flaps every 20 s for 10 minutes: gaps shorter than keep_firing_for.
        for s in 31..630 {
            let active = if (s / 20) % 2 == 0 {
                vec![alert(2000.0)]
            } else {
                vec![]
            };
            events.extend(e.step(t(s), active));
        }
        assert_eq!(events.len(), 1, "{events:?}");
        // Then quiet: one resolution.
        for s in 630..800 {
            events.extend(e.step(t(s), vec![]));
        }
        assert_eq!(events.len(), 2);
        assert_eq!(events[1].state, EventState::Resolved);
    }

    #[test]
    fn back_after_resolution_is_a_new_incident_that_waits_for_for_again() {
        let mut e = Engine::new(
            AlertSettings {
                keep_firing_for: Duration::ZERO,
                ..settings()
            },
            "svc",
        );
        e.step(t(0), vec![alert(2000.0)]);
        assert_eq!(e.step(t(30), vec![alert(2000.0)]).len(), 1);
        assert_eq!(e.step(t(31), vec![])[0].state, EventState::Resolved);
        assert!(e.step(t(32), vec![alert(2000.0)]).is_empty());
        assert_eq!(e.alerts()[0].status, AlertState::Pending);
        let ev = e.step(t(62), vec![alert(2000.0)]);
        assert_eq!(ev[0].state, EventState::Firing);
        assert_eq!(ev[0].starts_at, t(62));
    }

    #[test]
    fn history_is_bounded() {
        let mut e = Engine::new(
            AlertSettings {
                history: 5,
                pending_for: Duration::ZERO,
                keep_firing_for: Duration::ZERO,
                ..settings()
            },
            "svc",
        );
        for s in 0..100 {
            let active = if s % 2 == 0 { vec![alert(1.0)] } else { vec![] };
            e.step(t(s), active);
        }
        assert_eq!(e.history().len(), 5);
        assert_eq!(e.history()[4].at, t(99));
    }
}
