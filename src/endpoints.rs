//! The paths pulsecheck itself serves: the one list that the router, the aggregator (which
//! keeps them out of service-wide figures, budgets and SLOs) and the generated Prometheus
//! rules all read, so that a new endpoint cannot be served without being recognised as
//! monitoring traffic.
//!
//! Probes, scrapes and the dashboard's polling are not the service's traffic: counted with
//! it, a kubelet probe makes an idle service look busy, dilutes a real error rate and fills
//! `min_requests` with requests nobody made.

/// Liveness and readiness summary.
pub(crate) const HEALTH: &str = "/health";
/// Liveness probe.
pub(crate) const LIVE: &str = "/health/live";
/// Readiness probe.
pub(crate) const READY: &str = "/health/ready";
/// One health group (public like `/health`, details with the token).
pub(crate) const HEALTH_GROUP: &str = "/health/group/{name}";
/// Every check with details.
pub(crate) const DETAILED: &str = "/health/detailed";
/// The aggregator's windows.
pub(crate) const METRICS_JSON: &str = "/health/metrics";
/// Budgets and SLOs.
pub(crate) const BUDGET: &str = "/health/budget";
/// Process and host figures.
pub(crate) const SYSTEM: &str = "/health/system";
/// Alert states.
pub(crate) const ALERTS: &str = "/health/alerts";
/// Everything at once, for the dashboard.
pub(crate) const STATUS: &str = "/health/status";
/// The dashboard page (and its JSON polling).
pub(crate) const DASHBOARD: &str = "/health/dashboard";
/// The Prometheus exposition.
pub(crate) const PROMETHEUS: &str = "/metrics";

/// Every path pulsecheck serves, as route templates (as the router declares them).
pub(crate) const OWN_PATHS: &[&str] = &[
    HEALTH,
    LIVE,
    READY,
    HEALTH_GROUP,
    DETAILED,
    METRICS_JSON,
    BUDGET,
    SYSTEM,
    ALERTS,
    STATUS,
    DASHBOARD,
    PROMETHEUS,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_paths_are_distinct_templates() {
        let mut seen = std::collections::HashSet::new();
        for p in OWN_PATHS {
            assert!(p.starts_with('/'), "{p}");
            // Only the group name is a parameter: the rest are fixed paths.
            assert!(!p.contains('{') || *p == HEALTH_GROUP, "{p}");
            assert!(seen.insert(p), "{p} listed twice");
        }
        assert!(OWN_PATHS.contains(&"/metrics") && OWN_PATHS.contains(&"/health/dashboard"));
    }
}
