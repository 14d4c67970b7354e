//! `Telemetry::shutdown` flushes everything and returns within its bound on both runtime
//! flavours, with a live, dead or hanging collector.

use std::time::{Duration, Instant};

use opentelemetry::trace::{Tracer, TracerProvider as _};
use pulsecheck::telemetry::{OtlpProtocol, ShutdownError, Telemetry};
use support::otlp::{Receiver, dead_port, hanging_server};

fn builder(
    endpoint: &str,
    protocol: OtlpProtocol,
    bound: Duration,
) -> pulsecheck::telemetry::TelemetryBuilder {
    Telemetry::builder()
        .service_name("shutdown-test")
        .endpoint(endpoint)
        .protocol(protocol)
        .install_subscriber(false)
        .shutdown_timeout(bound)
}

fn emit_spans(t: &Telemetry, n: usize) {
    let tracer = t.tracer_provider().unwrap().tracer("test");
    for i in 0..n {
        tracer.in_span(format!("work-{i}"), |_| {});
    }
}

async fn flushes_to_live_receiver(protocol: OtlpProtocol, endpoint_of: fn(&Receiver) -> String) {
    let rx = Receiver::start().await;
    let t = builder(&endpoint_of(&rx), protocol, Duration::from_secs(5))
        .init()
        .unwrap();
    assert_eq!(t.exporting().len(), 3);
    emit_spans(&t, 10);
    let start = Instant::now();
    t.shutdown().await.expect("clean shutdown");
    assert!(start.elapsed() < Duration::from_secs(5));
    // Flushed, not dropped: the batch delay (5 s default) had not elapsed.
    let names: Vec<String> = rx.store.spans().into_iter().map(|s| s.name).collect();
    assert_eq!(names.len(), 10, "{names:?}");
}

#[tokio::test(flavor = "current_thread")]
async fn grpc_flush_works_on_a_current_thread_runtime() {
    flushes_to_live_receiver(OtlpProtocol::Grpc, |r| r.endpoint("grpc")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_flush_works_on_a_multi_thread_runtime() {
    flushes_to_live_receiver(OtlpProtocol::Grpc, |r| r.endpoint("grpc")).await;
}

#[tokio::test(flavor = "current_thread")]
async fn http_flush_works_on_a_current_thread_runtime() {
    flushes_to_live_receiver(OtlpProtocol::HttpBinary, |r| r.endpoint("http")).await;
}

async fn bounded_with(endpoint: String, protocol: OtlpProtocol) {
    let bound = Duration::from_secs(1);
    let t = builder(&endpoint, protocol, bound).init().unwrap();
    emit_spans(&t, 50);
    let start = Instant::now();
    let result = t.shutdown().await;
    let took = start.elapsed();
    assert!(
        took < bound + Duration::from_secs(1),
        "shutdown took {took:?}"
    );
    // Either the exporter gave up in time, or we did; never a hang.
    if let Err(e) = result {
        assert!(
            matches!(e, ShutdownError::Timeout(_) | ShutdownError::Internal(_)),
            "{e:?}"
        );
    }
}

#[tokio::test(flavor = "current_thread")]
async fn shutdown_is_bounded_with_a_hanging_grpc_collector_on_current_thread() {
    let (addr, _server) = hanging_server().await;
    bounded_with(format!("http://{addr}"), OtlpProtocol::Grpc).await;
}

#[tokio::test(flavor = "current_thread")]
async fn shutdown_is_bounded_with_a_hanging_http_collector_on_current_thread() {
    let (addr, _server) = hanging_server().await;
    bounded_with(format!("http://{addr}"), OtlpProtocol::HttpBinary).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_is_bounded_with_a_dead_collector() {
    bounded_with(format!("http://{}", dead_port()), OtlpProtocol::Grpc).await;
    bounded_with(format!("http://{}", dead_port()), OtlpProtocol::HttpBinary).await;
}

#[test]
fn blocking_shutdown_is_bounded_outside_a_runtime() {
    // HTTP export needs no runtime at all.
    let hang = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = hang.local_addr().unwrap();
    let t = builder(
        &format!("http://{addr}"),
        OtlpProtocol::HttpBinary,
        Duration::from_secs(1),
    )
    .init()
    .unwrap();
    emit_spans(&t, 5);
    let start = Instant::now();
    let _ = t.shutdown_blocking();
    assert!(start.elapsed() < Duration::from_secs(2));
}

#[test]
fn grpc_outside_a_runtime_is_a_clear_error() {
    let err = builder(
        "http://127.0.0.1:4317",
        OtlpProtocol::Grpc,
        Duration::from_secs(1),
    )
    .init()
    .unwrap_err();
    assert!(err.to_string().contains("Tokio runtime"), "{err}");
}

#[tokio::test]
async fn without_endpoint_nothing_exports_but_trace_ids_exist() {
    let t = Telemetry::builder()
        .install_subscriber(false)
        .init()
        .unwrap();
    assert!(t.exporting().is_empty());
    let tracer = t.tracer_provider().unwrap().tracer("t");
    let id = tracer.in_span("x", |cx| {
        use opentelemetry::trace::TraceContextExt;
        cx.span().span_context().trace_id()
    });
    assert_ne!(id, opentelemetry::trace::TraceId::INVALID);
    t.shutdown().await.unwrap();
}

/// `Pulse::shutdown_timeout` is what `Pulse::shutdown` may really take: with a webhook and a
/// collector that both hang, the notification drain (3 s) and the telemetry flush (here 4 s)
/// run one after the other, and the reported bound covers both (it used to say 5 s whatever
/// the configuration).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pulse_shutdown_timeout_is_the_notification_drain_plus_the_flush() {
    use pulsecheck::alert::notify::{Dispatcher, RetryPolicy, WebhookNotifier};
    use pulsecheck::alert::{Alert, AlertEvent, EventState, Severity};

    let (collector, _collector) = hanging_server().await;
    let (webhook, _webhook) = hanging_server().await;
    let flush_bound = Duration::from_secs(4);
    let dispatcher = Dispatcher::builder()
        .notifier(WebhookNotifier::new(&format!("http://{webhook}/")).unwrap())
        .retry_policy(RetryPolicy::default().attempt_timeout(Duration::from_secs(30)))
        .build()
        .unwrap();
    let pulse = pulsecheck::Pulse::builder()
        .telemetry(builder(
            &format!("http://{collector}"),
            OtlpProtocol::HttpBinary,
            flush_bound,
        ))
        .notifications(dispatcher.clone())
        .config(pulsecheck::config::PulseConfig::default())
        .build()
        .unwrap();
    let bound = pulse.shutdown_timeout();
    assert_eq!(
        bound,
        Duration::from_secs(3) + flush_bound + Duration::from_millis(250),
        "3 s notification drain + 4 s flush + the flush thread's 250 ms margin"
    );

    // Something queued in each: spans for the collector, an alert for the webhook.
    let tracer = opentelemetry::global::tracer("test");
    for i in 0..20 {
        tracer.in_span(format!("work-{i}"), |_| {});
    }
    let alert = Alert {
        name: "Queued".into(),
        severity: Severity::Critical,
        labels: Default::default(),
        value: None,
        threshold: None,
        summary: "queued at shutdown".into(),
        trace_ids: vec![],
    };
    dispatcher.submit(AlertEvent {
        state: EventState::Firing,
        fingerprint: alert.fingerprint(),
        alert,
        starts_at: std::time::SystemTime::now(),
        pending_since: std::time::SystemTime::now(),
        ends_at: None,
        service: "shutdown-test".into(),
    });
    tokio::time::sleep(Duration::from_millis(200)).await;

    let start = Instant::now();
    let _ = pulse.shutdown().await;
    let took = start.elapsed();
    assert!(
        took >= Duration::from_secs(6),
        "shutdown took {took:?}: a step did not wait for its hanging peer, the test shows nothing"
    );
    assert!(
        took <= bound + Duration::from_millis(500),
        "shutdown took {took:?}, more than the reported {bound:?}"
    );
}
