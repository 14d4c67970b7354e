//! The run: workers, each owning one connection, in the closed or the open model.
//!
//! Closed model: each worker sends its next request as soon as the previous answer arrives.
//! Open model (`rate`): request `i` is due at `start + i / rate`; a free worker takes the next
//! due request, waits for its time if early, and its latency is measured **from the intended
//! time**, so a stall that holds every connection shows in the latency of the requests that
//! queued behind it (coordinated omission corrected, as wrk2 does).

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Request, Uri};
use http_body_util::Full;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::client::{Connection, Connector, Target, prepare};
use super::config::{LoadConfig, Stop};
use super::error::{ErrorKind, LoadError, RequestError};
use super::report::{LoadReport, Meta};
use super::stats::{Slow, Stats};

/// A send more than this long after its intended time counts as late.
const LATE: Duration = Duration::from_millis(1);

struct Plan {
    cfg: LoadConfig,
    connector: Connector,
    uri: Uri,
    headers: HeaderMap,
}

struct Shared {
    stats: Vec<Mutex<Stats>>,
    next: AtomicU64,
    in_flight: AtomicU64,
    started: Mutex<Option<Instant>>,
    finished: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A prepared load test. Cheap to clone: clones share the run, so one can show
/// [`progress`](LoadTest::progress) while another [`run`](LoadTest::run)s.
///
/// ```no_run
/// use pulsecheck_cli::load::{LoadConfig, LoadTest, Stop};
/// # async fn demo() -> Result<(), pulsecheck_cli::load::LoadError> {
/// let mut cfg = LoadConfig::new("http://127.0.0.1:8080/api/courses");
/// cfg.stop = Stop::Requests(10_000);
/// let report = LoadTest::new(cfg)?.run(std::future::pending()).await?;
/// println!("{:.0} req/s, p99 {:?} ms", report.rps, report.latency_ms.map(|l| l.p99));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct LoadTest {
    plan: Arc<Plan>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for LoadTest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadTest")
            .field("url", &self.plan.cfg.url)
            .finish_non_exhaustive()
    }
}

/// Figures so far, for a progress line.
#[derive(Clone, Debug, PartialEq)]
pub struct Progress {
    /// Since measurement started (zero during warm-up).
    pub elapsed: Duration,
    /// Still warming up.
    pub warming_up: bool,
    /// Requests completed.
    pub requests: u64,
    /// Failed requests plus 5xx answers.
    pub errors: u64,
    /// 99th percentile latency so far.
    pub p99: Option<Duration>,
    /// Fraction done (0..1) when the run has a known end.
    pub done: f64,
}

impl LoadTest {
    /// Validates the settings and prepares TLS; connects nothing yet.
    pub fn new(cfg: LoadConfig) -> Result<Self, LoadError> {
        cfg.validate()?;
        let target = Target::parse(&cfg.url)?;
        let connector = Connector::new(target.clone(), cfg.http2, cfg.insecure)?;
        let uri = target.request_uri(cfg.http2);
        let mut probe = Request::new(Full::new(Bytes::new()));
        *probe.headers_mut() = cfg.headers.clone();
        prepare(&mut probe, &target, cfg.http2);
        let headers = probe.headers().clone();
        let shared = Shared {
            stats: (0..cfg.connections).map(|_| Mutex::default()).collect(),
            next: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            started: Mutex::new(None),
            finished: AtomicBool::new(false),
        };
        Ok(Self {
            plan: Arc::new(Plan {
                cfg,
                connector,
                uri,
                headers,
            }),
            shared: Arc::new(shared),
        })
    }

    /// The settings.
    pub fn config(&self) -> &LoadConfig {
        &self.plan.cfg
    }

    /// Runs until the configured end or until `interrupt` completes (Ctrl-C), then reports
    /// what ran. Fails only when the first connection cannot be made (nothing was sent).
    pub async fn run(&self, interrupt: impl Future<Output = ()>) -> Result<LoadReport, LoadError> {
        let cfg = &self.plan.cfg;
        // Reachability first: a clear error, nothing sent.
        drop(
            self.plan
                .connector
                .connect(cfg.timeout)
                .await
                .map_err(|e| LoadError::unreachable(&cfg.url, e))?,
        );
        let origin = Instant::now();
        let measure = origin + cfg.warmup;
        *lock(&self.shared.started) = Some(origin);
        let end = match cfg.stop {
            Stop::After(d) => Some(measure + d),
            Stop::Requests(_) => None,
        };
        // Workers run on `threads` single-threaded runtimes, each its share of the connections
        // (as oha does): no work stealing between a connection's tasks, no cross-core wakeups.
        let threads = cfg.threads.clamp(1, cfg.connections);
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
        for t in 0..threads {
            let workers: Vec<Worker> = (t..cfg.connections)
                .step_by(threads)
                .map(|id| Worker {
                    plan: Arc::clone(&self.plan),
                    shared: Arc::clone(&self.shared),
                    id,
                    origin,
                    measure,
                    end,
                })
                .collect();
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| LoadError::Runtime(e.to_string()))?;
            let mut stop = stop_rx.clone();
            let done = done_tx.clone();
            std::thread::Builder::new()
                .name(format!("pulsecheck-load-{t}"))
                .spawn(move || {
                    rt.block_on(async move {
                        let mut set = JoinSet::new();
                        for w in workers {
                            set.spawn(w.run());
                        }
                        tokio::select! {
                            _ = async { while set.join_next().await.is_some() {} } => {}
                            _ = stop.wait_for(|s| *s) => {}
                        }
                        set.abort_all();
                        while set.join_next().await.is_some() {}
                    });
                    // Connection tasks end with the runtime, before the run is reported.
                    drop(rt);
                    let _ = done.send(());
                })
                .map_err(|e| LoadError::Runtime(e.to_string()))?;
        }
        drop(done_tx);
        let deadline = async {
            match end {
                Some(e) => tokio::time::sleep_until(e).await,
                None => std::future::pending().await,
            }
        };
        let mut finished = 0;
        let mut interrupted = false;
        tokio::select! {
            _ = async { while finished < threads && done_rx.recv().await.is_some() { finished += 1; } } => {}
            _ = deadline => {}
            _ = interrupt => interrupted = true,
        }
        let stopped = Instant::now();
        let _ = stop_tx.send(true);
        // Every thread reports once its runtime is gone (or the channel closes if one died).
        while done_rx.recv().await.is_some() {}
        self.shared.finished.store(true, Ordering::Relaxed);
        let stopped = end.map_or(stopped, |e| stopped.min(e));
        let mut total = Stats::default();
        for s in &self.shared.stats {
            total.merge(&lock(s));
        }
        Ok(LoadReport::build(
            &total,
            Meta {
                url: cfg.url.clone(),
                method: cfg.method.to_string(),
                http2: cfg.http2,
                connections: cfg.connections,
                rate: cfg.rate,
                duration: stopped.saturating_duration_since(measure),
                aborted: self.shared.in_flight.load(Ordering::Relaxed),
                interrupted,
            },
        ))
    }

    /// Figures so far (for a live progress line); cheap enough for a few calls a second.
    pub fn progress(&self) -> Progress {
        let cfg = &self.plan.cfg;
        let started = *lock(&self.shared.started);
        let now = Instant::now();
        let (elapsed, warming_up) = match started {
            None => (Duration::ZERO, true),
            Some(o) => {
                let m = o + cfg.warmup;
                (now.saturating_duration_since(m), now < m)
            }
        };
        let mut total = Stats::default();
        for s in &self.shared.stats {
            let s = lock(s);
            total.latency.merge(&s.latency);
            total
                .errors
                .iter_mut()
                .zip(s.errors)
                .for_each(|(a, b)| *a += b);
            total.statuses.extend_from_slice(&s.statuses);
        }
        let requests = total.requests();
        let done = match cfg.stop {
            Stop::After(d) => elapsed.as_secs_f64() / d.as_secs_f64(),
            Stop::Requests(n) => requests as f64 / n as f64,
        };
        Progress {
            elapsed,
            warming_up,
            requests,
            errors: total.errors.iter().sum::<u64>() + total.server_errors(),
            p99: total.latency.quantile(0.99),
            done: if self.shared.finished.load(Ordering::Relaxed) {
                1.0
            } else {
                done.clamp(0.0, 1.0)
            },
        }
    }
}

struct Worker {
    plan: Arc<Plan>,
    shared: Arc<Shared>,
    id: usize,
    origin: Instant,
    measure: Instant,
    end: Option<Instant>,
}

static TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

impl Worker {
    /// The next request's start (its intended send time when it was already due, else the
    /// moment the timer woke) and whether it is measured; `None` to stop.
    ///
    /// A worker that waits for a due time wakes up to a timer tick (1 ms) late: that is the
    /// client's slack, not the server's, so latency then counts from the actual send. A request
    /// taken when already overdue waited for a busy connection: its latency counts from the
    /// intended time (coordinated omission).
    async fn next(&self) -> Option<(Instant, bool)> {
        let cfg = &self.plan.cfg;
        match cfg.rate {
            None => {
                let now = Instant::now();
                if self.end.is_some_and(|e| now >= e) {
                    return None;
                }
                let measured = now >= self.measure;
                if measured
                    && let Stop::Requests(n) = cfg.stop
                    && self.shared.next.fetch_add(1, Ordering::Relaxed) >= n
                {
                    return None;
                }
                Some((now, measured))
            }
            Some(rate) => {
                let i = self.shared.next.fetch_add(1, Ordering::Relaxed);
                // Past a year from the start (a tiny rate or a huge count) nothing is due.
                let Ok(offset) = pulsecheck::__private::from_secs_f64(
                    i as f64 / rate,
                    super::config::MAX_RUN_DURATION,
                ) else {
                    return None;
                };
                let due = self.origin + offset;
                if self.end.is_some_and(|e| due >= e) {
                    return None;
                }
                if let Stop::Requests(n) = cfg.stop {
                    let warm = (cfg.warmup.as_secs_f64() * rate).ceil() as u64;
                    if i >= warm + n {
                        return None;
                    }
                }
                if due > Instant::now() {
                    tokio::time::sleep_until(due).await;
                    return Some((Instant::now(), due >= self.measure));
                }
                Some((due, due >= self.measure))
            }
        }
    }

    async fn run(self) {
        let mut conn: Option<Connection> = None;
        let cfg = &self.plan.cfg;
        let mut backoff = Duration::ZERO;
        while let Some((due, measured)) = self.next().await {
            let sent = Instant::now();
            if cfg.rate.is_some() && measured {
                let lag = sent.saturating_duration_since(due);
                let mut s = lock(&self.shared.stats[self.id]);
                s.sent += 1;
                if lag > LATE {
                    s.late += 1;
                    s.max_lag = s.max_lag.max(lag);
                }
            }
            // A keep-alive connection the server closed while idle is replaced silently.
            if let Some(c) = conn.as_mut()
                && !c.ready().await
            {
                conn = None;
            }
            let c = match conn.as_mut() {
                Some(c) => c,
                None => match self.plan.connector.connect(cfg.timeout).await {
                    Ok(c) => {
                        backoff = Duration::ZERO;
                        lock(&self.shared.stats[self.id]).connects += 1;
                        conn.insert(c)
                    }
                    Err(e) => {
                        self.failed(&e, measured);
                        // Do not spin on a dead target.
                        backoff = (backoff * 2)
                            .clamp(Duration::from_millis(5), Duration::from_millis(500));
                        tokio::time::sleep(backoff).await;
                        continue;
                    }
                },
            };
            let trace = cfg.trace.then(new_ids);
            let req = self.request(trace);
            self.shared.in_flight.fetch_add(1, Ordering::Relaxed);
            let result = tokio::time::timeout(cfg.timeout, c.send(req, false)).await;
            self.shared.in_flight.fetch_sub(1, Ordering::Relaxed);
            let done = Instant::now();
            match result {
                Ok(Ok(answer)) => {
                    let mut s = lock(&self.shared.stats[self.id]);
                    if !measured {
                        s.warmup += 1;
                        continue;
                    }
                    let latency = done.saturating_duration_since(due);
                    if cfg.rate.is_some() {
                        s.service.record(done.saturating_duration_since(sent));
                    }
                    let slow = Slow {
                        latency,
                        status: answer.status.as_u16(),
                        at: done.saturating_duration_since(self.measure),
                        trace,
                    };
                    s.response(answer.status.as_u16(), answer.body_len, latency, slow);
                }
                Ok(Err(e)) => {
                    conn = None;
                    self.failed(&e, measured);
                }
                Err(_) => {
                    conn = None;
                    self.failed(
                        &RequestError::new(
                            ErrorKind::Timeout,
                            format!(
                                "no answer within {}",
                                super::client::fmt_duration(cfg.timeout)
                            ),
                        ),
                        measured,
                    );
                }
            }
        }
    }

    fn failed(&self, e: &RequestError, measured: bool) {
        tracing::debug!(error = %e, "request failed");
        let mut s = lock(&self.shared.stats[self.id]);
        if measured {
            s.error(e);
        } else {
            s.warmup += 1;
        }
    }

    fn request(&self, trace: Option<(u128, u64)>) -> Request<Full<Bytes>> {
        let mut req = Request::new(Full::new(self.plan.cfg.body.clone()));
        *req.method_mut() = self.plan.cfg.method.clone();
        *req.uri_mut() = self.plan.uri.clone();
        if self.plan.cfg.http2 {
            *req.version_mut() = http::Version::HTTP_2;
        }
        *req.headers_mut() = self.plan.headers.clone();
        if let Some((t, s)) = trace {
            let h = req.headers_mut();
            if let Ok(v) = HeaderValue::from_str(&format!("00-{t:032x}-{s:016x}-01")) {
                h.insert(TRACEPARENT.clone(), v);
            }
            if let Ok(v) = HeaderValue::from_str(&uuid::Uuid::from_u128(t).to_string()) {
                h.insert(REQUEST_ID.clone(), v);
            }
        }
        req
    }
}

/// A random trace id (a v4 UUID's bits, so the `x-request-id` is that UUID) and span id.
fn new_ids() -> (u128, u64) {
    let t = uuid::Uuid::new_v4().as_u128();
    let s = uuid::Uuid::new_v4().as_u64_pair().1 | 1;
    (t, s)
}
