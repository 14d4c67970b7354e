//! How the OpenTelemetry environment variables resolve per signal (the names are in
//! [`env`](crate::env)).

use opentelemetry_otlp::Protocol;

use super::TelemetryError;
pub(crate) use crate::env::var;
use crate::env::{
    OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_LOGS_ENDPOINT,
    OTEL_EXPORTER_OTLP_LOGS_PROTOCOL, OTEL_EXPORTER_OTLP_METRICS_ENDPOINT,
    OTEL_EXPORTER_OTLP_METRICS_PROTOCOL, OTEL_EXPORTER_OTLP_PROTOCOL,
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, OTEL_EXPORTER_OTLP_TRACES_PROTOCOL, OTEL_LOGS_EXPORTER,
    OTEL_METRICS_EXPORTER, OTEL_SDK_DISABLED, OTEL_TRACES_EXPORTER, PULSE_ACCESS_LOG_OTLP,
    PULSE_ACCESS_LOG_OTLP_DEFAULT,
};

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

    /// `OTEL_{SIGNAL}_EXPORTER`.
    fn exporter_var(self) -> &'static str {
        match self {
            Self::Traces => OTEL_TRACES_EXPORTER,
            Self::Metrics => OTEL_METRICS_EXPORTER,
            Self::Logs => OTEL_LOGS_EXPORTER,
        }
    }

    /// `OTEL_EXPORTER_OTLP_{SIGNAL}_ENDPOINT`.
    fn endpoint_var(self) -> &'static str {
        match self {
            Self::Traces => OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
            Self::Metrics => OTEL_EXPORTER_OTLP_METRICS_ENDPOINT,
            Self::Logs => OTEL_EXPORTER_OTLP_LOGS_ENDPOINT,
        }
    }

    /// `OTEL_EXPORTER_OTLP_{SIGNAL}_PROTOCOL`.
    fn protocol_var(self) -> &'static str {
        match self {
            Self::Traces => OTEL_EXPORTER_OTLP_TRACES_PROTOCOL,
            Self::Metrics => OTEL_EXPORTER_OTLP_METRICS_PROTOCOL,
            Self::Logs => OTEL_EXPORTER_OTLP_LOGS_PROTOCOL,
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
    if var(signal.exporter_var()).is_some_and(|v| v.eq_ignore_ascii_case("none")) {
        return false;
    }
    code_endpoint
        || var(OTEL_EXPORTER_OTLP_ENDPOINT).is_some()
        || var(signal.endpoint_var()).is_some()
}

/// The protocol for `signal`: code, then the per-signal variable, then the generic one.
pub(crate) fn protocol(signal: Signal, code: Option<Protocol>) -> Result<Protocol, TelemetryError> {
    if let Some(p) = code {
        return Ok(p);
    }
    let per_signal = signal.protocol_var();
    let (name, value) = match var(per_signal) {
        Some(v) => (per_signal, v),
        None => match var(OTEL_EXPORTER_OTLP_PROTOCOL) {
            Some(v) => (OTEL_EXPORTER_OTLP_PROTOCOL, v),
            None => return Ok(Protocol::HttpBinary),
        },
    };
    parse_protocol(&value).ok_or_else(|| TelemetryError::InvalidEnv {
        var: name.to_owned(),
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
    let ep = code
        .map(str::to_owned)
        .or_else(|| var(signal.endpoint_var()))
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
