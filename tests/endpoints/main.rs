//! pulsecheck's own routes: /health*, /metrics (with exemplars), the dashboard, /health/system,
//! /health/alerts, the admin token, monitoring traffic.
//!
//! One test binary for the area; each module was a test file of its own. Shared helpers
//! are in the `support` crate (tests/support).
//!
//! `health_endpoints` and `system` set process environment variables (`PULSE_DRAIN_DELAY`,
//! `PULSE_SYSTEM_INTERVAL`) that every `Pulse` built meanwhile reads: run the binary under
//! nextest, one process per test, as scripts/test.sh does.

mod admin_auth;
mod alert_endpoints;
mod dashboard;
mod health_endpoints;
mod metrics_endpoint;
mod metrics_exemplars;
mod monitoring_traffic;
mod system;
