//! Alert rules: what is wrong right now, read from the aggregator's windows, the budgets and
//! SLO burn rates, the cached health report and the latest system sample. Never probes,
//! never reads raw requests.

use std::collections::BTreeMap;

use super::event::Alert;
use crate::budget::{BudgetKind, BudgetLine, BudgetStatus, SLO_BURN, evaluate, evaluate_slo};
use crate::config::{AlertSettings, PulseConfig, SloKind};
use crate::health::{BreakerState, CheckStatus, HealthReport};
use crate::severity::Severity;
use crate::system::SystemSample;
use crate::window::{Aggregator, ServiceSnapshot, Snapshot};

/// Exemplar trace ids per alert.
const MAX_TRACE_IDS: usize = 5;

/// The state the rules read, taken once per evaluation.
pub(crate) struct Inputs<'a> {
    pub(crate) config: &'a PulseConfig,
    pub(crate) aggregator: &'a Aggregator,
    pub(crate) health: &'a HealthReport,
    pub(crate) system: &'a SystemSample,
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn slow_ids(s: &Snapshot) -> Vec<String> {
    s.slowest
        .iter()
        .take(MAX_TRACE_IDS)
        .map(|e| e.trace_id.clone())
        .collect()
}

fn failed_ids(s: &Snapshot) -> Vec<String> {
    s.recent_failures
        .iter()
        .take(MAX_TRACE_IDS)
        .cloned()
        .collect()
}

/// Every alert whose condition holds now.
pub(crate) fn active(inputs: &Inputs<'_>) -> Vec<Alert> {
    let mut out = Vec::new();
    let b = &inputs.config.budgets;
    let snap = inputs.aggregator.snapshot(b.window);
    let rss = inputs.system.process.rss_bytes;
    let report = evaluate(b, &snap, rss);
    for line in &report.budgets {
        if let Some(a) = budget_alert(line, &snap, b.window.as_str()) {
            out.push(a);
        }
    }
    for slo in inputs.config.slos() {
        let r = match evaluate_slo(slo, inputs.aggregator, b.min_requests) {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(target: "pulsecheck::alert", slo = %slo.name, "SLO not evaluated: {e}");
                continue;
            }
        };
        for tier in r.tiers.iter().filter(|t| t.firing) {
            let ids = match slo.kind {
                SloKind::Availability => failed_ids(&snap.service),
                SloKind::Latency { .. } => slow_ids(&snap.service),
            };
            out.push(Alert {
                name: SLO_BURN.into(),
                severity: tier.severity,
                labels: labels(&[
                    ("slo", &slo.name),
                    ("long_window", &tier.long_window),
                    ("short_window", &tier.short_window),
                ]),
                value: tier.short_burn_rate.into_iter().chain(tier.long_burn_rate).reduce(f64::min),
                threshold: Some(tier.burn_rate_threshold),
                summary: format!(
                    "SLO {} burns its error budget at {:.1}× over {} and {:.1}× over {} (alert from {}×)",
                    slo.name,
                    tier.long_burn_rate.unwrap_or(0.0),
                    tier.long_window,
                    tier.short_burn_rate.unwrap_or(0.0),
                    tier.short_window,
                    tier.burn_rate_threshold
                ),
                trace_ids: ids,
            });
        }
    }
    health_alerts(inputs.health, &mut out);
    system_alerts(&inputs.config.alerts, inputs.system, &mut out);
    out
}

fn budget_alert(line: &BudgetLine, snap: &ServiceSnapshot, window: &str) -> Option<Alert> {
    let severity = match line.status {
        BudgetStatus::Ok => return None,
        BudgetStatus::Warning => Severity::Warning,
        BudgetStatus::Critical => Severity::Critical,
    };
    let kind = line.name;
    let (what, unit) = match kind {
        BudgetKind::LatencyP95 => ("P95 latency", "ms"),
        BudgetKind::LatencyP99 => ("P99 latency", "ms"),
        BudgetKind::ErrorRate => ("error rate", ""),
        BudgetKind::Memory => ("process memory", "MiB"),
    };
    let value = line.value?;
    let series = line
        .route
        .as_deref()
        .and_then(|r| snap.routes.get(r))
        .unwrap_or(&snap.service);
    let trace_ids = match kind {
        BudgetKind::ErrorRate => failed_ids(series),
        BudgetKind::Memory => Vec::new(),
        BudgetKind::LatencyP95 | BudgetKind::LatencyP99 => slow_ids(series),
    };
    let fmt = |v: f64| {
        if unit.is_empty() {
            format!("{:.2} %", v * 100.0)
        } else {
            format!("{v:.0} {unit}")
        }
    };
    let scope = line
        .route
        .as_deref()
        .map_or_else(|| "the service".to_owned(), |r| format!("route {r}"));
    let over = if severity == Severity::Critical {
        "over its budget"
    } else {
        "near its budget"
    };
    let mut l = BTreeMap::new();
    if let Some(r) = &line.route {
        l.insert("route".to_owned(), r.clone());
    }
    if kind != BudgetKind::Memory {
        l.insert("window".to_owned(), window.to_owned());
    }
    Some(Alert {
        name: kind.alert_name(line.route.is_some(), severity == Severity::Critical),
        severity,
        labels: l,
        value: Some(value),
        threshold: Some(line.limit),
        summary: format!(
            "{what} of {scope} is {} {over} of {}",
            fmt(value),
            fmt(line.limit)
        ),
        trace_ids,
    })
}

fn health_alerts(report: &HealthReport, out: &mut Vec<Alert>) {
    for c in &report.checks {
        if c.status() == CheckStatus::Down {
            let error = c
                .result
                .as_ref()
                .and_then(|r| r.error.as_deref())
                .unwrap_or("failing");
            let failures = c.result.as_ref().map(|r| r.consecutive_failures);
            out.push(Alert {
                name: "PulsecheckDependencyDown".into(),
                severity: if c.critical {
                    Severity::Critical
                } else {
                    Severity::Warning
                },
                labels: labels(&[("check", &c.name)]),
                // The value counts checks, not a measurement: the summary says so.
                value: failures.map(f64::from),
                threshold: None,
                summary: format!(
                    "{} dependency {} is down: {error}{}",
                    if c.critical {
                        "critical"
                    } else {
                        "non-critical"
                    },
                    c.name,
                    match failures {
                        Some(1) => " (1 failed check)".to_owned(),
                        Some(n) => format!(" ({n} consecutive failed checks)"),
                        None => String::new(),
                    }
                ),
                trace_ids: Vec::new(),
            });
        }
        if c.circuit == Some(BreakerState::Open) {
            out.push(Alert {
                name: "PulsecheckCircuitBreakerOpen".into(),
                severity: Severity::Warning,
                labels: labels(&[("check", &c.name)]),
                value: None,
                threshold: None,
                summary: format!("circuit breaker of {} is open: calls fail fast", c.name),
                trace_ids: Vec::new(),
            });
        }
    }
}

fn system_alerts(settings: &AlertSettings, s: &SystemSample, out: &mut Vec<Alert>) {
    if let Some(u) = s.process.cpu_utilization
        && u >= settings.cpu_utilization
    {
        out.push(Alert {
            name: "PulsecheckProcessCpuHigh".into(),
            severity: Severity::Warning,
            labels: BTreeMap::new(),
            value: Some(u),
            threshold: Some(settings.cpu_utilization),
            summary: format!(
                "process CPU at {:.0} % of the available CPUs (alert from {:.0} %)",
                u * 100.0,
                settings.cpu_utilization * 100.0
            ),
            trace_ids: Vec::new(),
        });
    }
    if let (Some(total), Some(avail)) = (s.host.memory_total_bytes, s.host.memory_available_bytes)
        && total > 0
    {
        let used = 1.0 - avail as f64 / total as f64;
        if used >= settings.host_memory_utilization {
            out.push(Alert {
                name: "PulsecheckHostMemoryHigh".into(),
                severity: Severity::Warning,
                labels: BTreeMap::new(),
                value: Some(used),
                threshold: Some(settings.host_memory_utilization),
                summary: format!(
                    "host memory {:.0} % used, {} MiB available",
                    used * 100.0,
                    avail / (1024 * 1024)
                ),
                trace_ids: Vec::new(),
            });
        }
    }
}
