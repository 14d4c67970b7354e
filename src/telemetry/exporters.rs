//! OTLP exporters for each signal over gRPC or HTTP/protobuf.
//!
//! Only the transport, and an endpoint given in code, are set here: headers, timeout,
//! compression and per-signal endpoints come from the `OTEL_EXPORTER_OTLP_*` variables, which
//! the exporter builders read themselves (code would override them).

use opentelemetry_otlp::{LogExporter, MetricExporter, Protocol, SpanExporter, WithExportConfig};

use super::TelemetryError;
use super::env::Signal;

fn endpoint_for(signal: Signal, protocol: Protocol, base: &str) -> String {
    match protocol {
        Protocol::Grpc => base.to_owned(),
        // A base URL given in code gets the per-signal path, as the generic variable does.
        _ => format!("{}{}", base.trim_end_matches('/'), signal.http_path()),
    }
}

fn build_error(signal: Signal, e: opentelemetry_otlp::ExporterBuildError) -> TelemetryError {
    TelemetryError::Exporter {
        signal: signal.name(),
        reason: e.to_string(),
    }
}

macro_rules! exporter {
    ($ty:ident, $signal:expr, $protocol:expr, $endpoint:expr) => {{
        let signal = $signal;
        match $protocol {
            Protocol::Grpc => {
                let mut b = $ty::builder().with_tonic().with_protocol(Protocol::Grpc);
                if let Some(ep) = $endpoint {
                    b = b.with_endpoint(endpoint_for(signal, Protocol::Grpc, ep));
                }
                b.build().map_err(|e| build_error(signal, e))
            }
            p => {
                let mut b = $ty::builder().with_http().with_protocol(p);
                if let Some(ep) = $endpoint {
                    b = b.with_endpoint(endpoint_for(signal, p, ep));
                }
                b.build().map_err(|e| build_error(signal, e))
            }
        }
    }};
}

pub(crate) fn spans(
    protocol: Protocol,
    endpoint: Option<&str>,
) -> Result<SpanExporter, TelemetryError> {
    exporter!(SpanExporter, Signal::Traces, protocol, endpoint)
}

pub(crate) fn metrics(
    protocol: Protocol,
    endpoint: Option<&str>,
) -> Result<MetricExporter, TelemetryError> {
    exporter!(MetricExporter, Signal::Metrics, protocol, endpoint)
}

pub(crate) fn logs(
    protocol: Protocol,
    endpoint: Option<&str>,
) -> Result<LogExporter, TelemetryError> {
    exporter!(LogExporter, Signal::Logs, protocol, endpoint)
}
