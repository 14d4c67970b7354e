//! The in-process aggregator: windows and quantiles, the end-to-end record path, budgets and SLOs.
//!
//! One test binary for the area; each module was a test file of its own. Shared helpers
//! are in the `support` crate (tests/support).

mod aggregator_e2e;
mod budget;
mod window;
