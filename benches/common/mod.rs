//! The router and layer variants both layer benchmarks measure.
#![allow(dead_code)]

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::MatchedPath;
use axum::routing::get;
use http::{Request, Response};
use opentelemetry::KeyValue;
use opentelemetry::metrics::{Histogram, MeterProvider as _};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracerProvider, SpanData, SpanExporter,
};
use pulsecheck::layer::{PulseLayer, RouteTable};
use pulsecheck::window::{Aggregator, AggregatorConfig};
use tracing_subscriber::layer::SubscriberExt;

pub const VARIANTS: [&str; 17] = [
    "bare",
    "noop_layer",
    "axum_tracing_opentelemetry/sampled",
    "tower_http_trace/sampled",
    "tower_http_trace/sampled_batch_discard",
    "axum_prometheus",
    "otel_histogram_3_attrs",
    "layer/no_tracer",
    "layer/no_tracer_no_otel_metrics",
    "layer/no_tracer_no_size_check",
    "layer/not_sampled",
    "layer/sampled",
    "layer/sampled_json_log",
    "layer+agg/no_tracer",
    "layer+agg/no_tracer_no_otel_metrics",
    "layer+agg/sampled_batch_discard",
    "layer+agg/sampled_batch_discard_no_otel_metrics",
];

/// Variants that install process-global state (pulsecheck's own subscriber and providers, as
/// `Telemetry::init` does): measured one per process (`benches/instructions.sh`), never beside
/// the others.
pub const GLOBAL_VARIANTS: [&str; 1] = [
    // As `layer/sampled`, with the access-log line written by pulsecheck's subscriber.
    "layer/sampled_access_log",
];

pub fn router() -> Router {
    Router::new().route("/users/{id}", get(|| async { "user" }))
}

pub fn request() -> Request<Body> {
    Request::builder()
        .uri("/users/42")
        .header("host", "localhost:8080")
        .header("user-agent", "bench/1")
        .body(Body::empty())
        .unwrap()
}

/// What must stay alive while a variant runs.
pub struct Setup {
    pub app: Router,
    _meters: Option<SdkMeterProvider>,
    tracer: Option<SdkTracerProvider>,
    /// The variant's `tracing` subscriber, made the thread default by [`Setup::in_scope`].
    subscriber: Option<tracing::Dispatch>,
    /// Spans the discarding exporter received.
    exported: Option<Arc<AtomicU64>>,
    prometheus: Option<axum_prometheus::metrics_exporter_prometheus::PrometheusHandle>,
    aggregator: Option<Aggregator>,
    _telemetry: Option<pulsecheck::telemetry::Telemetry>,
}

impl Setup {
    fn app(app: Router) -> Self {
        Self {
            app,
            _meters: None,
            tracer: None,
            subscriber: None,
            exported: None,
            prometheus: None,
            aggregator: None,
            _telemetry: None,
        }
    }

    /// Runs `f` with the variant's subscriber (if any) as the thread's default.
    pub fn in_scope<R>(&self, f: impl FnOnce() -> R) -> R {
        match &self.subscriber {
            Some(d) => tracing::dispatcher::with_default(d, f),
            None => f(),
        }
    }

    /// Finishes deferred work that belongs to the requests already served (batched spans
    /// flushed, Prometheus samples folded), and says what was done.
    pub fn finish(&self) -> String {
        let mut notes = Vec::new();
        if let Some(p) = &self.prometheus {
            let text = p.render();
            notes.push(format!("prometheus rendered {} bytes", text.len()));
        }
        if let (Some(t), Some(n)) = (&self.tracer, &self.exported) {
            let _ = t.force_flush();
            notes.push(format!(
                "{} spans batch-exported (discarded)",
                n.load(Ordering::Relaxed)
            ));
        }
        if let Some(a) = &self.aggregator {
            notes.push(format!("aggregator holds {} bytes", a.memory_bytes()));
        }
        notes.join(", ")
    }
}

/// An SDK span exporter that counts what it is given and drops it.
#[derive(Debug, Default)]
pub struct DiscardExporter(Arc<AtomicU64>);

impl SpanExporter for DiscardExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        self.0.fetch_add(batch.len() as u64, Ordering::Relaxed);
        drop(batch);
        Ok(())
    }
}

/// Queue of the batch span processor: larger than the default 2048 so that no span is ever
/// dropped (under valgrind, which runs one thread at a time, the export thread can fall
/// behind; a dropped span costs less than an exported one and would flatter the variant).
const BATCH_QUEUE: usize = 1 << 16;

/// A tracer provider; with `batch`, its spans go through the SDK batch processor (default
/// batch size and delay, a larger queue) to a [`DiscardExporter`].
fn tracer_provider(sampler: Sampler, batch: bool) -> (SdkTracerProvider, Option<Arc<AtomicU64>>) {
    let builder = SdkTracerProvider::builder().with_sampler(sampler);
    if batch {
        let exporter = DiscardExporter::default();
        let count = Arc::clone(&exporter.0);
        let processor = BatchSpanProcessor::builder(exporter)
            .with_batch_config(
                BatchConfigBuilder::default()
                    .with_max_queue_size(BATCH_QUEUE)
                    .build(),
            )
            .build();
        (builder.with_span_processor(processor).build(), Some(count))
    } else {
        (builder.build(), None)
    }
}

fn meter_provider() -> SdkMeterProvider {
    SdkMeterProvider::builder()
        .with_reader(PeriodicReader::builder(InMemoryMetricExporter::default()).build())
        .build()
}

fn metered_layer() -> (PulseLayer, SdkMeterProvider) {
    let meters = meter_provider();
    let meter = opentelemetry::metrics::MeterProvider::meter(&meters, "bench");
    (PulseLayer::new().meter(&meter), meters)
}

/// Builds a variant; drive it inside [`Setup::in_scope`]. Call it inside a tokio runtime
/// context (axum-prometheus spawns its upkeep task there).
pub fn setup(variant: &str) -> Setup {
    match variant {
        "bare" => return Setup::app(router()),
        "noop_layer" => {
            // A layer that does nothing: the cost of one more tower service around the
            // handler.
            return Setup::app(
                router().layer(tower::util::MapRequestLayer::new(|r: Request<Body>| r)),
            );
        }
        "axum_tracing_opentelemetry/sampled" => {
            // The competitor on the same terms: an SDK tracer (always on) through
            // tracing-opentelemetry, trace id returned in the response.
            let (tracer, _) = tracer_provider(Sampler::AlwaysOn, false);
            let otel = tracing_opentelemetry::layer().with_tracer(tracer.tracer("bench"));
            let subscriber = tracing::Dispatch::new(tracing_subscriber::registry().with(otel));
            let app = router()
                .layer(axum_tracing_opentelemetry::middleware::OtelInResponseLayer)
                .layer(axum_tracing_opentelemetry::middleware::OtelAxumLayer::default());
            let mut s = Setup::app(app);
            s.tracer = Some(tracer);
            s.subscriber = Some(subscriber);
            return s;
        }
        "tower_http_trace/sampled" | "tower_http_trace/sampled_batch_discard" => {
            // tower-http's TraceLayer with its defaults (a DEBUG `request` span, DEBUG events
            // on request and response) into tracing-opentelemetry with an always-on tracer.
            let batch = variant.ends_with("batch_discard");
            let (tracer, exported) = tracer_provider(Sampler::AlwaysOn, batch);
            let otel = tracing_opentelemetry::layer().with_tracer(tracer.tracer("bench"));
            let subscriber = tracing::Dispatch::new(tracing_subscriber::registry().with(otel));
            let app = router().layer(tower_http::trace::TraceLayer::new_for_http());
            let mut s = Setup::app(app);
            s.tracer = Some(tracer);
            s.exported = exported;
            s.subscriber = Some(subscriber);
            return s;
        }
        "axum_prometheus" => {
            // axum-prometheus 0.10 with its defaults: metrics-exporter-prometheus as the global
            // `metrics` recorder (one per process), a request counter, a duration histogram
            // and a pending-requests gauge.
            let (layer, handle) = axum_prometheus::PrometheusMetricLayer::pair();
            let mut s = Setup::app(router().layer(layer));
            s.prometheus = Some(handle);
            return s;
        }
        "otel_histogram_3_attrs" => {
            // The OpenTelemetry SDK histogram alone: one record per request with three
            // attributes (method, route, status), by a minimal hand-written layer.
            let meters = meter_provider();
            let histogram = meters
                .meter("bench")
                .f64_histogram("http.server.request.duration")
                .with_unit("s")
                .build();
            let mut s = Setup::app(router().layer(HistogramLayer { histogram }));
            s._meters = Some(meters);
            return s;
        }
        _ => {}
    }

    // pulsecheck's layer.
    let otel_metrics = !variant.ends_with("no_otel_metrics");
    let (layer, meters) = if otel_metrics {
        let (l, m) = metered_layer();
        (l, Some(m))
    } else {
        (PulseLayer::new().metrics(false), None)
    };
    // The `Content-Length` audit check off, to see what it costs.
    let layer = if variant.ends_with("no_size_check") {
        layer.max_request_bytes(None)
    } else {
        layer
    };
    let (layer, aggregator) = if variant.starts_with("layer+agg/") {
        // The in-process aggregator as the recorder, sharing the layer's route table. No
        // ticker: folding happens once a second, off the request path.
        let routes = Arc::new(RouteTable::default());
        let agg = Aggregator::new(AggregatorConfig::default(), Arc::clone(&routes));
        (layer.routes(routes).recorder(agg.clone()), Some(agg))
    } else {
        (layer, None)
    };
    let (sampler, batch) = match variant {
        "layer/no_tracer"
        | "layer/no_tracer_no_otel_metrics"
        | "layer/no_tracer_no_size_check"
        | "layer+agg/no_tracer"
        | "layer+agg/no_tracer_no_otel_metrics" => {
            // The global tracer provider, a no-op: spans off.
            let mut s = Setup::app(router().layer(layer));
            s._meters = meters;
            s.aggregator = aggregator;
            return s;
        }
        "layer/not_sampled" => (Sampler::AlwaysOff, false),
        "layer+agg/sampled_batch_discard" | "layer+agg/sampled_batch_discard_no_otel_metrics" => {
            (Sampler::AlwaysOn, true)
        }
        _ => (Sampler::AlwaysOn, false),
    };
    let (tracer, exported) = tracer_provider(sampler, batch);
    let app = router().layer(layer.tracer(tracer.tracer("pulsecheck")));
    // The handler's own spans, if it had any, would go through tracing-opentelemetry.
    let otel = tracing_opentelemetry::layer().with_tracer(tracer.tracer("bench"));
    if variant == "layer/sampled_access_log" {
        // pulsecheck's own subscriber, as `Telemetry::init` installs it (globally: one per
        // process), JSON lines to stdout through its writer thread, no export.
        let telemetry = pulsecheck::telemetry::Telemetry::builder()
            .log_format(pulsecheck::telemetry::LogFormat::Json)
            .init()
            .expect("the first subscriber of this process");
        let mut s = Setup::app(app);
        s._meters = meters;
        s.tracer = Some(tracer);
        s.exported = exported;
        s.aggregator = aggregator;
        s._telemetry = Some(telemetry);
        return s;
    }
    let subscriber = if variant == "layer/sampled_json_log" {
        tracing::Dispatch::new(tracing_subscriber::registry().with(otel).with(
            pulsecheck::telemetry::log_layer(pulsecheck::telemetry::LogFormat::Json, std::io::sink),
        ))
    } else {
        tracing::Dispatch::new(tracing_subscriber::registry().with(otel))
    };
    let mut s = Setup::app(app);
    s._meters = meters;
    s.tracer = Some(tracer);
    s.exported = exported;
    s.subscriber = Some(subscriber);
    s.aggregator = aggregator;
    s
}

/// Records `http.server.request.duration` with three attributes once per request: the least
/// an OpenTelemetry-metrics middleware does.
#[derive(Clone)]
pub struct HistogramLayer {
    histogram: Histogram<f64>,
}

impl<S> tower::Layer<S> for HistogramLayer {
    type Service = HistogramService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        HistogramService {
            inner,
            histogram: self.histogram.clone(),
        }
    }
}

#[derive(Clone)]
pub struct HistogramService<S> {
    inner: S,
    histogram: Histogram<f64>,
}

fn method_str(m: &http::Method) -> &'static str {
    match *m {
        http::Method::GET => "GET",
        http::Method::POST => "POST",
        http::Method::PUT => "PUT",
        http::Method::DELETE => "DELETE",
        http::Method::PATCH => "PATCH",
        http::Method::HEAD => "HEAD",
        http::Method::OPTIONS => "OPTIONS",
        _ => "_OTHER",
    }
}

impl<S, B, R> tower::Service<Request<B>> for HistogramService<S>
where
    S: tower::Service<Request<B>, Response = Response<R>>,
{
    type Response = Response<R>;
    type Error = S::Error;
    type Future = HistogramFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let start = Instant::now();
        let method = method_str(req.method());
        let route = req
            .extensions()
            .get::<MatchedPath>()
            .map(|p| p.as_str().to_owned());
        HistogramFuture {
            fut: self.inner.call(req),
            start,
            method,
            route,
            histogram: self.histogram.clone(),
        }
    }
}

pin_project_lite::pin_project! {
    pub struct HistogramFuture<F> {
        #[pin]
        fut: F,
        start: Instant,
        method: &'static str,
        route: Option<String>,
        histogram: Histogram<f64>,
    }
}

impl<F, R, E> Future for HistogramFuture<F>
where
    F: Future<Output = Result<Response<R>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let out = std::task::ready!(this.fut.poll(cx));
        let status = out.as_ref().map_or(500, |r| r.status().as_u16());
        this.histogram.record(
            this.start.elapsed().as_secs_f64(),
            &[
                KeyValue::new("http.request.method", *this.method),
                KeyValue::new("http.route", this.route.take().unwrap_or_default()),
                KeyValue::new("http.response.status_code", i64::from(status)),
            ],
        );
        Poll::Ready(out)
    }
}
