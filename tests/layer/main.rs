//! The request layer: spans, attributes and their limits, error classes, cancelled requests,
//! hostile input, the audit log, outgoing client spans.
//!
//! One test binary for the area; each module was a test file of its own. Shared helpers
//! are in the `support` crate (tests/support).

mod attribute_limits;
mod audit_log;
mod cancelled_requests;
mod client;
mod error_classes;
mod hostile_input;
mod layer;
mod spans;
