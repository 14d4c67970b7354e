//! Dependency health: the built-in checks against real services, the runner, breakers, health
//! telemetry, the gRPC health service.
//!
//! One test binary for the area; each module was a test file of its own. Shared helpers
//! are in the `support` crate (tests/support).

mod breaker;
#[cfg(feature = "grpc")]
mod grpc_health;
mod health_checks;
mod health_runner;
mod health_services;
mod health_telemetry;
mod live_breaker;
