//! `[budgets]`: the limits `/health/budget` and the budget alerts check.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::env;
use crate::window::Window;

/// Limits for one route, overriding the service-wide ones.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteBudget {
    /// P95 latency limit, ms.
    pub p95_ms: Option<f64>,
    /// P99 latency limit, ms.
    pub p99_ms: Option<f64>,
    /// Error-rate limit, 0..1.
    pub error_rate: Option<f64>,
}

/// Performance budgets, checked against a window of the aggregator.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Budgets {
    /// P95 latency limit, ms. Defaults to 1000.
    pub p95_ms: f64,
    /// P99 latency limit, ms. Defaults to 2000.
    pub p99_ms: f64,
    /// Error-rate limit, 0..1. Defaults to 0.05.
    pub error_rate: f64,
    /// Error-rate objective, reported beside the limit. Defaults to 0.01.
    pub error_target: f64,
    /// Process memory (RSS) limit, MiB. Defaults to 512.
    pub memory_mib: f64,
    /// Fraction of a limit at which a budget turns `warning`. Defaults to 0.8.
    pub warn_ratio: f64,
    /// Requests in the window below which latency and error budgets stay `ok`. Defaults to 20.
    pub min_requests: u64,
    /// The window budgets are checked over: `1m`, `5m` or `1h`. Defaults to `5m`.
    #[serde(deserialize_with = "window_de")]
    pub window: Window,
    /// Per-route overrides, keyed by route template.
    pub routes: BTreeMap<String, RouteBudget>,
}

impl Default for Budgets {
    fn default() -> Self {
        Self {
            p95_ms: env::PULSE_BUDGET_P95_MS_DEFAULT,
            p99_ms: env::PULSE_BUDGET_P99_MS_DEFAULT,
            error_rate: env::PULSE_BUDGET_ERROR_RATE_DEFAULT,
            error_target: 0.01,
            memory_mib: env::PULSE_BUDGET_MEMORY_MIB_DEFAULT,
            warn_ratio: env::PULSE_BUDGET_WARN_RATIO_DEFAULT,
            min_requests: env::PULSE_BUDGET_MIN_REQUESTS_DEFAULT,
            window: Window::FiveMinutes,
            routes: BTreeMap::new(),
        }
    }
}

fn window_de<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Window, D::Error> {
    let s = String::deserialize(d)?;
    Window::parse(&s)
        .ok_or_else(|| serde::de::Error::custom(format!("`{s}` is not one of 1m, 5m, 1h")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_documented_ones() {
        let b = Budgets::default();
        assert_eq!(
            Window::parse(env::PULSE_BUDGET_WINDOW_DEFAULT),
            Some(b.window)
        );
        assert_eq!(b.p95_ms, 1000.0);
        assert_eq!(b.p99_ms, 2000.0);
        assert_eq!(b.error_rate, 0.05);
        assert_eq!(b.memory_mib, 512.0);
        assert_eq!(b.warn_ratio, 0.8);
        assert_eq!(b.min_requests, 20);
    }
}
