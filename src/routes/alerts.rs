//! `/health/alerts`: the alert engine's current state.

use super::RouteState;

/// The `/health/alerts` body. Placeholder until the alert engine is wired in.
#[allow(dead_code)]
pub(crate) fn alerts_json(_st: &RouteState) -> serde_json::Value {
    serde_json::json!({ "alerts": [], "thresholds": {} })
}
