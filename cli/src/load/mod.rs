//! The load generator behind `pulsecheck load`: closed and open (fixed-rate, coordinated
//! omission corrected) models over raw HTTP/1.1 or HTTP/2 connections, a constant-memory
//! latency histogram, errors by kind, the slowest requests with their trace ids.
//!
//! # Example
//!
//! ```no_run
//! use pulsecheck_cli::load::{LoadConfig, LoadTest, Stop};
//! use std::time::Duration;
//! # async fn demo() -> Result<(), pulsecheck_cli::load::LoadError> {
//! let mut cfg = LoadConfig::new("http://127.0.0.1:8080/api/courses");
//! cfg.connections = 20;
//! cfg.stop = Stop::After(Duration::from_secs(10));
//! cfg.rate = Some(500.0);
//! cfg.trace = true;
//! let test = LoadTest::new(cfg)?;
//! let report = test.run(async { let _ = tokio::signal::ctrl_c().await; }).await?;
//! assert!(report.requests > 0);
//! # Ok(()) }
//! ```

mod budget;
mod client;
mod config;
mod engine;
mod error;
mod histogram;
mod report;
mod stats;

pub use budget::{BudgetCheck, BudgetLimit, BudgetResult, parse_budget};
pub use client::Target;
// The one-shot and per-worker HTTP client of the commands, not API.
pub(crate) use client::{Connector, Fetched, fetch, fmt_duration};
pub use config::{LoadConfig, MAX_RUN_DURATION, Stop};
pub use engine::{LoadTest, Progress};
pub use error::{ErrorKind, LoadError, RequestError};
pub use histogram::LatencyHistogram;
pub use report::{LatencyMs, LoadReport, Schedule, SlowRequest};
