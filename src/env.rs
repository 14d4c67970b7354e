#![doc = include_str!("../docs/environment.md")]
//!
//! ```
//! use pulsecheck::env;
//! assert_eq!(env::PULSE_DRAIN_DELAY, "PULSE_DRAIN_DELAY");
//! assert_eq!(env::PULSE_DRAIN_DELAY_DEFAULT, std::time::Duration::from_secs(5));
//! assert_eq!(env::PULSE_CONFIG_DEFAULT, "pulsecheck.toml");
//! ```

use std::time::Duration;

// --- Configuration file and budgets (`PulseConfig::load`) ---

/// Path of the configuration file; it must then exist.
pub const PULSE_CONFIG: &str = "PULSE_CONFIG";
/// The configuration file read when [`PULSE_CONFIG`] is unset and the file exists.
pub const PULSE_CONFIG_DEFAULT: &str = "pulsecheck.toml";
/// `budgets.p95_ms`: P95 latency limit, ms.
pub const PULSE_BUDGET_P95_MS: &str = "PULSE_BUDGET_P95_MS";
/// Default of [`PULSE_BUDGET_P95_MS`].
pub const PULSE_BUDGET_P95_MS_DEFAULT: f64 = 1000.0;
/// `budgets.p99_ms`: P99 latency limit, ms.
pub const PULSE_BUDGET_P99_MS: &str = "PULSE_BUDGET_P99_MS";
/// Default of [`PULSE_BUDGET_P99_MS`].
pub const PULSE_BUDGET_P99_MS_DEFAULT: f64 = 2000.0;
/// `budgets.error_rate`: error-rate limit, 0..1.
pub const PULSE_BUDGET_ERROR_RATE: &str = "PULSE_BUDGET_ERROR_RATE";
/// Default of [`PULSE_BUDGET_ERROR_RATE`].
pub const PULSE_BUDGET_ERROR_RATE_DEFAULT: f64 = 0.05;
/// `budgets.memory_mib`: process memory (RSS) limit, MiB.
pub const PULSE_BUDGET_MEMORY_MIB: &str = "PULSE_BUDGET_MEMORY_MIB";
/// Default of [`PULSE_BUDGET_MEMORY_MIB`].
pub const PULSE_BUDGET_MEMORY_MIB_DEFAULT: f64 = 512.0;
/// `budgets.warn_ratio`: fraction of a limit from which a budget is `warning`.
pub const PULSE_BUDGET_WARN_RATIO: &str = "PULSE_BUDGET_WARN_RATIO";
/// Default of [`PULSE_BUDGET_WARN_RATIO`].
pub const PULSE_BUDGET_WARN_RATIO_DEFAULT: f64 = 0.8;
/// `budgets.min_requests`: requests in the window below which budgets stay `ok`.
pub const PULSE_BUDGET_MIN_REQUESTS: &str = "PULSE_BUDGET_MIN_REQUESTS";
/// Default of [`PULSE_BUDGET_MIN_REQUESTS`].
pub const PULSE_BUDGET_MIN_REQUESTS_DEFAULT: u64 = 20;
/// `budgets.window`: `1m`, `5m` or `1h`.
pub const PULSE_BUDGET_WINDOW: &str = "PULSE_BUDGET_WINDOW";
/// Default of [`PULSE_BUDGET_WINDOW`].
pub const PULSE_BUDGET_WINDOW_DEFAULT: &str = "5m";
/// `default_slo`: evaluate the 99.9 % availability SLO unless one of its name is configured.
pub const PULSE_DEFAULT_SLO: &str = "PULSE_DEFAULT_SLO";
/// Default of [`PULSE_DEFAULT_SLO`].
pub const PULSE_DEFAULT_SLO_DEFAULT: bool = true;

// --- Alerts (`[alerts]`) ---

/// `alerts.interval`: time between evaluations.
pub const PULSE_ALERT_INTERVAL: &str = "PULSE_ALERT_INTERVAL";
/// Default of [`PULSE_ALERT_INTERVAL`].
pub const PULSE_ALERT_INTERVAL_DEFAULT: Duration = Duration::from_secs(5);
/// `alerts.for`: how long a condition holds before its alert fires.
pub const PULSE_ALERT_FOR: &str = "PULSE_ALERT_FOR";
/// Default of [`PULSE_ALERT_FOR`].
pub const PULSE_ALERT_FOR_DEFAULT: Duration = Duration::from_secs(30);
/// `alerts.keep_firing_for`: how long a firing alert outlives its condition.
pub const PULSE_ALERT_KEEP_FIRING_FOR: &str = "PULSE_ALERT_KEEP_FIRING_FOR";
/// Default of [`PULSE_ALERT_KEEP_FIRING_FOR`].
pub const PULSE_ALERT_KEEP_FIRING_FOR_DEFAULT: Duration = Duration::from_secs(60);

// --- Alert notifiers (`Dispatcher::from_env`), each on when its variable is set ---

/// JSON webhook URL.
pub const PULSE_WEBHOOK_URL: &str = "PULSE_WEBHOOK_URL";
/// Bearer token for the JSON webhook (optional).
pub const PULSE_WEBHOOK_TOKEN: &str = "PULSE_WEBHOOK_TOKEN";
/// Slack incoming webhook URL.
pub const PULSE_SLACK_WEBHOOK_URL: &str = "PULSE_SLACK_WEBHOOK_URL";
/// PagerDuty Events API v2 routing key.
pub const PULSE_PAGERDUTY_ROUTING_KEY: &str = "PULSE_PAGERDUTY_ROUTING_KEY";
/// PagerDuty Events API base URL (optional; PagerDuty's own by default).
pub const PULSE_PAGERDUTY_URL: &str = "PULSE_PAGERDUTY_URL";
/// Alertmanager root URL.
pub const PULSE_ALERTMANAGER_URL: &str = "PULSE_ALERTMANAGER_URL";
/// Alert email recipients, comma-separated (needs [`SMTP_URL`]).
pub const PULSE_ALERT_EMAIL_TO: &str = "PULSE_ALERT_EMAIL_TO";
/// Alert email sender (optional; `pulsecheck@<host>` by default).
pub const PULSE_ALERT_EMAIL_FROM: &str = "PULSE_ALERT_EMAIL_FROM";
/// The SMTP server of the alert email notifier, shared with the SMTP health check.
pub const SMTP_URL: &str = "SMTP_URL";

// --- The service (`PulseBuilder::build`) ---

/// Bearer token required on the admin endpoints (unset: open).
pub const PULSE_ADMIN_TOKEN: &str = "PULSE_ADMIN_TOKEN";
/// The dashboard's trace link template, containing `{trace_id}` (unset: no link).
pub const PULSE_TRACE_URL: &str = "PULSE_TRACE_URL";
/// Proxies whose `X-Forwarded-For` is believed: IPs and CIDR ranges separated by commas or
/// spaces (unset: none, the socket peer is the client).
pub const PULSE_TRUSTED_PROXIES: &str = "PULSE_TRUSTED_PROXIES";
/// Time between the shutdown signal (readiness turns 503) and the server's stop, so load
/// balancers see the pod leave before connections are refused.
pub const PULSE_DRAIN_DELAY: &str = "PULSE_DRAIN_DELAY";
/// Default of [`PULSE_DRAIN_DELAY`].
pub const PULSE_DRAIN_DELAY_DEFAULT: Duration = Duration::from_secs(5);
/// Time `Pulse::serve` lets open connections finish after the drain delay before it closes
/// them.
pub const PULSE_SHUTDOWN_DEADLINE: &str = "PULSE_SHUTDOWN_DEADLINE";
/// Default of [`PULSE_SHUTDOWN_DEADLINE`].
pub const PULSE_SHUTDOWN_DEADLINE_DEFAULT: Duration = Duration::from_secs(10);
/// Interval of the process and host sampler (`/health/system`).
pub const PULSE_SYSTEM_INTERVAL: &str = "PULSE_SYSTEM_INTERVAL";
/// Default of [`PULSE_SYSTEM_INTERVAL`].
pub const PULSE_SYSTEM_INTERVAL_DEFAULT: Duration = Duration::from_secs(30);

// --- Logs and telemetry (`Telemetry::init`) ---

/// `json`, `pretty` or `auto` (pretty on a terminal, JSON otherwise).
pub const PULSE_LOG_FORMAT: &str = "PULSE_LOG_FORMAT";
/// Default of [`PULSE_LOG_FORMAT`].
pub const PULSE_LOG_FORMAT_DEFAULT: &str = "auto";
/// `true` exports each request's access-log line as an OTLP log record too; `false` keeps it
/// on stdout only (the request's span carries the same facts).
pub const PULSE_ACCESS_LOG_OTLP: &str = "PULSE_ACCESS_LOG_OTLP";
/// Default of [`PULSE_ACCESS_LOG_OTLP`]: off, because the record repeats the span and its
/// export cost more server CPU than the rest of pulsecheck together (BENCHMARKS.md, end to
/// end).
pub const PULSE_ACCESS_LOG_OTLP_DEFAULT: bool = false;
/// Filter for what goes to the log (stdout and OTLP logs), `RUST_LOG` syntax.
pub const RUST_LOG: &str = "RUST_LOG";
/// Default of [`RUST_LOG`].
pub const RUST_LOG_DEFAULT: &str = "info";
/// Filter for which `tracing` spans become OpenTelemetry spans, `RUST_LOG` syntax.
pub const PULSE_TRACE_FILTER: &str = "PULSE_TRACE_FILTER";
/// Default of [`PULSE_TRACE_FILTER`].
pub const PULSE_TRACE_FILTER_DEFAULT: &str = "info";
/// `full` adds the backtrace to the panic log line.
pub const RUST_BACKTRACE: &str = "RUST_BACKTRACE";
/// `service.name`; wins over the name given in code.
pub const OTEL_SERVICE_NAME: &str = "OTEL_SERVICE_NAME";
/// Resource attributes (`key=value,...`); a `service.name` here wins over the name in code.
pub const OTEL_RESOURCE_ATTRIBUTES: &str = "OTEL_RESOURCE_ATTRIBUTES";
/// `true` turns every signal's export off.
pub const OTEL_SDK_DISABLED: &str = "OTEL_SDK_DISABLED";
/// Base OTLP endpoint for all signals (`http://collector:4317` or `:4318`; unset: no export).
pub const OTEL_EXPORTER_OTLP_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
/// Traces' OTLP endpoint, winning over [`OTEL_EXPORTER_OTLP_ENDPOINT`].
pub const OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
/// Metrics' OTLP endpoint, winning over [`OTEL_EXPORTER_OTLP_ENDPOINT`].
pub const OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT";
/// Logs' OTLP endpoint, winning over [`OTEL_EXPORTER_OTLP_ENDPOINT`].
pub const OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT";
/// `grpc` or `http/protobuf`.
pub const OTEL_EXPORTER_OTLP_PROTOCOL: &str = "OTEL_EXPORTER_OTLP_PROTOCOL";
/// Default of [`OTEL_EXPORTER_OTLP_PROTOCOL`], as in the OpenTelemetry specification.
pub const OTEL_EXPORTER_OTLP_PROTOCOL_DEFAULT: &str = "http/protobuf";
/// Traces' protocol, winning over [`OTEL_EXPORTER_OTLP_PROTOCOL`].
pub const OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: &str = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL";
/// Metrics' protocol, winning over [`OTEL_EXPORTER_OTLP_PROTOCOL`].
pub const OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: &str = "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL";
/// Logs' protocol, winning over [`OTEL_EXPORTER_OTLP_PROTOCOL`].
pub const OTEL_EXPORTER_OTLP_LOGS_PROTOCOL: &str = "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL";
/// `none` turns trace export off.
pub const OTEL_TRACES_EXPORTER: &str = "OTEL_TRACES_EXPORTER";
/// `none` turns metric export off.
pub const OTEL_METRICS_EXPORTER: &str = "OTEL_METRICS_EXPORTER";
/// `none` turns log export off.
pub const OTEL_LOGS_EXPORTER: &str = "OTEL_LOGS_EXPORTER";
/// Maximum length in bytes of any attribute value the layer copies from a request.
pub const OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT: &str = "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT";
/// Maximum length of a span attribute value; wins over [`OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT`].
pub const OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT: &str = "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT";
/// Maximum length of a log-record attribute value (access-log fields); wins over
/// [`OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT`].
pub const OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT: &str =
    "OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT";
/// Default of the three `*_ATTRIBUTE_VALUE_LENGTH_LIMIT` variables: enough for any real path,
/// query or user agent, small enough that a full export queue stays a few MiB.
pub const OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT_DEFAULT: usize = 2048;

/// The variable's value, trimmed; `None` when it is unset, blank or not UTF-8. The crate
/// treats a blank variable as unset everywhere, so a templating slip that renders `FOO=`
/// leaves the default in force.
pub(crate) fn var(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// The variable as a duration (`5s`, `500ms`, `0`): `default` when unset or blank, the
/// rejected value (cut to 64 characters) when it is not a duration.
pub(crate) fn duration(name: &str, default: Duration) -> Result<Duration, String> {
    match var(name) {
        Some(v) => crate::duration::parse(&v).ok_or_else(|| v.chars().take(64).collect()),
        None => Ok(default),
    }
}
