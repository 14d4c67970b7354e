//! The hook through which each finished request reaches an in-process aggregator.

use std::time::Duration;

use opentelemetry::trace::TraceId;

use super::method::HttpMethod;
use super::route::RouteId;

/// One finished request, as handed to a [`Recorder`].
///
/// Everything here is `Copy` and bounded: no path, no request id, no user agent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestRecord {
    /// The normalised method.
    pub method: HttpMethod,
    /// The route template's id, `None` for requests that matched no route.
    pub route: Option<RouteId>,
    /// The response status code (500 for a panicking handler,
    /// [`CANCELLED_STATUS`](super::CANCELLED_STATUS) for a request dropped before its response).
    pub status: u16,
    /// Time from the layer receiving the request to the response head being ready (or to the
    /// drop of a cancelled request).
    pub duration: Duration,
    /// The trace the request belongs to, when tracing is active and its span is sampled
    /// (an unsampled trace is stored nowhere, so its id would lead nowhere).
    pub trace_id: Option<TraceId>,
}

/// Receives one call per finished request, on the request's task (for a cancelled request,
/// wherever its future is dropped).
///
/// Implementations must be cheap and must not block: they run on the hot path. `()` records
/// nothing, and any `Fn(&RequestRecord)` is a recorder.
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use std::sync::Arc;
/// use pulsecheck::layer::{PulseLayer, RequestRecord};
///
/// let errors = Arc::new(AtomicU64::new(0));
/// let seen = errors.clone();
/// let layer = PulseLayer::new().recorder(move |r: &RequestRecord| {
///     if r.status >= 500 { seen.fetch_add(1, Ordering::Relaxed); }
/// });
/// ```
pub trait Recorder: Send + Sync + 'static {
    /// Called once when a request finishes.
    fn record(&self, record: &RequestRecord);
}

impl Recorder for () {
    #[inline]
    fn record(&self, _: &RequestRecord) {}
}

impl<F> Recorder for F
where
    F: Fn(&RequestRecord) + Send + Sync + 'static,
{
    #[inline]
    fn record(&self, record: &RequestRecord) {
        self(record)
    }
}
