//! Adds the request id to OTLP log records emitted inside a request.

use opentelemetry::InstrumentationScope;
use opentelemetry::logs::{AnyValue, LogRecord as _};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::logs::{LogProcessor, SdkLogRecord};

use crate::layer::{REQUEST_ID_ATTRIBUTE, RequestId};

/// Runs before the batch processor: the SDK hands each record to the processors in order,
/// on the emitting thread, where the request's context is current.
#[derive(Debug)]
pub(crate) struct RequestIdProcessor;

impl LogProcessor for RequestIdProcessor {
    fn emit(&self, record: &mut SdkLogRecord, _scope: &InstrumentationScope) {
        if let Some(id) = RequestId::current() {
            record.add_attribute(REQUEST_ID_ATTRIBUTE, AnyValue::from(id.as_str().to_owned()));
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }
}
