//! The request's OpenTelemetry context: its server span plus its correlation id, current while
//! the handler runs so that `tracing` spans, log lines and log records all join it.

use opentelemetry::Context;

use super::request_id::RequestId;

/// The correlation id stored in the request's [`Context`].
#[derive(Clone, Debug)]
pub(crate) struct CxRequestId(pub(crate) RequestId);

/// The request id of the request being handled on this thread, if any.
pub(crate) fn current_request_id() -> Option<RequestId> {
    Context::map_current(|cx| cx.get::<CxRequestId>().map(|r| r.0.clone()))
}
