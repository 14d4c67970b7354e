//! Remembers each request span's correlation id, so log lines can carry it.

use std::sync::Arc;

use tracing::Subscriber;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use crate::layer::REQUEST_SPAN_TARGET;

/// The request id of a request span, kept in its extensions.
pub(crate) struct RequestIdExt(pub(crate) Arc<str>);

/// Stores [`RequestIdExt`] on request spans. Filtered to [`REQUEST_SPAN_TARGET`] where it is
/// installed, so it enables nothing else.
pub(crate) struct CorrelationLayer;

struct RequestIdVisitor(Option<Arc<str>>);

impl Visit for RequestIdVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "request.id" {
            self.0 = Some(Arc::from(value));
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "request.id" {
            self.0 = Some(Arc::from(format!("{value:?}")));
        }
    }
}

impl<S> Layer<S> for CorrelationLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if attrs.metadata().target() != REQUEST_SPAN_TARGET {
            return;
        }
        let mut visitor = RequestIdVisitor(None);
        attrs.record(&mut visitor);
        if let (Some(rid), Some(span)) = (visitor.0, ctx.span(id)) {
            span.extensions_mut().insert(RequestIdExt(rid));
        }
    }
}
