//! grpc.health.v1 over real TCP loopback: a tonic client (and Python's grpcio-health-checking
//! as an independent peer) against `pulsecheck::grpc::serve`, driven by synthetic checks whose
//! results the tests flip.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use pulsecheck::grpc::proto::health_check_response::ServingStatus;
use pulsecheck::grpc::proto::health_client::HealthClient;
use pulsecheck::grpc::proto::{HealthCheckRequest, HealthCheckResponse, HealthListRequest};
use pulsecheck::grpc::{HealthService, ServeError};
use pulsecheck::health::{
    Check, CheckError, CheckExt, Health, HealthConfig, Observation, Refresh, Registration,
};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::Channel;
use tonic::{Code, Streaming};

/// How long a test waits for a message that must come.
const DUE: Duration = Duration::from_secs(5);
/// How long a test waits to be sure a message does not come.
const QUIET: Duration = Duration::from_millis(400);

/// A check that passes or fails as the test says.
#[derive(Clone)]
struct Flip {
    name: &'static str,
    failing: Arc<AtomicBool>,
}

impl Flip {
    fn new(name: &'static str, failing: bool) -> Self {
        Self {
            name,
            failing: Arc::new(AtomicBool::new(failing)),
        }
    }

    fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    /// Probed on every `report()`, no damping, no breaker.
    fn registration(&self, critical: bool) -> Registration {
        let reg = self
            .clone()
            .ttl(Duration::ZERO)
            .failure_ttl(Duration::ZERO)
            .failure_threshold(1)
            .success_threshold(1)
            .without_breaker();
        if critical {
            reg.critical()
        } else {
            reg.non_critical()
        }
    }
}

impl Check for Flip {
    fn name(&self) -> Cow<'static, str> {
        self.name.into()
    }
    async fn check(&self) -> Result<Observation, CheckError> {
        if self.failing.load(Ordering::SeqCst) {
            Err(CheckError::new("flipped to failing"))
        } else {
            Ok(Observation::pass())
        }
    }
}

fn on_demand() -> HealthConfig {
    HealthConfig {
        refresh: Refresh::OnDemand,
        ..HealthConfig::default()
    }
}

/// A critical `db` and a non-critical `cache`, both passing until flipped.
fn health(db: &Flip, cache: &Flip) -> Health {
    Health::builder()
        .config(on_demand())
        .check(db.registration(true))
        .check(cache.registration(false))
        .build()
}

struct Server {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), ServeError>>,
}

impl Server {
    async fn start(service: HealthService) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(service.serve_with_listener(listener, async {
            let _ = stopped.await;
        }));
        Self {
            addr,
            stop: Some(stop),
            task,
        }
    }

    async fn client(&self) -> HealthClient<Channel> {
        HealthClient::connect(format!("http://{}", self.addr))
            .await
            .expect("connect to the health server")
    }

    /// Triggers the shutdown future and waits for the server to stop.
    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(DUE, self.task)
            .await
            .expect("server stops in time")
            .expect("server task")
            .expect("server ends cleanly");
    }
}

async fn check(client: &mut HealthClient<Channel>, service: &str) -> Result<ServingStatus, Code> {
    client
        .check(HealthCheckRequest {
            service: service.into(),
        })
        .await
        .map(|r| status(r.get_ref()))
        .map_err(|s| s.code())
}

fn status(r: &HealthCheckResponse) -> ServingStatus {
    ServingStatus::try_from(r.status).expect("a known ServingStatus")
}

async fn watch(
    client: &mut HealthClient<Channel>,
    service: &str,
) -> Streaming<HealthCheckResponse> {
    client
        .watch(HealthCheckRequest {
            service: service.into(),
        })
        .await
        .expect("watch call accepted")
        .into_inner()
}

/// The next status on a watch; fails the test if none comes in time or the call ends.
async fn next(stream: &mut Streaming<HealthCheckResponse>) -> ServingStatus {
    let msg = tokio::time::timeout(DUE, stream.message())
        .await
        .expect("a watch message in time")
        .expect("the watch call is still open")
        .expect("a message, not the end of the call");
    status(&msg)
}

/// Asserts that nothing arrives for a while: no message and the call still open.
async fn quiet(stream: &mut Streaming<HealthCheckResponse>) {
    if let Ok(got) = tokio::time::timeout(QUIET, stream.message()).await {
        panic!("expected no message and an open call, got {got:?}");
    }
}

async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + DUE;
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting: {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

use ServingStatus::{NotServing, ServiceUnknown, Serving, Unknown};

#[tokio::test]
async fn check_maps_server_liveness_readiness_and_each_check() {
    let (db, cache) = (Flip::new("db", false), Flip::new("cache", true));
    let health = health(&db, &cache);
    let server = Server::start(HealthService::new(health.clone())).await;
    let mut c = server.client().await;

    // Before any result: the critical check is unknown, so the server is UNKNOWN and not ready.
    assert_eq!(check(&mut c, "").await, Ok(Unknown));
    assert_eq!(check(&mut c, "liveness").await, Ok(Serving));
    assert_eq!(check(&mut c, "readiness").await, Ok(NotServing));
    assert_eq!(check(&mut c, "db").await, Ok(Unknown));

    // db up, cache (non-critical) down: degraded still serves.
    health.report().await;
    assert_eq!(check(&mut c, "").await, Ok(Serving));
    assert_eq!(check(&mut c, "readiness").await, Ok(Serving));
    assert_eq!(check(&mut c, "liveness").await, Ok(Serving));
    assert_eq!(check(&mut c, "db").await, Ok(Serving));
    assert_eq!(check(&mut c, "cache").await, Ok(NotServing));

    // The critical check fails: not serving, not ready, still live.
    db.set_failing(true);
    health.report().await;
    assert_eq!(check(&mut c, "").await, Ok(NotServing));
    assert_eq!(check(&mut c, "readiness").await, Ok(NotServing));
    assert_eq!(check(&mut c, "liveness").await, Ok(Serving));
    assert_eq!(check(&mut c, "db").await, Ok(NotServing));

    // Unknown names, including near misses, fail with NOT_FOUND.
    for name in ["nope", "Liveness", "db ", "grpc.health.v1.Health"] {
        assert_eq!(check(&mut c, name).await, Err(Code::NotFound), "{name:?}");
    }
    server.stop().await;
}

#[tokio::test]
async fn out_of_service_and_broken_flags_reach_the_server_and_liveness() {
    let (db, cache) = (Flip::new("db", false), Flip::new("cache", false));
    let health = health(&db, &cache);
    health.report().await;
    let server = Server::start(HealthService::new(health.clone())).await;
    let mut c = server.client().await;
    assert_eq!(check(&mut c, "").await, Ok(Serving));

    health.set_out_of_service(true);
    assert_eq!(check(&mut c, "").await, Ok(NotServing));
    assert_eq!(check(&mut c, "readiness").await, Ok(NotServing));
    health.set_out_of_service(false);
    assert_eq!(check(&mut c, "").await, Ok(Serving));

    health.set_broken(true);
    assert_eq!(check(&mut c, "liveness").await, Ok(NotServing));
    server.stop().await;
}

#[tokio::test]
async fn checks_can_be_left_out_of_the_services() {
    let (db, cache) = (Flip::new("db", false), Flip::new("cache", false));
    let health = health(&db, &cache);
    let server = Server::start(HealthService::new(health).with_checks(false)).await;
    let mut c = server.client().await;
    assert_eq!(check(&mut c, "db").await, Err(Code::NotFound));
    assert_eq!(check(&mut c, "liveness").await, Ok(Serving));
    server.stop().await;
}

#[tokio::test]
async fn watch_sends_the_current_status_then_only_changes() {
    let (db, cache) = (Flip::new("db", false), Flip::new("cache", false));
    let health = health(&db, &cache);
    health.report().await;
    let server = Server::start(HealthService::new(health.clone())).await;
    let mut c = server.client().await;

    let mut all = watch(&mut c, "").await;
    let mut ready = watch(&mut c, "readiness").await;
    assert_eq!(next(&mut all).await, Serving);
    assert_eq!(next(&mut ready).await, Serving);

    // Probes that change nothing send nothing.
    for _ in 0..3 {
        health.report().await;
    }
    quiet(&mut all).await;

    // A non-critical failure: degraded, which still serves: nothing to send.
    cache.set_failing(true);
    health.report().await;
    quiet(&mut all).await;

    // The critical check fails, then recovers: one message each way.
    db.set_failing(true);
    health.report().await;
    assert_eq!(next(&mut all).await, NotServing);
    assert_eq!(next(&mut ready).await, NotServing);
    health.report().await;
    quiet(&mut all).await;

    db.set_failing(false);
    health.report().await;
    assert_eq!(next(&mut all).await, Serving);
    assert_eq!(next(&mut ready).await, Serving);
    quiet(&mut all).await;
    quiet(&mut ready).await;
    server.stop().await;
}

#[tokio::test]
async fn watch_on_a_check_sees_changes_that_leave_the_aggregate_alone() {
    // Two non-critical checks: once one is down the service stays degraded whatever the other
    // does, so only the per-check revision in `Serving` wakes the second one's watcher.
    let (a, b) = (Flip::new("a", true), Flip::new("b", false));
    let health = Health::builder()
        .config(on_demand())
        .check(a.registration(false))
        .check(b.registration(false))
        .build();
    health.report().await;
    let service = HealthService::new(health.clone());
    let server = Server::start(service).await;
    let mut c = server.client().await;

    let mut all = watch(&mut c, "").await;
    let mut wb = watch(&mut c, "b").await;
    assert_eq!(next(&mut all).await, Serving);
    assert_eq!(next(&mut wb).await, Serving);

    b.set_failing(true);
    health.report().await;
    assert_eq!(health.serving().status.as_str(), "degraded");
    assert_eq!(next(&mut wb).await, NotServing);
    quiet(&mut wb).await;
    quiet(&mut all).await;

    b.set_failing(false);
    health.report().await;
    assert_eq!(next(&mut wb).await, Serving);
    quiet(&mut wb).await;
    server.stop().await;
}

#[tokio::test]
async fn watch_on_an_unknown_service_sends_service_unknown_and_stays_open() {
    let (db, cache) = (Flip::new("db", false), Flip::new("cache", false));
    let health = health(&db, &cache);
    let server = Server::start(HealthService::new(health.clone())).await;
    let mut c = server.client().await;

    let mut w = watch(&mut c, "no.such.Service").await;
    assert_eq!(next(&mut w).await, ServiceUnknown);
    quiet(&mut w).await;
    // State changes elsewhere do not concern it.
    health.report().await;
    db.set_failing(true);
    health.report().await;
    quiet(&mut w).await;

    // Still open: the server's shutdown ends it, with UNAVAILABLE (clients retry).
    let stopping = tokio::spawn(server.stop());
    let end = tokio::time::timeout(DUE, w.message())
        .await
        .expect("the watch ends in time");
    assert_eq!(end.map_err(|s| s.code()).err(), Some(Code::Unavailable));
    stopping.await.expect("server stopped");
}

#[tokio::test]
async fn shutdown_sets_not_serving_except_liveness_and_ignores_later_results() {
    let (db, cache) = (Flip::new("db", false), Flip::new("cache", false));
    let health = health(&db, &cache);
    health.report().await;
    let server = Server::start(HealthService::new(health.clone())).await;
    let mut c = server.client().await;

    let mut all = watch(&mut c, "").await;
    let mut ready = watch(&mut c, "readiness").await;
    let mut live = watch(&mut c, "liveness").await;
    let mut db_watch = watch(&mut c, "db").await;
    for w in [&mut all, &mut ready, &mut live, &mut db_watch] {
        assert_eq!(next(w).await, Serving);
    }

    health.begin_shutdown();
    assert_eq!(next(&mut all).await, NotServing);
    assert_eq!(next(&mut ready).await, NotServing);
    assert_eq!(next(&mut db_watch).await, NotServing);
    quiet(&mut live).await;
    for service in ["", "readiness", "db", "cache"] {
        assert_eq!(check(&mut c, service).await, Ok(NotServing), "{service:?}");
    }
    assert_eq!(check(&mut c, "liveness").await, Ok(Serving));

    // Later results, good or bad, change nothing.
    cache.set_failing(true);
    health.report().await;
    cache.set_failing(false);
    health.report().await;
    quiet(&mut all).await;
    quiet(&mut db_watch).await;
    assert_eq!(check(&mut c, "").await, Ok(NotServing));
    server.stop().await;
}

#[tokio::test]
async fn list_answers_every_service() {
    let (db, cache) = (Flip::new("db", false), Flip::new("cache", true));
    let health = health(&db, &cache);
    health.report().await;
    let server = Server::start(HealthService::new(health)).await;
    let mut c = server.client().await;

    let list = c
        .list(HealthListRequest {})
        .await
        .expect("list")
        .into_inner()
        .statuses;
    let mut got: Vec<(String, ServingStatus)> =
        list.iter().map(|(k, v)| (k.clone(), status(v))).collect();
    got.sort_by(|x, y| x.0.cmp(&y.0));
    let want = [
        ("", Serving),
        ("cache", NotServing),
        ("db", Serving),
        ("liveness", Serving),
        ("readiness", Serving),
    ];
    assert_eq!(
        got,
        want.map(|(k, s)| (k.to_owned(), s)).to_vec(),
        "every service with its status"
    );
    server.stop().await;
}

#[tokio::test]
async fn list_past_100_services_is_resource_exhausted() {
    // "", liveness and readiness plus 97 checks is exactly 100; one more is too many.
    let names: Vec<&'static str> = (0..98)
        .map(|i| &*Box::leak(format!("check-{i}").into_boxed_str()))
        .collect();
    let build = |n: usize| {
        names[..n]
            .iter()
            .fold(Health::builder().config(on_demand()), |b, name| {
                b.check(Flip::new(name, false).registration(false))
            })
            .build()
    };

    let server = Server::start(HealthService::new(build(97))).await;
    let mut c = server.client().await;
    let list = c
        .list(HealthListRequest {})
        .await
        .expect("100 services list");
    assert_eq!(list.get_ref().statuses.len(), 100);
    server.stop().await;

    let health = build(98);
    let server = Server::start(HealthService::new(health.clone())).await;
    let mut c = server.client().await;
    let err = c
        .list(HealthListRequest {})
        .await
        .expect_err("101 services");
    assert_eq!(err.code(), Code::ResourceExhausted);
    // Check still answers for each of them.
    assert_eq!(check(&mut c, "check-97").await, Ok(Unknown));
    server.stop().await;

    // Without per-check services the three built-in ones remain.
    let server = Server::start(HealthService::new(health).with_checks(false)).await;
    let mut c = server.client().await;
    let list = c.list(HealthListRequest {}).await.expect("3 services list");
    assert_eq!(list.get_ref().statuses.len(), 3);
    server.stop().await;
}

#[tokio::test]
async fn a_client_going_away_drops_its_watch() {
    let (db, cache) = (Flip::new("db", false), Flip::new("cache", false));
    let health = health(&db, &cache);
    let service = HealthService::new(health.clone());
    let server = Server::start(service.clone()).await;

    let mut c = server.client().await;
    let mut watches = Vec::new();
    for name in ["", "readiness", "db", "unknown"] {
        let mut w = watch(&mut c, name).await;
        next(&mut w).await;
        watches.push(w);
    }
    assert_eq!(service.active_watches(), 4);

    // Dropping one stream resets that HTTP/2 stream only.
    watches.pop();
    until("one watch dropped", || service.active_watches() == 3).await;
    // Dropping the client closes the connection: every stream goes.
    drop(watches);
    drop(c);
    until("all watches dropped", || service.active_watches() == 0).await;
    server.stop().await;
}

#[tokio::test]
async fn server_shutdown_ends_open_watches_and_returns() {
    let (db, cache) = (Flip::new("db", false), Flip::new("cache", false));
    let health = health(&db, &cache);
    health.report().await;
    let service = HealthService::new(health.clone());
    let server = Server::start(service.clone()).await;
    let mut c = server.client().await;
    let mut w = watch(&mut c, "").await;
    assert_eq!(next(&mut w).await, Serving);

    // Would hang for ever (graceful shutdown waits for open calls) if watches did not end.
    server.stop().await;
    let end = tokio::time::timeout(DUE, w.message())
        .await
        .expect("the watch ends");
    assert_eq!(end.map_err(|s| s.code()).err(), Some(Code::Unavailable));
    assert_eq!(service.active_watches(), 0);
}

#[tokio::test]
async fn serve_reports_an_address_in_use() {
    let taken = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = taken.local_addr().expect("addr");
    let health = Health::builder().build();
    let err = pulsecheck::grpc::serve(&health, addr, std::future::pending())
        .await
        .expect_err("the address is taken");
    assert!(matches!(err, ServeError::Bind { .. }), "{err:?}");
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
}

/// The peer's side: Check, List and a Watch that prints each message as it comes.
const PYTHON_PEER: &str = r#"
import sys, json, grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
ch = grpc.insecure_channel(sys.argv[1])
stub = health_pb2_grpc.HealthStub(ch)
name = health_pb2.HealthCheckResponse.ServingStatus.Name
out = {}
for svc in ["", "liveness", "readiness", "db"]:
    out[svc] = name(stub.Check(health_pb2.HealthCheckRequest(service=svc), timeout=5).status)
try:
    stub.Check(health_pb2.HealthCheckRequest(service="nope"), timeout=5)
    out["nope"] = "answered"
except grpc.RpcError as e:
    out["nope"] = e.code().name
lst = stub.List(health_pb2.HealthListRequest(), timeout=5)
out["list"] = sorted(lst.statuses.keys())
print(json.dumps(out), flush=True)
for i, msg in enumerate(stub.Watch(health_pb2.HealthCheckRequest(service=""), timeout=30)):
    print(name(msg.status), flush=True)
    if i == 1:
        break
"#;

#[tokio::test]
async fn python_grpcio_health_checking_client_agrees() {
    let probe = std::process::Command::new("python3")
        .args(["-c", "import grpc, grpc_health.v1.health_pb2_grpc"])
        .output();
    match probe {
        Ok(out) if out.status.success() => {}
        other => panic!(
            "python3 with grpcio and grpcio-health-checking is required for this test \
             (pip install grpcio grpcio-health-checking; scripts/test.sh installs them): {other:?}"
        ),
    }

    let (db, cache) = (Flip::new("db", false), Flip::new("cache", false));
    let health = health(&db, &cache);
    health.report().await;
    let server = Server::start(HealthService::new(health.clone())).await;

    let mut child = tokio::process::Command::new("python3")
        .args(["-c", PYTHON_PEER, &server.addr.to_string()])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start python3");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut line = async || {
        tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .expect("the peer answers in time")
            .expect("read the peer's output")
            .expect("a line from the peer")
    };

    let unary: serde_json::Value = serde_json::from_str(&line().await).expect("JSON from the peer");
    assert_eq!(
        unary,
        serde_json::json!({
            "": "SERVING", "liveness": "SERVING", "readiness": "SERVING", "db": "SERVING",
            "nope": "NOT_FOUND",
            "list": ["", "cache", "db", "liveness", "readiness"],
        })
    );
    assert_eq!(line().await, "SERVING");
    db.set_failing(true);
    health.report().await;
    assert_eq!(line().await, "NOT_SERVING");

    let status = tokio::time::timeout(DUE, child.wait())
        .await
        .expect("the peer exits")
        .expect("wait for the peer");
    assert!(status.success(), "peer exit: {status}");
    server.stop().await;
}
