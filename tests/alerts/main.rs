//! Alerts: the pending/firing/resolved lifecycle, notifiers against real receivers, time to detect.
//!
//! One test binary for the area; each module was a test file of its own. Shared helpers
//! are in the `support` crate (tests/support).

mod alert_lifecycle;
mod alert_notify;
mod time_to_detect;
