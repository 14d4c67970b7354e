//! The standard gRPC health service, `grpc.health.v1.Health` (Check, Watch, List), fed from
//! the same [`Health`] state as the HTTP endpoints. Needs the `grpc` cargo feature.
//!
//! Services:
//!
//! | service | SERVING when | otherwise |
//! |---|---|---|
//! | `""` (the whole server) | status healthy or degraded, not shutting down, not out of service | `UNKNOWN` before the first result of a critical check, else `NOT_SERVING` |
//! | `liveness` | the process can serve ([`Serving::live`]); **stays SERVING during shutdown** | `NOT_SERVING` |
//! | `readiness` | [`Serving::ready`] | `NOT_SERVING` |
//! | each check's name (see [`HealthService::with_checks`]) | the check is up or warns, its breaker (if any) is not open, not shutting down | `UNKNOWN` before its first result, else `NOT_SERVING` |
//! | `group/NAME` for each health group (`[health.groups.NAME]`, [`PulseBuilder::health_group`](crate::PulseBuilder::health_group)) | every member is up or warns (members count as critical, as for `GET /health/group/NAME`), not shutting down | `UNKNOWN` while a member has no result yet, else `NOT_SERVING` |
//!
//! Group services carry the `group/` prefix so that a group never shadows a check of the same
//! name (a group `redis` holding the checks `redis` and `redis-replica` stays distinct from
//! the check `redis`); `grpc.health.v1` leaves service names free-form, and `/` cannot occur in
//! a fully-qualified protobuf service name, so the prefix cannot clash with one either.
//!
//! Any other name fails `Check` with `NOT_FOUND`, and gets `SERVICE_UNKNOWN` from `Watch`,
//! whose call then stays open. `Watch` sends the current status at once and then each change,
//! never the same status twice in a row. `List` answers every service, or
//! `RESOURCE_EXHAUSTED` past [`MAX_LIST`].
//!
//! Once [`Health::begin_shutdown`] is called everything but `liveness` is `NOT_SERVING`, and
//! stays so whatever later probes find. `liveness` keeps following [`Serving::live`]: while
//! the server drains, the kubelet must not restart it (the HTTP `/health/live` stays 200 for
//! the same reason), unlike grpc-go's `Shutdown()`, which sets every service `NOT_SERVING`.
//!
//! # Example
//!
//! ```no_run
//! use pulsecheck::Pulse;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let pulse = Pulse::builder().service_name("hello").build()?;
//! let addr = "127.0.0.1:50051".parse()?;
//! // Serves grpc.health.v1 until the shutdown signal (SIGTERM, Ctrl-C) plus the drain delay.
//! pulsecheck::grpc::serve(&pulse, addr, pulse.shutdown_signal()).await?;
//! # Ok(()) }
//! ```
//!
//! To add it to a tonic server of your own, use [`HealthService::into_server`], and call
//! [`HealthService::close_watches`] when that server shuts down (open `Watch` calls would
//! otherwise hold its graceful shutdown forever):
//!
//! ```
//! use pulsecheck::grpc::{HealthService, proto::HealthCheckRequest};
//! use pulsecheck::grpc::proto::health_server::Health as _;
//! use pulsecheck::grpc::proto::health_check_response::ServingStatus;
//! use pulsecheck::health::Health;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let service = HealthService::new(Health::builder().build());
//! let request = tonic::Request::new(HealthCheckRequest { service: "liveness".into() });
//! let answer = service.check(request).await.map(|r| r.into_inner().status);
//! assert_eq!(answer.ok(), Some(ServingStatus::Serving as i32));
//! // Server::builder().add_service(service.clone().into_server()) ...
//! # }
//! ```

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures_util::StreamExt as _;
use futures_util::stream::BoxStream;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tonic::{Request, Response, Status};

use crate::Pulse;
use crate::health::{BreakerState, CheckStatus, Health, HealthReport, HealthStatus, Serving};

use self::proto::health_check_response::ServingStatus;
use self::proto::health_server::HealthServer;
use self::proto::{HealthCheckRequest, HealthCheckResponse, HealthListRequest, HealthListResponse};

/// The `grpc.health.v1` messages, client and server, generated from
/// `proto/grpc/health/v1/health.proto` at build time.
#[allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]
pub mod proto {
    tonic::include_proto!("grpc.health.v1");
}

/// The service name of the whole server.
pub const SERVER: &str = "";
/// The service name that follows liveness ([`Serving::live`]).
pub const LIVENESS: &str = "liveness";
/// The service name that follows readiness ([`Serving::ready`]).
pub const READINESS: &str = "readiness";
/// The prefix of a health group's service name: `group/cache` for the group `cache`.
pub const GROUP_PREFIX: &str = "group/";
/// `List` answers at most this many services, else fails with `RESOURCE_EXHAUSTED`.
pub const MAX_LIST: usize = 100;

/// Why [`serve`] stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// The server failed.
    #[error("gRPC health server failed: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// The `grpc.health.v1.Health` service over a [`Health`]. Cheap to clone; clones share their
/// open `Watch` calls. See the [module docs](self) for the services and an example.
#[derive(Clone)]
pub struct HealthService {
    health: Health,
    checks: bool,
    shared: Arc<Shared>,
}

struct Shared {
    /// Open `Watch` streams.
    watches: AtomicUsize,
    /// Set once by [`HealthService::close_watches`].
    closed: watch::Sender<bool>,
}

impl fmt::Debug for HealthService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HealthService")
            .field("checks", &self.checks)
            .field("watches", &self.active_watches())
            .field("closed", &*self.shared.closed.borrow())
            .finish_non_exhaustive()
    }
}

/// What a service name designates.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Target {
    Server,
    Liveness,
    Readiness,
    Check(String),
    Group(String),
    Unknown,
}

impl HealthService {
    /// The service over `health`, with each check served under its name.
    pub fn new(health: Health) -> Self {
        let names = check_names(&health.cached_report());
        for reserved in [SERVER, LIVENESS, READINESS] {
            if names.iter().any(|n| n == reserved) {
                tracing::warn!(target: "pulsecheck::grpc", check = reserved, "a health check has a reserved gRPC service name; the name keeps its built-in meaning");
            }
        }
        for name in names.iter().filter(|n| n.starts_with(GROUP_PREFIX)) {
            if health.groups().contains(&name[GROUP_PREFIX.len()..]) {
                tracing::warn!(target: "pulsecheck::grpc", check = %name, "a health check is named like a health group's gRPC service; the name serves the check");
            }
        }
        Self {
            health,
            checks: true,
            shared: Arc::new(Shared {
                watches: AtomicUsize::new(0),
                closed: watch::Sender::new(false),
            }),
        }
    }

    /// Whether each registered check is also a service, named as the check. Defaults to `true`.
    pub fn with_checks(mut self, enabled: bool) -> Self {
        self.checks = enabled;
        self
    }

    /// The health state served.
    pub fn health(&self) -> &Health {
        &self.health
    }

    /// The tonic service, to add to a server of your own with
    /// `tonic::transport::Server::builder().add_service(..)`.
    pub fn into_server(self) -> HealthServer<HealthService> {
        HealthServer::new(self)
    }

    /// Every service name served: `""`, `liveness`, `readiness`, the checks', then the
    /// groups' (`group/NAME`).
    pub fn services(&self) -> Vec<String> {
        let mut names: Vec<String> = [SERVER, LIVENESS, READINESS]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        if self.checks {
            for name in check_names(&self.health.cached_report()) {
                if !names.contains(&name) {
                    names.push(name);
                }
            }
        }
        names.extend(
            self.health
                .groups()
                .names()
                .map(|g| format!("{GROUP_PREFIX}{g}")),
        );
        names
    }

    /// The status of `service` now, or `None` for an unknown service.
    pub fn status(&self, service: &str) -> Option<ServingStatus> {
        let serving = self.health.serving();
        match self.target(service) {
            Target::Unknown => None,
            Target::Check(name) => {
                Some(check_status(&serving, &self.health.cached_report(), &name))
            }
            Target::Group(name) => Some(group_status(
                &self.health,
                &serving,
                &self.health.cached_report(),
                &name,
            )),
            target => Some(status_of(&target, &serving)),
        }
    }

    /// Ends every open `Watch` call (with `UNAVAILABLE`, which clients retry with backoff),
    /// and makes later ones fail the same way; `Check` and `List` keep answering. Call it when
    /// the server begins its graceful shutdown: it waits for open calls, and a `Watch` never
    /// ends by itself. [`serve`] does this for you.
    pub fn close_watches(&self) {
        self.shared.closed.send_replace(true);
    }

    /// How many `Watch` calls are open. A call whose client went away is dropped (and stops
    /// counting) as soon as the server sees the stream reset: no task is left behind.
    pub fn active_watches(&self) -> usize {
        self.shared.watches.load(Ordering::Acquire)
    }

    /// Serves on `listener` until `shutdown` completes, then closes open `Watch` calls and
    /// lets in-flight calls finish.
    pub async fn serve_with_listener(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), ServeError> {
        let addr = listener.local_addr().ok();
        tracing::info!(target: "pulsecheck::grpc", addr = ?addr, "serving grpc.health.v1");
        let closer = self.clone();
        let signal = async move {
            shutdown.await;
            tracing::info!(target: "pulsecheck::grpc", "gRPC health server shutting down");
            closer.close_watches();
        };
        tonic::transport::Server::builder()
            .add_service(self.into_server())
            .serve_with_incoming_shutdown(
                tonic::transport::server::TcpIncoming::from(listener),
                signal,
            )
            .await?;
        Ok(())
    }

    fn target(&self, service: &str) -> Target {
        match service {
            SERVER => Target::Server,
            LIVENESS => Target::Liveness,
            READINESS => Target::Readiness,
            name if self.checks
                && self
                    .health
                    .cached_report()
                    .checks
                    .iter()
                    .any(|c| c.name == name) =>
            {
                Target::Check(name.to_owned())
            }
            name => match name.strip_prefix(GROUP_PREFIX) {
                Some(group) if self.health.groups().contains(group) => {
                    Target::Group(group.to_owned())
                }
                _ => Target::Unknown,
            },
        }
    }

    fn open_watch(
        &self,
        target: Target,
    ) -> BoxStream<'static, Result<HealthCheckResponse, Status>> {
        self.shared.watches.fetch_add(1, Ordering::AcqRel);
        let state = WatchState {
            health: self.health.clone(),
            serving: self.health.subscribe(),
            closed: self.shared.closed.subscribe(),
            target,
            last: None,
            done: false,
            _guard: WatchGuard(Arc::clone(&self.shared)),
        };
        futures_util::stream::unfold(state, next_update).boxed()
    }
}

impl From<Health> for HealthService {
    fn from(health: Health) -> Self {
        Self::new(health)
    }
}

impl From<&Health> for HealthService {
    fn from(health: &Health) -> Self {
        Self::new(health.clone())
    }
}

impl From<&Pulse> for HealthService {
    fn from(pulse: &Pulse) -> Self {
        Self::new(pulse.health().clone())
    }
}

/// Serves `grpc.health.v1` for `service` (a [`HealthService`], a [`Health`] or a [`&Pulse`](Pulse))
/// on `addr` until `shutdown` completes; then open `Watch` calls end with `UNAVAILABLE` and
/// in-flight calls finish. Pass [`Pulse::shutdown_signal`] so that watchers see `NOT_SERVING`
/// during the drain delay. See the [module docs](self) for an example.
pub async fn serve(
    service: impl Into<HealthService>,
    addr: SocketAddr,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind { addr, source })?;
    service.into().serve_with_listener(listener, shutdown).await
}

#[tonic::async_trait]
impl proto::health_server::Health for HealthService {
    async fn check(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        let service = &request.get_ref().service;
        match self.status(service) {
            Some(status) => Ok(Response::new(response(status))),
            None => {
                tracing::debug!(target: "pulsecheck::grpc", service = %truncate(service), "health check for an unknown service");
                Err(Status::not_found("unknown service"))
            }
        }
    }

    async fn list(
        &self,
        _request: Request<HealthListRequest>,
    ) -> Result<Response<HealthListResponse>, Status> {
        let services = self.services();
        if services.len() > MAX_LIST {
            return Err(Status::resource_exhausted(format!(
                "{} services, more than the {MAX_LIST} List may return",
                services.len()
            )));
        }
        let serving = self.health.serving();
        let report = self.health.cached_report();
        let statuses = services
            .into_iter()
            .map(|name| {
                let status = match self.target(&name) {
                    Target::Check(check) => check_status(&serving, &report, &check),
                    Target::Group(group) => group_status(&self.health, &serving, &report, &group),
                    target => status_of(&target, &serving),
                };
                (name, response(status))
            })
            .collect::<HashMap<_, _>>();
        Ok(Response::new(HealthListResponse { statuses }))
    }

    type WatchStream = BoxStream<'static, Result<HealthCheckResponse, Status>>;

    async fn watch(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        if *self.shared.closed.borrow() {
            return Err(closing());
        }
        let target = self.target(&request.get_ref().service);
        tracing::debug!(target: "pulsecheck::grpc", service = %truncate(&request.get_ref().service), known = target != Target::Unknown, "health watch opened");
        Ok(Response::new(self.open_watch(target)))
    }
}

/// One open `Watch`: polled by the server connection itself (no task), so it is dropped, with
/// its guard, when the client goes away.
struct WatchState {
    health: Health,
    serving: watch::Receiver<Serving>,
    closed: watch::Receiver<bool>,
    target: Target,
    last: Option<ServingStatus>,
    done: bool,
    _guard: WatchGuard,
}

struct WatchGuard(Arc<Shared>);

impl Drop for WatchGuard {
    fn drop(&mut self) {
        self.0.watches.fetch_sub(1, Ordering::AcqRel);
        tracing::debug!(target: "pulsecheck::grpc", "health watch closed");
    }
}

impl WatchState {
    /// The status now; marks the current [`Serving`] as seen.
    fn current(&mut self) -> ServingStatus {
        let serving = *self.serving.borrow_and_update();
        match &self.target {
            Target::Unknown => ServingStatus::ServiceUnknown,
            Target::Check(name) => check_status(&serving, &self.health.cached_report(), name),
            Target::Group(name) => {
                group_status(&self.health, &serving, &self.health.cached_report(), name)
            }
            target => status_of(target, &serving),
        }
    }
}

async fn next_update(
    mut st: WatchState,
) -> Option<(Result<HealthCheckResponse, Status>, WatchState)> {
    if st.done {
        return None;
    }
    loop {
        if *st.closed.borrow_and_update() {
            st.done = true;
            return Some((Err(closing()), st));
        }
        let now = st.current();
        if st.last != Some(now) {
            st.last = Some(now);
            return Some((Ok(response(now)), st));
        }
        // Every check transition bumps `Serving::checks_revision`, so one check's watchers
        // wake on its changes too.
        tokio::select! {
            changed = st.closed.changed() => {
                if changed.is_err() {
                    return None;
                }
            }
            changed = st.serving.changed(), if st.target != Target::Unknown => {
                // The sender lives in the `Health` this state holds: this cannot end, but
                // if it ever does, end the call rather than spin.
                if changed.is_err() {
                    return None;
                }
            }
        }
    }
}

fn closing() -> Status {
    Status::unavailable("the health service is shutting down")
}

fn response(status: ServingStatus) -> HealthCheckResponse {
    HealthCheckResponse {
        status: status as i32,
    }
}

fn serving_if(ok: bool) -> ServingStatus {
    if ok {
        ServingStatus::Serving
    } else {
        ServingStatus::NotServing
    }
}

/// The status of `""`, `liveness` or `readiness`.
fn status_of(target: &Target, serving: &Serving) -> ServingStatus {
    match target {
        Target::Liveness => serving_if(serving.live),
        Target::Readiness => serving_if(serving.ready),
        Target::Server => {
            if serving.shutting_down {
                ServingStatus::NotServing
            } else {
                match serving.status {
                    HealthStatus::Unknown => ServingStatus::Unknown,
                    HealthStatus::Unhealthy => ServingStatus::NotServing,
                    // `ready` is false here only when taken out of service.
                    HealthStatus::Healthy | HealthStatus::Degraded => serving_if(serving.ready),
                }
            }
        }
        Target::Check(_) | Target::Group(_) | Target::Unknown => ServingStatus::ServiceUnknown,
    }
}

fn check_status(serving: &Serving, report: &HealthReport, name: &str) -> ServingStatus {
    if serving.shutting_down || report.shutting_down {
        return ServingStatus::NotServing;
    }
    match report.checks.iter().find(|c| c.name == name) {
        None => ServingStatus::ServiceUnknown,
        // The breaker's live state: calls to the dependency fail fast, whatever the last probe said.
        Some(check) if check.circuit == Some(BreakerState::Open) => ServingStatus::NotServing,
        Some(check) => match check.status() {
            CheckStatus::Unknown => ServingStatus::Unknown,
            status => serving_if(status.is_ok()),
        },
    }
}

/// The status of health group `name`: its members count as critical, as for
/// `GET /health/group/NAME`.
fn group_status(
    health: &Health,
    serving: &Serving,
    report: &HealthReport,
    name: &str,
) -> ServingStatus {
    if serving.shutting_down || report.shutting_down {
        return ServingStatus::NotServing;
    }
    match health.groups().view(name, report).map(|v| v.status) {
        None => ServingStatus::ServiceUnknown,
        Some(HealthStatus::Unknown) => ServingStatus::Unknown,
        Some(HealthStatus::Unhealthy) => ServingStatus::NotServing,
        Some(HealthStatus::Healthy | HealthStatus::Degraded) => ServingStatus::Serving,
    }
}

fn check_names(report: &HealthReport) -> Vec<String> {
    report.checks.iter().map(|c| c.name.clone()).collect()
}

/// A client-chosen name, shortened for a log line.
fn truncate(name: &str) -> &str {
    match name.char_indices().nth(64) {
        Some((i, _)) => &name[..i],
        None => name,
    }
}
