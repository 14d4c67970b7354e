//! The span harness the layer and client tests share: spans go to the SDK's in-memory
//! exporter through the real tracing-opentelemetry bridge.

use opentelemetry::Value;
use opentelemetry::trace::{SpanKind, TracerProvider as _};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use pulsecheck::layer::PulseLayer;
use tracing_subscriber::layer::SubscriberExt as _;

pub(crate) struct Harness {
    spans: InMemorySpanExporter,
    provider: SdkTracerProvider,
    _guard: tracing::subscriber::DefaultGuard,
}

impl Harness {
    pub(crate) fn new() -> Self {
        let spans = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(spans.clone())
            .build();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        let guard = tracing::subscriber::set_default(subscriber);
        Self {
            spans,
            provider,
            _guard: guard,
        }
    }

    /// A layer whose server spans go to this harness's provider.
    pub(crate) fn layer(&self) -> PulseLayer {
        PulseLayer::new().tracer(self.provider.tracer("pulsecheck"))
    }

    pub(crate) fn finished(&self) -> Vec<SpanData> {
        let _ = self.provider.force_flush();
        self.spans.get_finished_spans().unwrap()
    }

    pub(crate) fn server_span(&self) -> SpanData {
        let mut server: Vec<_> = self
            .finished()
            .into_iter()
            .filter(|s| s.span_kind == SpanKind::Server)
            .collect();
        assert_eq!(server.len(), 1, "expected one server span, got {server:?}");
        server.remove(0)
    }
}

pub(crate) fn attr<'a>(span: &'a SpanData, key: &str) -> Option<&'a Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| &kv.value)
}
