//! Telemetry from the OTEL_* environment: OTLP export to a real receiver, bounded shutdown,
//! collector faults, an existing OpenTelemetry setup, a meter provider installed after build.
//!
//! One test binary for the area; each module was a test file of its own. Shared helpers
//! are in the `support` crate (tests/support).

mod collector_faults;
mod existing_otel;
mod late_meter_provider;
mod otlp_export;
mod telemetry_shutdown;
