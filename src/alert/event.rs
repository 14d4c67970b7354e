//! What an alert is, and what notifiers receive when one changes state.

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde::Serialize;

use crate::severity::Severity;

/// One alert as a rule sees it at one evaluation: identity (name and labels), severity and
/// the evidence.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Alert {
    /// Stable name, shared with the Prometheus rules of `pulsecheck rules` where one exists
    /// (`PulsecheckLatencyP95Critical`, `PulsecheckSloErrorBudgetBurn`,
    /// `PulsecheckDependencyDown`...).
    pub name: String,
    /// Its severity.
    pub severity: Severity,
    /// What distinguishes this alert from others of the same name (`route`, `check`,
    /// `slo`...). Together with `name` they make the alert's identity.
    pub labels: BTreeMap<String, String>,
    /// The observed value, in the unit of `threshold`; for `PulsecheckDependencyDown`, the
    /// number of consecutive failed checks (the summary says so).
    pub value: Option<f64>,
    /// The limit it is compared with.
    pub threshold: Option<f64>,
    /// One line for a human.
    pub summary: String,
    /// Trace ids of example slow or failed requests (exemplars), at most a few.
    pub trace_ids: Vec<String>,
}

impl Alert {
    /// A stable hexadecimal id of the name and labels (not of the severity, value or
    /// summary): the same alert gets the same fingerprint in every process and release. Used
    /// as PagerDuty's `dedup_key`.
    pub fn fingerprint(&self) -> String {
        // FNV-1a, 64 bits: stable across Rust versions, unlike `DefaultHasher`.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut eat = |bytes: &[u8]| {
            for b in bytes {
                h ^= u64::from(*b);
                h = h.wrapping_mul(0x0000_0100_0000_01b3);
            }
            // A separator that cannot occur in UTF-8, so ("ab","c") differs from ("a","bc").
            h ^= 0xff;
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        };
        eat(self.name.as_bytes());
        for (k, v) in &self.labels {
            eat(k.as_bytes());
            eat(v.as_bytes());
        }
        format!("{h:016x}")
    }
}

/// Where an alert stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    /// The condition holds, for less than the rule's `for`.
    Pending,
    /// The condition held for `for`; notifications were sent.
    Firing,
    /// It fired, then the condition stayed false for `keep_firing_for`.
    Resolved,
}

/// What an [`AlertEvent`] tells: the two transitions notifiers hear about (a pending alert is
/// internal to the engine and never notified).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EventState {
    /// The alert started firing.
    Firing,
    /// The alert resolved.
    Resolved,
}

impl From<EventState> for AlertState {
    fn from(s: EventState) -> Self {
        match s {
            EventState::Firing => Self::Firing,
            EventState::Resolved => Self::Resolved,
        }
    }
}

/// A transition notifiers are told about: an alert started firing, or resolved.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AlertEvent {
    /// `firing` or `resolved`.
    pub state: EventState,
    /// The alert, with the evidence of the evaluation that caused the transition (for a
    /// resolution, the last firing evidence).
    pub alert: Alert,
    /// [`Alert::fingerprint`].
    pub fingerprint: String,
    /// When it started firing.
    #[serde(serialize_with = "crate::rfc3339::serialize")]
    pub starts_at: SystemTime,
    /// When its condition started holding (pending), `for` before `starts_at`: when the
    /// incident began.
    #[serde(serialize_with = "crate::rfc3339::serialize")]
    pub pending_since: SystemTime,
    /// When it resolved (`None` while firing).
    #[serde(serialize_with = "crate::rfc3339::serialize_opt")]
    pub ends_at: Option<SystemTime>,
    /// `service.name` of the process that raised it.
    pub service: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(name: &str, labels: &[(&str, &str)]) -> Alert {
        Alert {
            name: name.into(),
            severity: Severity::Warning,
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            value: Some(1.0),
            threshold: Some(0.5),
            summary: "s".into(),
            trace_ids: vec![],
        }
    }

    #[test]
    fn fingerprint_is_identity_only() {
        let a = alert("A", &[("route", "/x")]);
        let mut b = a.clone();
        b.value = Some(9.0);
        b.severity = Severity::Critical;
        b.summary = "other".into();
        assert_eq!(a.fingerprint(), b.fingerprint());
        assert_ne!(
            a.fingerprint(),
            alert("A", &[("route", "/y")]).fingerprint()
        );
        assert_ne!(
            alert("A", &[("ab", "c")]).fingerprint(),
            alert("A", &[("a", "bc")]).fingerprint()
        );
        // Pinned: a change would re-page every open incident after an upgrade.
        assert_eq!(alert("A", &[]).fingerprint().len(), 16);
    }
}
