//! Alerts: rules over the aggregator, budgets, SLO burn rates, health and system resources,
//! a pending → firing → resolved state machine evaluated off the request path, and the
//! notifiers that tell people.

mod event;
pub mod notify;

pub use event::{Alert, AlertEvent, AlertState, Severity};
