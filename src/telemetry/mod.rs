//! OpenTelemetry set-up from the standard `OTEL_*` environment: tracer, meter and logger
//! providers exporting OTLP over gRPC or HTTP/protobuf, W3C propagators, and a `tracing`
//! subscriber writing JSON (or pretty) log lines that carry trace id, span id and request id.
//!
//! Optional: a service that installs its own providers and subscriber skips this module and
//! uses only the [layer](crate::layer).
//!
//! With no endpoint configured, nothing is exported and nothing retries against localhost, but
//! a tracer provider is still installed so that logs and responses carry real trace ids.
//!
//! # Example
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let telemetry = pulsecheck::telemetry::Telemetry::builder()
//!     .service_name("checkout")
//!     .service_version(env!("CARGO_PKG_VERSION"))
//!     .init()?;
//! tracing::info!("serving");
//! telemetry.shutdown().await?; // flushes, bounded by 5 s by default (+1.2 s for log lines)
//! # Ok(()) }
//! ```
//!
//! # Environment
//!
//! | variable | effect |
//! |---|---|
//! | `OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP_{TRACES,METRICS,LOGS}_ENDPOINT` | export on, to this endpoint; unset: export off |
//! | `OTEL_EXPORTER_OTLP_PROTOCOL` (and per signal) | `grpc` or `http/protobuf` (default) |
//! | `OTEL_EXPORTER_OTLP_HEADERS`, `_TIMEOUT`, `_COMPRESSION` (and per signal) | read by the exporters |
//! | `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES` | resource; override the name given in code |
//! | `OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG` | sampler (default `parentbased_always_on`) |
//! | `OTEL_BSP_*`, `OTEL_BLRP_*`, `OTEL_METRIC_EXPORT_INTERVAL` | batching and export intervals |
//! | `OTEL_SDK_DISABLED=true`, `OTEL_{TRACES,METRICS,LOGS}_EXPORTER=none` | export off (all, or one signal) |
//! | `RUST_LOG` | log filter (default `info`); it never drops request spans, which do not go through `tracing` |
//! | `PULSE_TRACE_FILTER` | which `tracing` spans become OTel spans (default `info`) |
//! | `PULSE_ACCESS_LOG_OTLP` | `true`: each access-log line is an OTLP log record too (default `false`: stdout only; the span has the same facts) |
//! | `PULSE_LOG_FORMAT` | `json`, `pretty` or `auto` (default: pretty on a terminal); in JSON a panic is one log line too |
//!
//! Log lines go to stdout through a bounded queue and a writer thread: a stalled consumer
//! drops lines (counted in `pulsecheck_log_lines_dropped_total`) instead of blocking requests.

mod env;
mod exporters;
mod format;
mod guard;
mod log_records;
mod panic_hook;
mod resource;
mod stdout;

use crate::layer::access_log::{AccessLogSink, Verdicts};

use std::io::{IsTerminal, Write as _};
use std::time::Duration;

use opentelemetry::logs::LoggerProvider as _;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge;
use opentelemetry_otlp::Protocol;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::{EnvFilter, LevelFilter, filter_fn};
use tracing_subscriber::fmt::MakeWriter as _;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::env::{PULSE_LOG_FORMAT, PULSE_TRACE_FILTER, PULSE_TRACE_FILTER_DEFAULT, RUST_LOG};
pub use env::Signal;
pub use format::LogFormat;
pub use guard::{SHUTDOWN_TIMEOUT_DEFAULT, ShutdownError};
pub use opentelemetry_otlp::Protocol as OtlpProtocol;
pub(crate) use resource::service_name_from_env as service_name;
pub(crate) use stdout::lines_dropped as log_lines_dropped;

/// Why telemetry could not start. Each names what to fix.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// An environment variable has a value we cannot use.
    #[error("invalid {var}: {reason}")]
    InvalidEnv {
        /// The variable.
        var: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The OTLP exporter for a signal could not be built (bad endpoint, missing TLS support).
    #[error("cannot build the OTLP {signal} exporter: {reason}")]
    Exporter {
        /// `traces`, `metrics` or `logs`.
        signal: &'static str,
        /// The exporter's message.
        reason: String,
    },
    /// gRPC export was requested outside a Tokio runtime.
    #[error("OTLP over gRPC needs a Tokio runtime: call init() from inside one")]
    NoRuntime,
    /// A global `tracing` subscriber is already installed.
    #[error(
        "a global tracing subscriber is already installed; use Telemetry::builder().install_subscriber(false) and add the layers yourself, or drop the other subscriber"
    )]
    SubscriberAlreadySet,
}

/// Configures telemetry. Every setting has an environment default; what is set here wins,
/// except the service name (see [`TelemetryBuilder::service_name`]).
#[derive(Debug, Clone)]
pub struct TelemetryBuilder {
    service_name: Option<String>,
    service_version: Option<String>,
    endpoint: Option<String>,
    protocol: Option<Protocol>,
    log_format: Option<LogFormat>,
    log_filter: Option<String>,
    trace_filter: Option<String>,
    shutdown_timeout: Duration,
    install_subscriber: bool,
    access_log_records: Option<bool>,
}

impl Default for TelemetryBuilder {
    fn default() -> Self {
        Self {
            service_name: None,
            service_version: None,
            endpoint: None,
            protocol: None,
            log_format: None,
            log_filter: None,
            trace_filter: None,
            shutdown_timeout: SHUTDOWN_TIMEOUT_DEFAULT,
            install_subscriber: true,
            access_log_records: None,
        }
    }
}

impl TelemetryBuilder {
    /// `service.name`, used when neither `OTEL_SERVICE_NAME` nor `service.name` in
    /// `OTEL_RESOURCE_ATTRIBUTES` is set. Defaults to `unknown_service:<executable>`.
    pub fn service_name(mut self, name: impl Into<String>) -> Self {
        self.service_name = Some(name.into());
        self
    }

    /// `service.version`. Defaults to none; pass `env!("CARGO_PKG_VERSION")`.
    pub fn service_version(mut self, version: impl Into<String>) -> Self {
        self.service_version = Some(version.into());
        self
    }

    /// Base OTLP endpoint for all signals, overriding `OTEL_EXPORTER_OTLP_ENDPOINT`. For HTTP,
    /// `/v1/traces` etc. are appended. Defaults to the environment; none means no export.
    pub fn endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into());
        self
    }

    /// The OTLP transport, overriding `OTEL_EXPORTER_OTLP_PROTOCOL`. Defaults to the
    /// environment, then HTTP/protobuf.
    pub fn protocol(mut self, protocol: Protocol) -> Self {
        self.protocol = Some(protocol);
        self
    }

    /// Log line format, overriding `PULSE_LOG_FORMAT`. Defaults to [`LogFormat::Auto`].
    pub fn log_format(mut self, format: LogFormat) -> Self {
        self.log_format = Some(format);
        self
    }

    /// Log filter in `RUST_LOG` syntax, overriding `RUST_LOG`. Defaults to `info`.
    pub fn log_filter(mut self, filter: impl Into<String>) -> Self {
        self.log_filter = Some(filter.into());
        self
    }

    /// Which `tracing` spans become OpenTelemetry spans, overriding `PULSE_TRACE_FILTER`.
    /// Defaults to `info`. Request spans are always traced: the layer starts them directly.
    pub fn trace_filter(mut self, filter: impl Into<String>) -> Self {
        self.trace_filter = Some(filter.into());
        self
    }

    /// Bound on the providers' flush in [`Telemetry::shutdown`]. Defaults to 5 s. Writing out
    /// queued log lines (with the installed subscriber) has its own bound of 1.2 s after it.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// Export each request's access-log line as an OTLP log record too (when logs are
    /// exported), overriding `PULSE_ACCESS_LOG_OTLP`. Defaults to the environment, then
    /// [`PULSE_ACCESS_LOG_OTLP_DEFAULT`]. The line on stdout is unaffected.
    pub fn access_log_records(mut self, on: bool) -> Self {
        self.access_log_records = Some(on);
        self
    }

    /// Install the global `tracing` subscriber. Defaults to `true`.
    pub fn install_subscriber(mut self, on: bool) -> Self {
        self.install_subscriber = on;
        self
    }

    /// Builds the providers, installs them (and the W3C propagators) globally, and installs the
    /// subscriber. Call it inside a Tokio runtime when exporting over gRPC.
    pub fn init(self) -> Result<Telemetry, TelemetryError> {
        // Read by the layer, which cannot fail: named here, at start-up.
        if let Some((var, reason)) = crate::layer::limits::invalid_env() {
            return Err(TelemetryError::InvalidEnv {
                var: var.to_owned(),
                reason,
            });
        }
        let resource = resource::build(
            self.service_name.as_deref(),
            self.service_version.as_deref(),
        );
        let code_ep = self.endpoint.as_deref();
        let mut plan = Vec::new();
        for signal in [Signal::Traces, Signal::Metrics, Signal::Logs] {
            if env::signal_enabled(signal, code_ep.is_some()) {
                let protocol = env::protocol(signal, self.protocol)?;
                if protocol == Protocol::Grpc && tokio::runtime::Handle::try_current().is_err() {
                    return Err(TelemetryError::NoRuntime);
                }
                plan.push((signal, protocol));
            }
        }
        let protocol_of = |s: Signal| plan.iter().find(|(p, _)| *p == s).map(|(_, p)| *p);

        let tracer = tracer_provider(&resource, protocol_of(Signal::Traces), code_ep)?;
        // No reader, no provider: an SDK provider without readers would complain about every
        // observable instrument, and the global no-op meter costs nothing.
        let meter = match protocol_of(Signal::Metrics) {
            Some(p) => Some(
                SdkMeterProvider::builder()
                    .with_resource(resource.clone())
                    .with_periodic_exporter(exporters::metrics(p, code_ep)?)
                    .build(),
            ),
            None => None,
        };
        let logger = match protocol_of(Signal::Logs) {
            Some(p) => Some(
                SdkLoggerProvider::builder()
                    // Before the exporter: adds `request.id` to records inside a request.
                    .with_log_processor(log_records::RequestIdProcessor)
                    .with_batch_exporter(exporters::logs(p, code_ep)?)
                    .with_resource(resource.clone())
                    .build(),
            ),
            None => None,
        };

        opentelemetry::global::set_tracer_provider(tracer.clone());
        if let Some(m) = &meter {
            opentelemetry::global::set_meter_provider(m.clone());
        }
        opentelemetry::global::set_text_map_propagator(
            opentelemetry::propagation::TextMapCompositePropagator::new(vec![
                Box::new(opentelemetry_sdk::propagation::TraceContextPropagator::new()),
                Box::new(opentelemetry_sdk::propagation::BaggagePropagator::new()),
            ]),
        );

        let log = if self.install_subscriber {
            Some(self.install(&tracer, logger.as_ref())?)
        } else {
            None
        };

        let exporting: Vec<String> = plan
            .iter()
            .map(|(s, p)| {
                format!(
                    "{} over {} to {}",
                    s.name(),
                    protocol_name(*p),
                    env::describe_endpoint(*s, code_ep, *p)
                )
            })
            .collect();
        if exporting.is_empty() {
            tracing::info!(
                target: "pulsecheck::telemetry",
                "OTLP export off (no OTEL_EXPORTER_OTLP_ENDPOINT); trace ids are still generated"
            );
        } else {
            tracing::info!(target: "pulsecheck::telemetry", exporting = %exporting.join(", "), "OTLP export on");
        }

        Ok(Telemetry {
            providers: Some(guard::Providers {
                tracer,
                meter,
                logger,
                log,
            }),
            shutdown_timeout: self.shutdown_timeout,
            exporting: plan.iter().map(|(s, _)| *s).collect(),
        })
    }

    /// Installs the subscriber; the guard flushes its stdout queue.
    fn install(
        &self,
        tracer: &SdkTracerProvider,
        logger: Option<&SdkLoggerProvider>,
    ) -> Result<stdout::LogGuard, TelemetryError> {
        let log_directives = match &self.log_filter {
            Some(f) => f.clone(),
            None => env::var(RUST_LOG).unwrap_or_else(|| default_log_filter().into()),
        };
        let trace_directives = match &self.trace_filter {
            Some(f) => f.clone(),
            None => {
                env::var(PULSE_TRACE_FILTER).unwrap_or_else(|| PULSE_TRACE_FILTER_DEFAULT.into())
            }
        };
        let log_filter = || parse_filter(RUST_LOG, &log_directives);
        let trace_filter = parse_filter(PULSE_TRACE_FILTER, &trace_directives)?
            // Never trace the exporters' own HTTP/gRPC clients: that would feed back.
            .add_directive(quiet("h2"))
            .add_directive(quiet("hyper"))
            .add_directive(quiet("tonic"))
            .add_directive(quiet("tower"))
            .add_directive(quiet("reqwest"))
            .add_directive(quiet("opentelemetry"));

        let format = self
            .log_format
            .or_else(|| env::var(PULSE_LOG_FORMAT).and_then(|v| LogFormat::parse(&v)))
            .unwrap_or(LogFormat::Auto);
        if let Some(v) = env::var(PULSE_LOG_FORMAT)
            && self.log_format.is_none()
            && LogFormat::parse(&v).is_none()
        {
            return Err(TelemetryError::InvalidEnv {
                var: PULSE_LOG_FORMAT.into(),
                reason: format!("`{v}` is not one of `json`, `pretty`, `auto`"),
            });
        }
        let json = match format {
            LogFormat::Json => true,
            LogFormat::Pretty => false,
            LogFormat::Auto => !std::io::stdout().is_terminal(),
        };

        let otel_traces = tracing_opentelemetry::layer()
            .with_tracer(tracer.tracer("pulsecheck"))
            .with_filter(trace_filter);
        // Never blocks: lines queue for a writer thread, dropped and counted when stdout stalls.
        let (writer, log_guard) = stdout::writer();
        let writer_for_access = writer.clone();
        let fmt = log_layer(
            if json {
                LogFormat::Json
            } else {
                LogFormat::Pretty
            },
            writer,
        )
        .with_filter(log_filter()?);
        let access_records = match self.access_log_records {
            Some(on) => on,
            None => env::access_log_otlp()?,
        };
        // JSON access lines skip `tracing`'s event machinery: written by the layer straight to
        // the same writer and logger, under the same filter's verdict.
        let access = if json {
            let filter = log_filter()?;
            let verdicts = Verdicts::from_interest(|m| {
                tracing_subscriber::layer::Filter::<tracing_subscriber::Registry>::callsite_enabled(
                    &filter, m,
                )
            });
            let lines = writer_for_access;
            let out = Box::new(move |line: &[u8]| {
                // Lossy by design: a full queue drops and counts the line.
                let _ = lines.make_writer().write_all(line);
            });
            let records = logger
                .filter(|_| access_records)
                .map(|lp| lp.logger_with_scope(crate::layer::access_log::scope()));
            Some(AccessLogSink::new(verdicts, out, records).with_filter(LevelFilter::OFF))
        } else {
            None
        };
        let otel_logs = match logger {
            Some(lp) => Some(
                OpenTelemetryTracingBridge::new(lp)
                    .with_filter(log_filter()?)
                    .with_filter(filter_fn(move |m| {
                        !is_exporter_target(m.target())
                            && (access_records || m.target() != crate::layer::ACCESS_LOG_TARGET)
                    })),
            ),
            None => None,
        };
        tracing_subscriber::registry()
            .with(otel_traces)
            .with(fmt)
            .with(otel_logs)
            // Outermost: the layer finds it first on the dispatcher.
            .with(access)
            .try_init()
            .map_err(|_| TelemetryError::SubscriberAlreadySet)?;
        log_guard.publish();
        if json {
            // A panic as one JSON line like the rest, not text on stderr.
            panic_hook::install();
        }
        Ok(log_guard)
    }
}

/// The log-line layer that [`TelemetryBuilder::init`] installs, for services that assemble
/// their own subscriber: JSON or pretty lines, each inside a request carrying `trace_id`,
/// `span_id` (when a tracing-opentelemetry layer is installed) and `request_id`.
///
/// [`LogFormat::Auto`] is pretty when stdout is a terminal. Colours only on a terminal.
///
/// ```
/// use tracing_subscriber::layer::SubscriberExt;
/// use pulsecheck::telemetry::{LogFormat, log_layer};
/// let subscriber = tracing_subscriber::registry().with(log_layer(LogFormat::Json, std::io::stdout));
/// tracing::subscriber::with_default(subscriber, || tracing::info!("hello"));
/// ```
pub fn log_layer<S, W>(format: LogFormat, writer: W) -> impl Layer<S> + Send + Sync + 'static
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let tty = std::io::stdout().is_terminal();
    let json = match format {
        LogFormat::Json => true,
        LogFormat::Pretty => false,
        LogFormat::Auto => !tty,
    };
    tracing_subscriber::fmt::layer()
        .event_format(format::EventFormat {
            json,
            ansi: tty && !json,
        })
        .with_writer(writer)
}

fn default_log_filter() -> &'static str {
    // The exporters and HTTP stack log at info/debug about every connection: keep them to
    // warnings unless asked.
    "info,h2=warn,hyper=warn,hyper_util=warn,tonic=warn,tower=warn,reqwest=warn,opentelemetry=warn,sqlx=warn"
}

fn quiet(target: &str) -> tracing_subscriber::filter::Directive {
    // Infallible for plain target names.
    format!("{target}=off")
        .parse()
        .unwrap_or_else(|_| tracing_subscriber::filter::LevelFilter::OFF.into())
}

fn parse_filter(var: &str, directives: &str) -> Result<EnvFilter, TelemetryError> {
    EnvFilter::builder()
        .parse(directives)
        .map_err(|e| TelemetryError::InvalidEnv {
            var: var.into(),
            reason: format!("`{directives}`: {e}"),
        })
}

fn is_exporter_target(target: &str) -> bool {
    ["opentelemetry", "hyper", "h2", "tonic", "tower", "reqwest"]
        .iter()
        .any(|p| target.starts_with(p))
}

fn protocol_name(p: Protocol) -> &'static str {
    match p {
        Protocol::Grpc => "grpc",
        Protocol::HttpBinary => "http/protobuf",
        _ => "http",
    }
}

fn tracer_provider(
    resource: &Resource,
    protocol: Option<Protocol>,
    endpoint: Option<&str>,
) -> Result<SdkTracerProvider, TelemetryError> {
    // The sampler, span limits and batch settings come from OTEL_* through the SDK defaults.
    let mut b = SdkTracerProvider::builder().with_resource(resource.clone());
    if let Some(p) = protocol {
        b = b.with_batch_exporter(exporters::spans(p, endpoint)?);
    }
    Ok(b.build())
}

/// The running telemetry pipeline. Call [`Telemetry::shutdown`] before exit to flush; dropping
/// it shuts down too, blocking the dropping thread for at most the shutdown bound.
pub struct Telemetry {
    providers: Option<guard::Providers>,
    shutdown_timeout: Duration,
    exporting: Vec<Signal>,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry")
            .field("exporting", &self.exporting)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .field("running", &self.providers.is_some())
            .finish()
    }
}

impl Telemetry {
    /// A builder reading its defaults from the environment.
    pub fn builder() -> TelemetryBuilder {
        TelemetryBuilder::default()
    }

    /// The signals being exported over OTLP (empty when export is off).
    pub fn exporting(&self) -> &[Signal] {
        &self.exporting
    }

    /// How long [`Telemetry::shutdown`] may take at most: the flush bound, the margin its
    /// waiting thread allows and, with pulsecheck's subscriber, writing out queued log lines.
    pub(crate) fn shutdown_bound(&self) -> Duration {
        let log = self.providers.as_ref().is_some_and(|p| p.log.is_some());
        self.shutdown_timeout
            + guard::MARGIN
            + if log {
                stdout::FLUSH_BOUND
            } else {
                Duration::ZERO
            }
    }

    /// The tracer provider (always present, exporting or not).
    pub fn tracer_provider(&self) -> Option<&SdkTracerProvider> {
        self.providers.as_ref().map(|p| &p.tracer)
    }

    /// Flushes traces, logs and metrics and stops the providers. Returns within the shutdown
    /// bound even when the collector is down or hangs, on any Tokio runtime flavour.
    pub async fn shutdown(mut self) -> Result<(), ShutdownError> {
        self.shutdown_inner()?.wait().await
    }

    /// Like [`Telemetry::shutdown`], for synchronous code. Do not call it on a runtime thread.
    pub fn shutdown_blocking(mut self) -> Result<(), ShutdownError> {
        self.shutdown_inner()?.wait_blocking()
    }

    fn shutdown_inner(&mut self) -> Result<guard::Answer, ShutdownError> {
        let providers = self
            .providers
            .take()
            .ok_or(ShutdownError::AlreadyShutdown)?;
        Ok(providers.shutdown_on_thread(self.shutdown_timeout))
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(p) = self.providers.take() {
            // Bounded: waits at most the shutdown timeout, from any thread.
            let answer = p.shutdown_on_thread(self.shutdown_timeout);
            if tokio::runtime::Handle::try_current().is_err() {
                let _ = answer.wait_blocking();
            }
        }
    }
}
