//! The in-process aggregator: latency percentiles, error rates and throughput over sliding
//! windows of 1 minute, 5 minutes and 1 hour, for the service and for each route, at any
//! request rate, in bounded memory.
//!
//! Requests are recorded through the layer's [`Recorder`] hook into per-core shards of atomic
//! counters (no lock, no allocation, no hashing; see `docs/aggregator.md` for the log-linear
//! latency buckets and their error bound). A ticker folds the shards once a second into rings of time slots whose
//! running totals make every window readable in microseconds. Readers (endpoints, budgets,
//! alerts) take [`Snapshot`]s; they never touch the hot path.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use pulsecheck::layer::{HttpMethod, Recorder, RequestRecord, RouteTable};
//! use pulsecheck::window::{Aggregator, AggregatorConfig, ManualClock, Window};
//!
//! let routes = std::sync::Arc::new(RouteTable::default());
//! let clock = ManualClock::new(1_000);
//! let agg = Aggregator::with_clock(AggregatorConfig::default(), routes.clone(), clock.clone());
//! let route = Some(routes.resolve("/users/{id}"));
//! for ms in [10, 20, 30, 40, 500] {
//!     let status = if ms == 500 { 503 } else { 200 };
//!     agg.record(&RequestRecord { method: HttpMethod::Get, route, status,
//!         duration: Duration::from_millis(ms), trace_id: None });
//! }
//! clock.advance(1);
//! agg.tick();
//! let snap = agg.snapshot(Window::OneMinute);
//! assert_eq!(snap.service.requests, 5);
//! assert_eq!(snap.service.error_rate, 0.2);
//! assert!((snap.service.latency_ms.unwrap().p50 - 30.0).abs() < 0.5);
//! assert_eq!(snap.routes["/users/{id}"].requests, 5);
//! ```

pub(crate) mod buckets;
mod clock;
mod counter;
mod cumulative;
mod exemplar;
mod live;
mod rings;
mod series;
mod slot;
mod snapshot;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

pub use clock::{Clock, ManualClock, SystemClock};
pub use cumulative::{DURATION_BUCKETS, RequestTotals, RouteMethodTotals, StatusLabel};
pub use exemplar::BucketExemplar;
pub(crate) use rings::LongCounts;
pub use rings::MAX_LATENCY_OBJECTIVES;
pub use series::{Series, SeriesPoint};
pub use snapshot::{Exemplar, Latency, ServiceSnapshot, Snapshot, Window};

use crate::layer::{HttpMethod, Recorder, RequestRecord, RouteId, RouteTable};
use live::Shards;
use rings::{LongHistory, SeriesWindows};
use slot::Slot;

/// Which response statuses count as errors. The default is 5xx and
/// [`CANCELLED_STATUS`](crate::layer::CANCELLED_STATUS) (499, a request the client gave up
/// on: it was not served).
///
/// ```
/// use pulsecheck::window::ErrorPolicy;
/// let p = ErrorPolicy::server_errors().with_status(429);
/// assert!(p.is_error(503) && p.is_error(429) && !p.is_error(404));
/// assert!(ErrorPolicy::default().is_error(499));
/// assert!(!ErrorPolicy::default().without_status(499).is_error(499));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorPolicy {
    table: Box<[bool]>,
}

impl Default for ErrorPolicy {
    fn default() -> Self {
        Self::server_errors().with_status(crate::layer::CANCELLED_STATUS)
    }
}

impl ErrorPolicy {
    /// 5xx are errors (as in the HTTP semantic conventions).
    pub fn server_errors() -> Self {
        Self {
            table: (0..live::STATUS_SLOTS)
                .map(|c| (500..600).contains(&c))
                .collect(),
        }
    }

    /// Nothing is an error (start from here to build a custom policy).
    pub fn none() -> Self {
        Self {
            table: vec![false; live::STATUS_SLOTS].into_boxed_slice(),
        }
    }

    /// Also count `status` as an error (e.g. 429).
    pub fn with_status(mut self, status: u16) -> Self {
        if let Some(e) = self.table.get_mut(usize::from(status)) {
            *e = true;
        }
        self
    }

    /// Do not count `status` as an error (e.g. 499 in a policy that counts 4xx).
    pub fn without_status(mut self, status: u16) -> Self {
        if let Some(e) = self.table.get_mut(usize::from(status)) {
            *e = false;
        }
        self
    }

    /// Also count a whole class (4 for 4xx).
    pub fn with_class(mut self, class: u16) -> Self {
        for c in class * 100..(class + 1) * 100 {
            if let Some(e) = self.table.get_mut(usize::from(c)) {
                *e = true;
            }
        }
        self
    }

    /// Whether `status` counts as an error.
    #[inline]
    pub fn is_error(&self, status: u16) -> bool {
        self.table
            .get(usize::from(status))
            .copied()
            .unwrap_or(false)
    }
}

/// Aggregator settings.
#[derive(Clone, Debug)]
pub struct AggregatorConfig {
    /// Which statuses are errors. Defaults to 5xx and 499 (cancelled).
    pub errors: ErrorPolicy,
    /// Latency thresholds (at most [`MAX_LATENCY_OBJECTIVES`]) whose slow-request counts are
    /// kept for 30 days, for latency SLOs. Defaults to none.
    pub latency_thresholds: Vec<Duration>,
    /// Route templates that are monitoring traffic (probes, scrapes, the dashboard's polling):
    /// shown per route, marked, and left out of the service-wide figures and the SLO counts
    /// unless [`count_monitoring`](Self::count_monitoring). Defaults to pulsecheck's own
    /// endpoints ([`Monitoring::routes`](crate::config::Monitoring::routes)).
    pub monitoring_routes: Vec<String>,
    /// Count monitoring routes in the service-wide figures too. Defaults to `false`.
    pub count_monitoring: bool,
}

impl Default for AggregatorConfig {
    fn default() -> Self {
        Self {
            errors: ErrorPolicy::default(),
            latency_thresholds: Vec::new(),
            monitoring_routes: crate::endpoints::OWN_PATHS
                .iter()
                .map(|p| (*p).to_owned())
                .collect(),
            count_monitoring: false,
        }
    }
}

/// Series index of requests that matched no route.
const UNMATCHED: usize = 0;
/// Series index of routes past the cap.
const OVERFLOW: usize = 1;
const FIRST_ROUTE: usize = 2;

/// Name of the unmatched series in snapshots.
pub const UNMATCHED_ROUTE: &str = "(unmatched)";

struct State {
    series: Vec<Option<SeriesWindows>>,
    service: SeriesWindows,
    long: LongHistory,
    /// Wall-clock second of the latest fold: labels chart points, nothing else.
    last_tick_s: u64,
    /// Monotonic second of the latest fold: what the windows advance on.
    last_monotonic_s: u64,
    /// Seconds folded so far (slots pushed).
    pushes: u64,
    /// Per series: whether it is a monitoring route, once its template is known.
    monitoring: Vec<Option<bool>>,
}

struct Inner {
    shards: Shards,
    routes: Arc<RouteTable>,
    errors: ErrorPolicy,
    thresholds_ns: Vec<u64>,
    monitoring_routes: Box<[String]>,
    count_monitoring: bool,
    clock: Arc<dyn Clock>,
    state: Mutex<State>,
    /// Monotonic second the aggregator started at.
    started_s: AtomicU64,
    /// Folds so far, from 1: a histogram bucket takes one exemplar per epoch.
    exemplar_epoch: AtomicU64,
}

/// The aggregator. Cheap to clone; see the [module docs](self) for an example.
#[derive(Clone)]
pub struct Aggregator {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Aggregator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Aggregator")
            .field("series", &self.inner.shards.series_count())
            .finish_non_exhaustive()
    }
}

impl Aggregator {
    /// An aggregator on the system clock. Call [`Aggregator::start_ticker`] to fold once a
    /// second.
    pub fn new(config: AggregatorConfig, routes: Arc<RouteTable>) -> Self {
        Self::with_clock(config, routes, SystemClock)
    }

    /// An aggregator on a given clock (a [`ManualClock`] in tests and simulations).
    pub fn with_clock(
        config: AggregatorConfig,
        routes: Arc<RouteTable>,
        clock: impl Clock,
    ) -> Self {
        let series = routes.capacity() + FIRST_ROUTE;
        let now = clock.now_s();
        let monotonic = clock.monotonic_s();
        let thresholds_ns = config
            .latency_thresholds
            .iter()
            .take(MAX_LATENCY_OBJECTIVES)
            .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
            .collect();
        Self {
            inner: Arc::new(Inner {
                shards: Shards::new(series),
                routes,
                errors: config.errors,
                thresholds_ns,
                monitoring_routes: config.monitoring_routes.into_boxed_slice(),
                count_monitoring: config.count_monitoring,
                clock: Arc::new(clock),
                state: Mutex::new(State {
                    series: (0..series).map(|_| None).collect(),
                    service: SeriesWindows::default(),
                    long: LongHistory::default(),
                    last_tick_s: now,
                    last_monotonic_s: monotonic,
                    pushes: 0,
                    monitoring: vec![None; series],
                }),
                started_s: AtomicU64::new(monotonic),
                exemplar_epoch: AtomicU64::new(1),
            }),
        }
    }

    /// Records one request. The hot path: a few plain loads and stores into the calling
    /// thread's own shard of the windows and the all-time counters (atomic adds only on the
    /// shared shard, for threads beyond twice the cores). A request with a (sampled) trace id
    /// is offered as its histogram bucket's exemplar, kept if the bucket has none from the
    /// current second.
    #[inline]
    pub fn record(&self, r: &RequestRecord) {
        let index = match r.route {
            None => UNMATCHED,
            Some(RouteTable::OVERFLOW) => OVERFLOW,
            Some(RouteId(i)) => FIRST_ROUTE + i as usize,
        };
        if index >= self.inner.shards.series_count() {
            return;
        }
        let ns = u64::try_from(r.duration.as_nanos()).unwrap_or(u64::MAX);
        let (shard, alone) = self.inner.shards.current();
        let series = shard.series(index);
        series.record(
            alone,
            r.status,
            ns,
            self.inner.errors.is_error(r.status),
            r.trace_id,
        );
        let exemplar = r
            .trace_id
            .map(|t| (t, self.inner.exemplar_epoch.load(Ordering::Relaxed)));
        series
            .cumulative
            .record(alone, r.method, r.status, ns, exemplar);
    }

    /// All-time counts (a duration histogram on the semantic-convention boundaries and
    /// requests per status code) of every route and method that has seen a request, in route
    /// id order (unmatched and overflow first). Read from the live counters: it includes
    /// requests the ticker has not folded yet.
    ///
    /// ```
    /// use std::time::Duration;
    /// use pulsecheck::layer::{HttpMethod, RequestRecord, RouteTable};
    /// use pulsecheck::window::{Aggregator, AggregatorConfig, StatusLabel};
    ///
    /// let routes = std::sync::Arc::new(RouteTable::default());
    /// let agg = Aggregator::new(AggregatorConfig::default(), routes.clone());
    /// let route = Some(routes.resolve("/users/{id}"));
    /// for (ms, status) in [(3, 200), (40, 200), (900, 503)] {
    ///     agg.record(&RequestRecord { method: HttpMethod::Get, route, status,
    ///         duration: Duration::from_millis(ms), trace_id: None });
    /// }
    /// let all = agg.totals();
    /// assert_eq!((all[0].route.as_str(), all[0].method), ("/users/{id}", HttpMethod::Get));
    /// let t = &all[0].totals;
    /// assert_eq!(t.count(), 3);
    /// assert_eq!(t.buckets[0], 1); // le 0.005
    /// assert_eq!(t.status_codes[&StatusLabel::Code(503)], 1);
    /// assert!((t.sum_seconds() - 0.943).abs() < 1e-9);
    /// ```
    pub fn totals(&self) -> Vec<RouteMethodTotals> {
        let mut out = Vec::new();
        for index in 0..self.inner.shards.series_count() {
            let mut per_method: [Option<RequestTotals>; HttpMethod::COUNT] = Default::default();
            self.inner.shards.add_cumulative(index, &mut per_method);
            if per_method.iter().all(Option::is_none) {
                continue;
            }
            let route = self.series_name(index);
            for (m, totals) in per_method.into_iter().enumerate() {
                if let Some(totals) = totals {
                    out.push(RouteMethodTotals {
                        route: route.clone(),
                        method: HttpMethod::ALL[m],
                        totals,
                    });
                }
            }
        }
        out
    }

    /// Folds everything recorded since the last tick into the current second's slot, and
    /// empty slots for any seconds the ticker missed. Called once a second by the ticker;
    /// call it yourself with a [`ManualClock`].
    ///
    /// Seconds are counted on the clock's monotonic reading, so a wall-clock step changes
    /// nothing but the chart timestamps; missed seconds, however many, cost one bounded pass
    /// over the kept slots.
    pub fn tick(&self) {
        let monotonic = self.inner.clock.monotonic_s();
        let mut state = self.inner.state.lock().unwrap_or_else(|p| p.into_inner());
        if monotonic <= state.last_monotonic_s {
            return;
        }
        let missed = monotonic - state.last_monotonic_s - 1;
        state.last_monotonic_s = monotonic;
        self.inner.exemplar_epoch.fetch_add(1, Ordering::Relaxed);
        state.last_tick_s = self.inner.clock.now_s();
        let now_s = state.last_tick_s;
        let State {
            series,
            service,
            long,
            pushes,
            monitoring,
            ..
        } = &mut *state;
        if missed > 0 {
            for s in series.iter_mut().flatten() {
                s.skip_seconds(missed);
            }
            service.skip_seconds(missed);
            long.skip_seconds(missed);
            *pushes += missed;
        }
        let before = *pushes;
        *pushes += 1;
        let mut total = Slot::default();
        for (i, windows) in series.iter_mut().enumerate() {
            let mut slot = Slot::default();
            self.inner
                .shards
                .drain(i, &mut slot, &self.inner.errors, now_s);
            if !slot.is_empty() {
                if self.inner.count_monitoring || !self.is_monitoring(monitoring, i) {
                    total.merge(&slot);
                }
                windows
                    .get_or_insert_with(|| SeriesWindows::aligned(before))
                    .push_second(slot);
            } else if let Some(w) = windows {
                w.push_second(slot);
                if w.is_idle() {
                    *windows = None;
                }
            }
        }
        let mut counts = LongCounts {
            total: total.count,
            errors: total.errors,
            ..LongCounts::default()
        };
        for (slow, t) in counts.slow.iter_mut().zip(&self.inner.thresholds_ns) {
            *slow = total.count - total.count_at_most(*t);
        }
        long.push_second(counts);
        service.push_second(total);
    }

    /// The service and every route with data, over `window`. Monitoring routes are among
    /// the routes, marked, and (unless counted) not in the service-wide figures.
    pub fn snapshot(&self, window: Window) -> ServiceSnapshot {
        let mut state = self.inner.state.lock().unwrap_or_else(|p| p.into_inner());
        let State {
            series, monitoring, ..
        } = &mut *state;
        let mut routes = BTreeMap::new();
        let mut monitoring_requests = 0;
        for (i, s) in series.iter().enumerate() {
            if let Some(s) = s {
                let mut snap = Snapshot::of(s, window, &|i| self.series_name(i as usize));
                if snap.requests > 0 {
                    snap.monitoring = self.is_monitoring(monitoring, i);
                    if snap.monitoring {
                        monitoring_requests += snap.requests;
                    }
                    routes.insert(self.series_name(i), snap);
                }
            }
        }
        ServiceSnapshot {
            window,
            service: Snapshot::of(&state.service, window, &|i| self.series_name(i as usize)),
            routes,
            monitoring_requests,
            monitoring_counted: self.inner.count_monitoring,
        }
    }

    /// Whether series `index` is a monitoring route, remembered once its template is known.
    fn is_monitoring(&self, cache: &mut [Option<bool>], index: usize) -> bool {
        if index < FIRST_ROUTE {
            return false;
        }
        if let Some(known) = cache[index] {
            return known;
        }
        let Some(template) = self
            .inner
            .routes
            .template(RouteId((index - FIRST_ROUTE) as u32))
        else {
            return false;
        };
        let monitoring = self
            .inner
            .monitoring_routes
            .iter()
            .any(|r| **r == *template);
        cache[index] = Some(monitoring);
        monitoring
    }

    /// The service's history over `window`, one point per slot (1 s, 10 s or 1 min), for
    /// charts. Reads the slots the ticker already folded, under the same lock as
    /// [`Aggregator::snapshot`]; the hot path is not involved.
    ///
    /// ```
    /// use std::time::Duration;
    /// use pulsecheck::layer::{HttpMethod, RequestRecord, RouteTable};
    /// use pulsecheck::window::{Aggregator, AggregatorConfig, ManualClock, Window};
    ///
    /// let clock = ManualClock::new(1_000);
    /// let agg = Aggregator::with_clock(AggregatorConfig::default(),
    ///     std::sync::Arc::new(RouteTable::default()), clock.clone());
    /// for status in [200, 200, 200, 503] {
    ///     agg.record(&RequestRecord { method: HttpMethod::Get, route: None, status,
    ///         duration: Duration::from_millis(20), trace_id: None });
    /// }
    /// clock.advance(1);
    /// agg.tick();
    /// let series = agg.series(Window::OneMinute);
    /// assert_eq!(series.step_s, 1);
    /// let last = series.points.last().unwrap();
    /// assert_eq!((last.t, last.requests, last.errors), (1_000, 4, 1));
    /// assert!((last.p50.unwrap() - 20.0).abs() < 0.5);
    /// ```
    pub fn series(&self, window: Window) -> Series {
        let state = self.inner.state.lock().unwrap_or_else(|p| p.into_inner());
        Series::of(&state.service, window, state.last_tick_s)
    }

    /// One route (by template) over `window`; `None` if it has no data.
    pub fn route_snapshot(&self, route: &str, window: Window) -> Option<Snapshot> {
        let mut state = self.inner.state.lock().unwrap_or_else(|p| p.into_inner());
        let index = state
            .series
            .iter()
            .enumerate()
            .find(|(i, s)| s.is_some() && self.series_name(*i) == route)
            .map(|(i, _)| i)?;
        let monitoring = self.is_monitoring(&mut state.monitoring, index);
        state.series[index].as_ref().map(|s| Snapshot {
            monitoring,
            ..Snapshot::of(s, window, &|i| self.series_name(i as usize))
        })
    }

    /// Service-wide requests, errors and slow requests over the last `minutes` (up to 30
    /// days), for SLO burn rates. Windows up to 3 days come from minute slots, longer ones from
    /// hour slots; both include the current partial slot.
    #[doc(hidden)]
    pub fn long_counts(&self, minutes: u64) -> LongCounts {
        let state = self.inner.state.lock().unwrap_or_else(|p| p.into_inner());
        state.long.over_minutes(minutes)
    }

    /// Seconds since the aggregator started, on its clock's monotonic reading.
    pub fn uptime_s(&self) -> u64 {
        self.inner
            .clock
            .monotonic_s()
            .saturating_sub(self.inner.started_s.load(Ordering::Relaxed))
    }

    /// The latency thresholds whose slow counts [`Aggregator::long_counts`] reports.
    pub fn latency_thresholds_ns(&self) -> &[u64] {
        &self.inner.thresholds_ns
    }

    /// Approximate heap bytes held: live counters plus folded windows.
    #[doc(hidden)]
    pub fn memory_bytes(&self) -> usize {
        let state = self.inner.state.lock().unwrap_or_else(|p| p.into_inner());
        self.inner.shards.allocated_bytes()
            + state.service.heap_bytes()
            + state
                .series
                .iter()
                .flatten()
                .map(|s| s.heap_bytes())
                .sum::<usize>()
    }

    fn series_name(&self, index: usize) -> String {
        match index {
            UNMATCHED => UNMATCHED_ROUTE.to_owned(),
            OVERFLOW => crate::layer::OVERFLOW_ROUTE.to_owned(),
            i => self
                .inner
                .routes
                .template(RouteId((i - FIRST_ROUTE) as u32))
                .map_or_else(|| format!("route-{}", i - FIRST_ROUTE), |t| t.to_string()),
        }
    }

    /// Starts a thread that calls [`Aggregator::tick`] just after every second of the
    /// monotonic clock. It stops by itself once every clone of the aggregator is dropped.
    pub fn start_ticker(&self) -> std::io::Result<()> {
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        std::thread::Builder::new()
            .name("pulsecheck-ticker".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(clock::until_next_monotonic_second());
                    match weak.upgrade() {
                        Some(inner) => Aggregator { inner }.tick(),
                        None => return,
                    }
                }
            })
            .map(|_| ())
    }
}

impl Recorder for Aggregator {
    #[inline]
    fn record(&self, record: &RequestRecord) {
        Aggregator::record(self, record);
    }
}
