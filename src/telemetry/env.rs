//! The environment variables telemetry set-up reads, and how they resolve.

use opentelemetry_otlp::Protocol;

use super::TelemetryError;

/// Base OTLP endpoint for all signals (`http://collector:4317` or `:4318`).
pub const OTEL_EXPORTER_OTLP_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
/// `grpc` or `http/protobuf`.
pub const OTEL_EXPORTER_OTLP_PROTOCOL: &str = "OTEL_EXPORTER_OTLP_PROTOCOL";
/// Default protocol when none is configured, as in the OpenTelemetry specification.
pub const OTEL_EXPORTER_OTLP_PROTOCOL_DEFAULT: &str = "http/protobuf";
/// `true` turns every signal's export off.
pub const OTEL_SDK_DISABLED: &str = "OTEL_SDK_DISABLED";
/// `JSON`, `pretty` or `auto` (pretty on a terminal, JSON otherwise).
pub const PULSE_LOG_FORMAT: &str = "PULSE_LOG_FORMAT";
/// Default of [`PULSE_LOG_FORMAT`].
pub const PULSE_LOG_FORMAT_DEFAULT: &str = "auto";
/// Filter for what goes to the log (stdout and OTLP logs), `RUST_LOG` syntax.
pub const RUST_LOG: &str = "RUST_LOG";
/// Default of [`RUST_LOG`].
pub const RUST_LOG_DEFAULT: &str = "info";
/// Filter for which `tracing` spans become OpenTelemetry spans, `RUST_LOG` syntax.
pub const PULSE_TRACE_FILTER: &str = "PULSE_TRACE_FILTER";
/// Default of [`PULSE_TRACE_FILTER`].
pub const PULSE_TRACE_FILTER_DEFAULT: &str = "info";

/// `true` exports each request's access-log line as an OTLP log record too; `false` keeps it
/// on stdout only (the request's span carries the same facts).
pub const PULSE_ACCESS_LOG_OTLP: &str = "PULSE_ACCESS_LOG_OTLP";
/// Default of [`PULSE_ACCESS_LOG_OTLP`]: off, because the record repeats the span and its
/// export cost more server CPU than the rest of pulsecheck together (BENCHMARKS.md, end to
/// end).
pub const PULSE_ACCESS_LOG_OTLP_DEFAULT: bool = false;

/// One of the three OpenTelemetry signals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// Spans.
    Traces,
    /// Metric data points.
    Metrics,
    /// Log records.
    Logs,
}

impl Signal {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Traces => "traces",
            Self::Metrics => "metrics",
            Self::Logs => "logs",
        }
    }

    fn upper(self) -> &'static str {
        match self {
            Self::Traces => "TRACES",
            Self::Metrics => "METRICS",
            Self::Logs => "LOGS",
        }
    }

    /// The path the HTTP exporter appends to a base endpoint.
    pub(crate) fn http_path(self) -> &'static str {
        match self {
            Self::Traces => "/v1/traces",
            Self::Metrics => "/v1/metrics",
            Self::Logs => "/v1/logs",
        }
    }
}

pub(crate) fn var(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// [`PULSE_ACCESS_LOG_OTLP`]: `true` or `false` (any case), else its default.
pub(crate) fn access_log_otlp() -> Result<bool, TelemetryError> {
    match var(PULSE_ACCESS_LOG_OTLP) {
        None => Ok(PULSE_ACCESS_LOG_OTLP_DEFAULT),
        Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
        Some(v) => Err(TelemetryError::InvalidEnv {
            var: PULSE_ACCESS_LOG_OTLP.into(),
            reason: format!("`{v}` is not `true` or `false`"),
        }),
    }
}

/// Whether `signal` is exported: an endpoint is configured (in code, generic or per signal),
/// the SDK is not disabled, and `OTEL_{SIGNAL}_EXPORTER` is not `none`.
pub(crate) fn signal_enabled(signal: Signal, code_endpoint: bool) -> bool {
    if var(OTEL_SDK_DISABLED).is_some_and(|v| v.eq_ignore_ascii_case("true")) {
        return false;
    }
    if var(&format!("OTEL_{}_EXPORTER", signal.upper()))
        .is_some_and(|v| v.eq_ignore_ascii_case("none"))
    {
        return false;
    }
    code_endpoint
        || var(OTEL_EXPORTER_OTLP_ENDPOINT).is_some()
        || var(&format!("OTEL_EXPORTER_OTLP_{}_ENDPOINT", signal.upper())).is_some()
}

/// The protocol for `signal`: code, then the per-signal variable, then the generic one.
pub(crate) fn protocol(signal: Signal, code: Option<Protocol>) -> Result<Protocol, TelemetryError> {
    if let Some(p) = code {
        return Ok(p);
    }
    let per_signal = format!("OTEL_EXPORTER_OTLP_{}_PROTOCOL", signal.upper());
    let (name, value) = match var(&per_signal) {
        Some(v) => (per_signal, v),
        None => match var(OTEL_EXPORTER_OTLP_PROTOCOL) {
            Some(v) => (OTEL_EXPORTER_OTLP_PROTOCOL.to_owned(), v),
            None => return Ok(Protocol::HttpBinary),
        },
    };
    parse_protocol(&value).ok_or_else(|| TelemetryError::InvalidEnv {
        var: name,
        reason: format!("`{value}` is not one of `grpc`, `http/protobuf`"),
    })
}

fn parse_protocol(v: &str) -> Option<Protocol> {
    match v.to_ascii_lowercase().as_str() {
        "grpc" => Some(Protocol::Grpc),
        "http/protobuf" => Some(Protocol::HttpBinary),
        _ => None,
    }
}

/// The endpoint that will be used for `signal`, for the start-up log line.
pub(crate) fn describe_endpoint(signal: Signal, code: Option<&str>, protocol: Protocol) -> String {
    let per_signal = format!("OTEL_EXPORTER_OTLP_{}_ENDPOINT", signal.upper());
    let ep = code
        .map(str::to_owned)
        .or_else(|| var(&per_signal))
        .or_else(|| var(OTEL_EXPORTER_OTLP_ENDPOINT))
        .unwrap_or_else(|| match protocol {
            Protocol::Grpc => "http://localhost:4317".into(),
            _ => "http://localhost:4318".into(),
        });
    crate::redact::endpoint(&ep)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_names_parse() {
        assert_eq!(parse_protocol("GRPC"), Some(Protocol::Grpc));
        assert_eq!(parse_protocol("http/protobuf"), Some(Protocol::HttpBinary));
        assert_eq!(parse_protocol("carrier-pigeon"), None);
    }
}
