//! An OTLP receiver speaking both gRPC (the collector's Trace/Metrics/Logs services, through
//! tonic and the `opentelemetry-proto` service definitions) and HTTP/protobuf (`/v1/*`).
//! It stores everything it receives for the tests to inspect.

use std::io::Read;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::metrics::v1::Metric;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use tonic::codec::CompressionEncoding;

#[derive(Default)]
pub struct Store {
    traces: Mutex<Vec<ExportTraceServiceRequest>>,
    metrics: Mutex<Vec<ExportMetricsServiceRequest>>,
    logs: Mutex<Vec<ExportLogsServiceRequest>>,
    /// (signal, transport, content encoding) of every request received.
    requests: Mutex<Vec<(&'static str, &'static str, String)>>,
}

impl Store {
    pub fn spans(&self) -> Vec<Span> {
        let t = self.traces.lock().unwrap();
        t.iter()
            .flat_map(|r| r.resource_spans.iter())
            .flat_map(|rs| rs.scope_spans.iter())
            .flat_map(|ss| ss.spans.iter().cloned())
            .collect()
    }

    /// Resource attributes of the first batch of spans.
    pub fn span_resource(&self) -> Vec<KeyValue> {
        let t = self.traces.lock().unwrap();
        t.iter()
            .flat_map(|r| r.resource_spans.iter())
            .find_map(|rs| rs.resource.as_ref().map(|r| r.attributes.clone()))
            .unwrap_or_default()
    }

    pub fn log_records(&self) -> Vec<LogRecord> {
        let l = self.logs.lock().unwrap();
        l.iter()
            .flat_map(|r| r.resource_logs.iter())
            .flat_map(|rl| rl.scope_logs.iter())
            .flat_map(|sl| sl.log_records.iter().cloned())
            .collect()
    }

    pub fn metrics(&self) -> Vec<Metric> {
        let m = self.metrics.lock().unwrap();
        m.iter()
            .flat_map(|r| r.resource_metrics.iter())
            .flat_map(|rm| rm.scope_metrics.iter())
            .flat_map(|sm| sm.metrics.iter().cloned())
            .collect()
    }

    pub fn requests(&self) -> Vec<(&'static str, &'static str, String)> {
        self.requests.lock().unwrap().clone()
    }
}

/// Polls `f` until it returns `Some`, or panics naming `what` after `timeout`.
pub async fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn encoding(v: Option<&[u8]>) -> String {
    v.map_or_else(
        || "identity".into(),
        |b| String::from_utf8_lossy(b).into_owned(),
    )
}

struct Grpc(Arc<Store>);

#[tonic::async_trait]
impl TraceService for Grpc {
    async fn export(
        &self,
        req: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let enc = encoding(req.metadata().get("grpc-encoding").map(|v| v.as_bytes()));
        self.0.traces.lock().unwrap().push(req.into_inner());
        self.0
            .requests
            .lock()
            .unwrap()
            .push(("traces", "grpc", enc));
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl MetricsService for Grpc {
    async fn export(
        &self,
        req: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        let enc = encoding(req.metadata().get("grpc-encoding").map(|v| v.as_bytes()));
        self.0.metrics.lock().unwrap().push(req.into_inner());
        self.0
            .requests
            .lock()
            .unwrap()
            .push(("metrics", "grpc", enc));
        Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl LogsService for Grpc {
    async fn export(
        &self,
        req: tonic::Request<ExportLogsServiceRequest>,
    ) -> Result<tonic::Response<ExportLogsServiceResponse>, tonic::Status> {
        let enc = encoding(req.metadata().get("grpc-encoding").map(|v| v.as_bytes()));
        self.0.logs.lock().unwrap().push(req.into_inner());
        self.0.requests.lock().unwrap().push(("logs", "grpc", enc));
        Ok(tonic::Response::new(ExportLogsServiceResponse::default()))
    }
}

pub struct Receiver {
    pub grpc: SocketAddr,
    pub http: SocketAddr,
    pub store: Arc<Store>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn decode_body(headers: &HeaderMap, body: &Bytes) -> Result<Vec<u8>, StatusCode> {
    match headers.get("content-encoding").map(|v| v.as_bytes()) {
        Some(b"gzip") => {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&body[..])
                .read_to_end(&mut out)
                .map_err(|_| StatusCode::BAD_REQUEST)?;
            Ok(out)
        }
        None => Ok(body.to_vec()),
        Some(_) => Err(StatusCode::UNSUPPORTED_MEDIA_TYPE),
    }
}

fn protobuf(
    status: StatusCode,
    body: Vec<u8>,
) -> (StatusCode, [(&'static str, &'static str); 1], Vec<u8>) {
    (status, [("content-type", "application/x-protobuf")], body)
}

/// One `/v1/<signal>` endpoint: decodes the (possibly gzipped) protobuf request, stores it
/// with `keep`, and answers the signal's empty response.
fn http_export<Req, Resp>(
    s: &Store,
    h: &HeaderMap,
    body: &Bytes,
    signal: &'static str,
    keep: impl FnOnce(&Store, Req),
) -> (StatusCode, [(&'static str, &'static str); 1], Vec<u8>)
where
    Req: Message + Default,
    Resp: Message + Default,
{
    let Ok(raw) = decode_body(h, body) else {
        return protobuf(StatusCode::BAD_REQUEST, vec![]);
    };
    match Req::decode(&raw[..]) {
        Ok(r) => {
            keep(s, r);
            let enc = encoding(h.get("content-encoding").map(|v| v.as_bytes()));
            s.requests.lock().unwrap().push((signal, "http", enc));
            protobuf(StatusCode::OK, Resp::default().encode_to_vec())
        }
        Err(_) => protobuf(StatusCode::BAD_REQUEST, vec![]),
    }
}

async fn http_traces(
    State(s): State<Arc<Store>>,
    h: HeaderMap,
    body: Bytes,
) -> impl axum::response::IntoResponse {
    http_export::<ExportTraceServiceRequest, ExportTraceServiceResponse>(
        &s,
        &h,
        &body,
        "traces",
        |s, r| s.traces.lock().unwrap().push(r),
    )
}

async fn http_metrics(
    State(s): State<Arc<Store>>,
    h: HeaderMap,
    body: Bytes,
) -> impl axum::response::IntoResponse {
    http_export::<ExportMetricsServiceRequest, ExportMetricsServiceResponse>(
        &s,
        &h,
        &body,
        "metrics",
        |s, r| s.metrics.lock().unwrap().push(r),
    )
}

async fn http_logs(
    State(s): State<Arc<Store>>,
    h: HeaderMap,
    body: Bytes,
) -> impl axum::response::IntoResponse {
    http_export::<ExportLogsServiceRequest, ExportLogsServiceResponse>(
        &s,
        &h,
        &body,
        "logs",
        |s, r| s.logs.lock().unwrap().push(r),
    )
}

impl Receiver {
    /// Starts both transports on loopback ports chosen by the OS.
    pub async fn start() -> Self {
        let store = Arc::new(Store::default());

        let grpc_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let grpc = grpc_listener.local_addr().unwrap();
        let svc = || Grpc(Arc::clone(&store));
        let router = tonic::transport::Server::builder()
            .add_service(
                TraceServiceServer::new(svc()).accept_compressed(CompressionEncoding::Gzip),
            )
            .add_service(
                MetricsServiceServer::new(svc()).accept_compressed(CompressionEncoding::Gzip),
            )
            .add_service(
                LogsServiceServer::new(svc()).accept_compressed(CompressionEncoding::Gzip),
            );
        let incoming = tonic::transport::server::TcpIncoming::from(grpc_listener);
        let grpc_task = tokio::spawn(async move {
            let _ = router.serve_with_incoming(incoming).await;
        });

        let http_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let http = http_listener.local_addr().unwrap();
        let app = axum::Router::new()
            .route("/v1/traces", post(http_traces))
            .route("/v1/metrics", post(http_metrics))
            .route("/v1/logs", post(http_logs))
            .with_state(Arc::clone(&store));
        let http_task = tokio::spawn(async move {
            let _ = axum::serve(http_listener, app).await;
        });

        Self {
            grpc,
            http,
            store,
            tasks: vec![grpc_task, http_task],
        }
    }

    pub fn endpoint(&self, protocol: &str) -> String {
        match protocol {
            "grpc" => format!("http://{}", self.grpc),
            _ => format!("http://{}", self.http),
        }
    }
}

/// A TCP server that accepts connections and never answers: a hanging collector.
pub async fn hanging_server() -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            held.push(sock);
        }
    });
    (addr, task)
}

/// A loopback port with nothing listening: a dead collector.
pub fn dead_port() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

pub fn attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a any_value::Value> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v: &AnyValue| v.value.as_ref())
}

pub fn attr_str<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a str> {
    match attr(attrs, key) {
        Some(any_value::Value::StringValue(s)) => Some(s),
        _ => None,
    }
}

pub fn attr_int(attrs: &[KeyValue], key: &str) -> Option<i64> {
    match attr(attrs, key) {
        Some(any_value::Value::IntValue(i)) => Some(*i),
        _ => None,
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
