//! The academy example as a process: logging, PostgreSQL, shutdown, SLOs and alerts, configuration
//! errors.
//!
//! One test binary for the area; each module was a test file of its own. Shared helpers
//! are in the `support` crate (tests/support).

mod academy_alerts;
mod academy_logging;
mod academy_postgres;
mod academy_shutdown;
mod academy_slo;
mod config_errors;
