//! The in-process engine's pending and firing alerts, shaped like Prometheus' own `ALERTS`.

use super::exposition::Exposition;
use crate::alert::{AlertState, AlertsSnapshot};
use crate::catalogue::ALERTS;

pub(super) fn write(e: &mut Exposition, alerts: &AlertsSnapshot) {
    e.family(&ALERTS);
    for a in alerts
        .alerts
        .iter()
        .filter(|a| a.status != AlertState::Resolved)
    {
        let state = if a.status == AlertState::Firing {
            "firing"
        } else {
            "pending"
        };
        let mut labels: Vec<(&str, &str)> = vec![
            ("alertname", &a.name),
            ("alertstate", state),
            ("severity", a.severity.as_str()),
        ];
        // Rule labels (route, check, slo...) are fixed, valid names that never collide with
        // the three above.
        labels.extend(a.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        e.sample(&labels, 1.0);
    }
}
