//! The `pulsecheck` binary, run as a process: each command against real servers and misbehaving
//! peers, the rules it generates loaded into Prometheus, health groups through `probe`, and the
//! academy end to end under `pulsecheck load`.
//!
//! One test binary for the package; each module was a test file of its own. Shared helpers are
//! in the `support` crate (tests/support at the workspace root).

mod academy_e2e;
mod cli_faults;
mod cli_load;
mod cli_probe;
mod cli_rules;
mod cli_support;
mod compose_load_profile;
mod health_groups;
mod prometheus_rules;
mod stack_rules;
