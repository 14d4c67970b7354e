//! Performance budgets and SLOs, evaluated on the aggregator's windows.
//!
//! Budgets (defaults from the original design): P95 < 1000 ms, P99 < 2000 ms, error rate < 5 %
//! (target 1 %), process memory < 512 MiB; `warning` from 80 % of a limit, `critical` above it;
//! per-route overrides; latency and error budgets stay `ok` under a minimum request count.
//! SLOs use multiwindow, multi-burn-rate alerting ([`evaluate_slo`]).
//!
//! The limits are configured in code, `pulsecheck.toml` and `PULSE_BUDGET_*` variables
//! ([`Budgets`](crate::config::Budgets), [`PulseConfig::load`](crate::config::PulseConfig::load));
//! a bad value stops start-up with a message naming the field.
//!
//! # Example
//!
//! ```
//! use pulsecheck::budget::{BudgetStatus, evaluate};
//! use pulsecheck::config::Budgets;
//! use pulsecheck::window::{Aggregator, AggregatorConfig, ManualClock, Window};
//! # use std::{sync::Arc, time::Duration};
//! # use pulsecheck::layer::{HttpMethod, RequestRecord, RouteTable};
//! let routes = Arc::new(RouteTable::default());
//! let clock = ManualClock::new(0);
//! let agg = Aggregator::with_clock(AggregatorConfig::default(), routes, clock.clone());
//! for _ in 0..100 {
//!     agg.record(&RequestRecord { method: HttpMethod::Get, route: None, status: 200,
//!         duration: Duration::from_millis(900), trace_id: None });
//! }
//! clock.advance(1);
//! agg.tick();
//! let report = evaluate(&Budgets::default(), &agg.snapshot(Window::FiveMinutes), None);
//! assert_eq!(report.status, BudgetStatus::Warning); // P95 900 ms is 90 % of 1000 ms
//! ```

mod evaluate;
mod kind;
mod slo;

pub use evaluate::{BudgetLine, BudgetReport, BudgetStatus, evaluate};
pub use kind::BudgetKind;
pub(crate) use slo::SLO_BURN;
pub(crate) use slo::window_name;
pub use slo::{SloError, SloReport, TierReport, evaluate_slo};
pub(crate) use slo::{TIERS, Tier};
