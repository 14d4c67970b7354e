//! # pulsecheck
//!
//! Production observability for axum/tower services in a few lines: OpenTelemetry traces,
//! metrics and logs with request correlation ids, exported over OTLP.
//!
//! The README's first snippet is this one, compiled here as a doctest:
//!
//! ```no_run
//! use axum::{Router, extract::Path, routing::get};
//! use pulsecheck::Pulse;
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     // OTLP export from the OTEL_* environment; without it nothing is exported.
//!     let pulse = Pulse::builder().service_name("hello").build()?;
//!     let app = Router::new()
//!         .route("/hello/{name}", get(|Path(name): Path<String>| async move { format!("hello, {name}\n") }))
//!         .merge(pulse.routes()) // /health, /health/dashboard, /metrics, ...
//!         .layer(pulse.layer()); // last: one SERVER span per request, pulsecheck's routes included
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//!     // Until SIGTERM/Ctrl-C, then drain, close what is left, flush: all bounded.
//!     pulse.serve(listener, app).await?;
//!     Ok(())
//! }
//! ```
//!
//! The modules, from the facade down:
//!
//! - [`Pulse`] and [`PulseBuilder`]: everything below wired for one service, with
//!   [`Pulse::routes`] (the endpoints, `docs/endpoints.md`) and [`Pulse::serve`].
//! - [`config`]: `pulsecheck.toml` ([`PulseConfig`](config::PulseConfig)): errors, budgets,
//!   SLOs, alerts, monitoring traffic, health groups; one [`ConfigError`](config::ConfigError).
//! - [`env`](mod@env): every environment variable pulsecheck reads, with its default.
//! - [`telemetry`]: providers and logging from the `OTEL_*` environment (optional).
//! - [`layer`]: the request instrumentation layer, usable on its own, and
//!   [`layer::audit`], the security audit trail (target `pulsecheck::audit`), rate-limited.
//! - [`window`]: the in-process aggregator of latency and error windows.
//! - [`budget`]: budgets and SLO burn rates evaluated on the aggregator's windows.
//! - [`alert`]: alert rules, their state machine, and the notifiers ([`alert::notify`]).
//! - [`health`]: dependency checks, circuit breakers, health groups; built-in checks in
//!   [`health::checks`].
//! - [`system`]: process and host resources sampled in the background (`/health/system`).
//! - [`rules`]: Prometheus recording and alerting rules from the same budgets and SLOs.
//! - [`client`]: outgoing HTTP calls as CLIENT spans carrying the W3C trace context.
//! - `grpc` (feature `grpc`): the `grpc.health.v1` service from the same health state.
//! - [`otel`]: the OpenTelemetry crates this version is built against.
#![warn(missing_docs, unreachable_pub)]
// docs.rs builds with every feature and `--cfg docsrs`: gated items show the feature they need.
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod alert;
pub mod budget;
mod catalogue;
pub mod client;
pub mod config;
mod duration;
mod endpoints;
pub mod env;
mod error_chain;
mod float_duration;
#[cfg(feature = "grpc")]
#[cfg_attr(docsrs, doc(cfg(feature = "grpc")))]
pub mod grpc;
pub mod health;
mod instrumentation;
pub mod layer;
mod num;
mod panic_text;
mod pulse;
mod redact;
mod rfc3339;
mod routes;
pub mod rules;
mod serve;
mod severity;
pub mod system;
pub mod telemetry;
mod trace_url;
pub mod window;

/// Helpers the `pulsecheck` command line (the `pulsecheck-cli` package of this workspace, same
/// version) shares with the library, so that each is written once: the load generator's
/// histogram has the aggregator's bucket layout, and flags and configuration convert numbers to
/// durations and errors to text the same way. Not part of the API: anything here may change in
/// any release.
#[doc(hidden)]
pub mod __private {
    pub use crate::error_chain::error_chain;
    pub use crate::float_duration::{DurationError, from_secs_f64};
    /// The aggregator's latency buckets, which the load generator's histogram shares and the
    /// accuracy and memory benchmarks measure.
    pub mod buckets {
        pub use crate::window::buckets::*;
    }
}

pub use pulse::{Error, Pulse, PulseBuilder};

/// The OpenTelemetry crates pulsecheck is built against, re-exported so that a service uses
/// exactly the same versions (mismatched minor versions do not interoperate).
///
/// ```
/// use pulsecheck::otel::opentelemetry::trace::TraceContextExt as _;
/// use pulsecheck::otel::opentelemetry_sdk::trace::SdkTracerProvider;
/// let _provider = SdkTracerProvider::builder().build();
/// ```
pub mod otel {
    pub use opentelemetry;
    pub use opentelemetry_appender_tracing;
    pub use opentelemetry_http;
    pub use opentelemetry_otlp;
    pub use opentelemetry_sdk;
    pub use opentelemetry_semantic_conventions;
    pub use tracing_opentelemetry;
}
