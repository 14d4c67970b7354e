//! Budgets: each budget's limit, value, utilization and status, evaluated on the budget
//! window's snapshot and the sampled RSS, as `/health/budget` does.

use super::exposition::Exposition;
use crate::budget::{BudgetLine, BudgetStatus, evaluate};
use crate::catalogue::{BUDGET_LIMIT, BUDGET_STATUS, BUDGET_UTILIZATION, BUDGET_VALUE, Metric};
use crate::config::Budgets;
use crate::window::ServiceSnapshot;

/// What a family reads from a budget line (nothing: no series for that line).
type Figure = fn(&BudgetLine) -> Option<f64>;

/// Each family and its figure.
const FIGURES: [(&Metric, Figure); 4] = [
    (&BUDGET_LIMIT, |l| Some(l.limit)),
    (&BUDGET_VALUE, |l| l.value),
    (&BUDGET_UTILIZATION, |l| l.utilization),
    (&BUDGET_STATUS, |l| Some(status_code(l.status))),
];

/// `0` ok, `1` warning, `2` critical: the worse, the higher, for `max()` and thresholds.
fn status_code(status: BudgetStatus) -> f64 {
    match status {
        BudgetStatus::Ok => 0.0,
        BudgetStatus::Warning => 1.0,
        BudgetStatus::Critical => 2.0,
    }
}

pub(super) fn write(
    e: &mut Exposition,
    budgets: &Budgets,
    snaps: &[ServiceSnapshot],
    rss_bytes: Option<u64>,
) {
    let Some(snap) = snaps.iter().find(|s| s.window == budgets.window) else {
        return;
    };
    let report = evaluate(budgets, snap, rss_bytes);
    for (metric, figure) in FIGURES {
        e.family(metric);
        for l in &report.budgets {
            let mut labels = vec![("budget", l.name.as_str())];
            if let Some(r) = &l.route {
                labels.push(("route", r));
            }
            e.opt(&labels, figure(l));
        }
    }
}
