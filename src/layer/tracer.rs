//! The tracer the layer starts its server spans with.

use std::any::Any;

use opentelemetry::Context;
use opentelemetry::global::BoxedTracer;
use opentelemetry::trace::{SpanBuilder, TraceContextExt, Tracer};
use opentelemetry_sdk::trace::SdkTracer;

/// The SDK's tracer as it is when the service hands one over: its spans go into the context
/// boxed once, and every call on them is direct. Any other tracer (the global provider's
/// included) is boxed, and so is each of its spans, once more inside the context (~250
/// instructions and an allocation a request).
#[derive(Debug)]
pub(crate) enum LayerTracer {
    Sdk(SdkTracer),
    Boxed(BoxedTracer),
}

impl LayerTracer {
    /// `tracer` as it is if it is the SDK's, else boxed.
    pub(crate) fn new<T>(tracer: T) -> Self
    where
        T: Tracer + Send + Sync + 'static,
        T::Span: Send + Sync + 'static,
    {
        let mut slot = Some(tracer);
        let any: &mut dyn Any = &mut slot;
        let sdk = any
            .downcast_mut::<Option<SdkTracer>>()
            .and_then(Option::take);
        match (sdk, slot) {
            (Some(sdk), _) => Self::Sdk(sdk),
            (None, Some(other)) => Self::Boxed(BoxedTracer::new(Box::new(other))),
            // Unreachable: the slot is emptied only when it held the SDK's tracer.
            (None, None) => Self::Boxed(crate::instrumentation::tracer()),
        }
    }

    /// Starts a span from `builder` under `parent`; `recording` adds what only a recorded span
    /// needs. The context returned holds the span.
    pub(crate) fn start(
        &self,
        builder: SpanBuilder,
        parent: &Context,
        recording: impl FnOnce(&mut dyn FnMut(opentelemetry::KeyValue)),
    ) -> Context {
        match self {
            Self::Sdk(t) => start_with(t, builder, parent, recording),
            Self::Boxed(t) => start_with(t, builder, parent, recording),
        }
    }
}

fn start_with<T>(
    tracer: &T,
    builder: SpanBuilder,
    parent: &Context,
    recording: impl FnOnce(&mut dyn FnMut(opentelemetry::KeyValue)),
) -> Context
where
    T: Tracer,
    T::Span: Send + Sync + 'static,
{
    use opentelemetry::trace::Span as _;
    let mut span = tracer.build_with_context(builder, parent);
    if span.is_recording() {
        recording(&mut |kv| span.set_attribute(kv));
    }
    parent.with_span(span)
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_sdk::trace::SdkTracerProvider;

    #[test]
    fn the_sdk_tracer_is_kept_as_it_is_and_others_are_boxed() {
        let provider = SdkTracerProvider::builder().build();
        assert!(matches!(
            LayerTracer::new(provider.tracer("t")),
            LayerTracer::Sdk(_)
        ));
        let noop = opentelemetry::trace::noop::NoopTracer::new();
        assert!(matches!(LayerTracer::new(noop), LayerTracer::Boxed(_)));
    }

    #[test]
    fn both_kinds_record_what_only_a_recorded_span_needs() {
        let exporter = opentelemetry_sdk::trace::InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        for tracer in [
            LayerTracer::new(provider.tracer("t")),
            LayerTracer::Boxed(BoxedTracer::new(Box::new(provider.tracer("t")))),
        ] {
            let cx = tracer.start(SpanBuilder::from_name("s"), &Context::new(), |set| {
                set(opentelemetry::KeyValue::new("k", "v"))
            });
            assert!(cx.span().span_context().is_valid());
            cx.span().end();
        }
        let spans = exporter.get_finished_spans().unwrap();
        assert_eq!(spans.len(), 2);
        for s in spans {
            assert_eq!(s.attributes, vec![opentelemetry::KeyValue::new("k", "v")]);
        }
    }
}
