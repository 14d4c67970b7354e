//! `[monitoring]`: which requests are monitoring traffic.

use serde::Deserialize;

/// Monitoring traffic: pulsecheck's own endpoints and any paths added here (the service's own
/// probe routes, say) are left out of the service-wide figures, budgets, SLOs and alerts, and
/// still shown per route, marked `"monitoring": true`.
///
/// In TOML: `[monitoring]` with `exclude = ["/ping"]` (route templates, as the router declares
/// them) and `count_monitoring = true` to count all of it again.
///
/// ```
/// use pulsecheck::config::PulseConfig;
/// let cfg = PulseConfig::from_toml_str("[monitoring]\nexclude = [\"/ping\"]\n").unwrap();
/// let routes = cfg.monitoring.excluded_routes();
/// assert!(routes.iter().any(|r| r == "/health") && routes.iter().any(|r| r == "/ping"));
/// let all = PulseConfig::from_toml_str("[monitoring]\ncount_monitoring = true\n").unwrap();
/// assert!(all.monitoring.excluded_routes().is_empty());
/// let bad = PulseConfig::from_toml_str("[monitoring]\nexclude = [\"ping\"]\n").unwrap_err();
/// assert!(bad.to_string().contains("monitoring.exclude[0]"));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Monitoring {
    /// Route templates counted as monitoring besides pulsecheck's own endpoints (for
    /// example a load balancer's `/ping`, or pulsecheck's endpoints nested under a prefix).
    /// Defaults to none.
    pub exclude: Vec<String>,
    /// Count monitoring requests in the service-wide figures, budgets and SLOs like any
    /// other. Defaults to `false`.
    pub count_monitoring: bool,
}

impl Monitoring {
    /// Every route template treated as monitoring: pulsecheck's own endpoints, then
    /// [`exclude`](Self::exclude).
    pub fn routes(&self) -> Vec<String> {
        crate::endpoints::OWN_PATHS
            .iter()
            .map(|p| (*p).to_owned())
            .chain(self.exclude.iter().cloned())
            .collect()
    }

    /// The route templates left out of service-wide figures, budgets, SLOs and alerts (and the
    /// generated Prometheus rules): [`routes`](Self::routes), or none when
    /// [`count_monitoring`](Self::count_monitoring) is set.
    pub fn excluded_routes(&self) -> Vec<String> {
        if self.count_monitoring {
            Vec::new()
        } else {
            self.routes()
        }
    }
}
