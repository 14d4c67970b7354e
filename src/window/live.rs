//! The hot path: per-shard counters that requests increment, and the fold that drains them.
//!
//! Each thread records into one shard (assigned round-robin on first use), so two cores never
//! write the same cache line; a request costs a handful of relaxed atomic adds and no lock,
//! no allocation and no hashing. The ticker drains every shard once a second.

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use opentelemetry::trace::TraceId;

use super::buckets;
use super::cumulative::SeriesCounters;
use super::slot::{Slot, Traced};

/// Status codes are 100..=999; one counter each.
pub(crate) const STATUS_SLOTS: usize = 1000;
/// Recent failures kept per series per slot as exemplars.
pub(crate) const FAILURE_EXEMPLARS: usize = 4;

/// One series' counters in one shard. Aligned so that neighbouring series never share a line.
///
/// A request does three atomic adds (its bucket, its status, the latency sum); the count is
/// derived from the buckets and the errors from the status counters when the slot is drained,
/// and the minimum and maximum are only written when a request sets a new extreme.
#[repr(align(128))]
pub(crate) struct LiveSeries {
    /// Requests recorded since the last drain that may not be drained yet: a hint that the
    /// series is busy, set with a plain store, so idle series cost the ticker nothing.
    touched: std::sync::atomic::AtomicBool,
    sum_ns: AtomicU64,
    min_ns: AtomicU64,
    max_ns: AtomicU64,
    clamped: AtomicU64,
    buckets: Box<[AtomicU32]>,
    status: Box<[AtomicU32]>,
    /// The slowest request of the current slot and its trace. Taken with `try_lock` by the
    /// request that sets a new maximum (rare once a slot has data); never waited on.
    slowest: Mutex<Option<(u64, TraceId, u16)>>,
    /// Recent failed requests: trace, duration and status.
    failures: Mutex<Vec<(TraceId, u64, u16)>>,
    /// All-time counters per method, never drained (read by `/metrics`).
    pub(crate) cumulative: SeriesCounters,
}

impl LiveSeries {
    fn new() -> Self {
        Self {
            touched: std::sync::atomic::AtomicBool::new(false),
            sum_ns: AtomicU64::new(0),
            min_ns: AtomicU64::new(u64::MAX),
            max_ns: AtomicU64::new(0),
            clamped: AtomicU64::new(0),
            buckets: (0..buckets::COUNT).map(|_| AtomicU32::new(0)).collect(),
            status: (0..STATUS_SLOTS).map(|_| AtomicU32::new(0)).collect(),
            slowest: Mutex::new(None),
            failures: Mutex::new(Vec::with_capacity(FAILURE_EXEMPLARS)),
            cumulative: SeriesCounters::default(),
        }
    }

    #[inline]
    pub(crate) fn record(&self, status: u16, ns: u64, is_error: bool, trace: Option<TraceId>) {
        let (bucket, clamped) = buckets::index(ns);
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.status[usize::from(status).min(STATUS_SLOTS - 1)].fetch_add(1, Ordering::Relaxed);
        // SeqCst here and on the `touched` load below: the load cannot be ordered before the
        // adds, so a drain that cleared `touched` either sees these adds or leaves `touched`
        // set for the next drain. (On x86 this costs nothing over Relaxed.)
        self.sum_ns.fetch_add(ns, Ordering::SeqCst);
        if ns < self.min_ns.load(Ordering::Relaxed) {
            self.min_ns.fetch_min(ns, Ordering::Relaxed);
        }
        let mut new_max = false;
        if ns > self.max_ns.load(Ordering::Relaxed) {
            new_max = self.max_ns.fetch_max(ns, Ordering::Relaxed) < ns;
        }
        if clamped {
            self.clamped.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(t) = trace {
            if new_max {
                if let Ok(mut s) = self.slowest.try_lock() {
                    if s.is_none_or(|(d, _, _)| ns > d) {
                        *s = Some((ns, t, status));
                    }
                }
            }
            if is_error {
                if let Ok(mut f) = self.failures.try_lock() {
                    if f.len() == FAILURE_EXEMPLARS {
                        f.remove(0);
                    }
                    f.push((t, ns, status));
                }
            }
        }
        if !self.touched.load(Ordering::SeqCst) {
            self.touched.store(true, Ordering::SeqCst);
        }
    }

    /// Drains the counters into `slot`. A request racing with the drain lands either in this
    /// slot or the next, never nowhere; its parts (bucket, status, sum, extremes) may land in
    /// different slots, which [`Slot::settle_extremes`] and the bucket-derived count allow for.
    /// Exemplars are stamped with the series and the fold's wall-clock second `at_s` (stamped
    /// here rather than on the hot path: a request's time is known to the second).
    fn drain_into(&self, slot: &mut Slot, errors: &super::ErrorPolicy, series: u32, at_s: u64) {
        // Cleared before reading: a request racing with this drain sets it again, and is
        // drained next time if not now.
        if !self.touched.swap(false, Ordering::SeqCst) {
            return;
        }
        slot.sum_ns += self.sum_ns.swap(0, Ordering::Relaxed);
        slot.clamped += self.clamped.swap(0, Ordering::Relaxed);
        slot.min_ns = slot
            .min_ns
            .min(self.min_ns.swap(u64::MAX, Ordering::Relaxed));
        slot.max_ns = slot.max_ns.max(self.max_ns.swap(0, Ordering::Relaxed));
        // The count is the histogram's: a request racing this drain may have its bucket
        // here and its status in the next slot (or the reverse), but a slot's quantiles are
        // always over exactly the requests it counts.
        for (i, b) in self.buckets.iter().enumerate() {
            if b.load(Ordering::Relaxed) != 0 {
                let n = u64::from(b.swap(0, Ordering::Relaxed));
                slot.add_bucket(i, n);
                slot.count += n;
            }
        }
        for (code, s) in self.status.iter().enumerate() {
            if s.load(Ordering::Relaxed) != 0 {
                let n = u64::from(s.swap(0, Ordering::Relaxed));
                slot.add_status(code as u16, n);
                if errors.is_error(code as u16) {
                    slot.errors += n;
                }
            }
        }
        let traced = |(trace, ns, status)| Traced {
            trace,
            ns,
            status,
            series,
            at_s,
        };
        if let Some((ns, t, status)) = self
            .slowest
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            slot.offer_slowest(traced((t, ns, status)));
        }
        let mut f = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        for e in f.drain(..) {
            slot.push_failure(traced(e));
        }
    }
}

/// One shard: a lazily allocated [`LiveSeries`] per series index.
pub(crate) struct Shard {
    series: Box<[OnceLock<Box<LiveSeries>>]>,
}

impl Shard {
    fn new(series: usize) -> Self {
        Self {
            series: (0..series).map(|_| OnceLock::new()).collect(),
        }
    }

    /// The series' counters. Allocates once per series and shard, on its first request.
    #[inline]
    pub(crate) fn series(&self, index: usize) -> &LiveSeries {
        self.series[index].get_or_init(|| Box::new(LiveSeries::new()))
    }
}

/// All shards of one aggregator.
pub(crate) struct Shards {
    shards: Box<[Shard]>,
    series: usize,
}

static NEXT_THREAD: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static THREAD_SLOT: usize = NEXT_THREAD.fetch_add(1, Ordering::Relaxed);
}

impl Shards {
    pub(crate) fn new(series: usize) -> Self {
        let n = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(4)
            .clamp(1, 64);
        Self {
            shards: (0..n).map(|_| Shard::new(series)).collect(),
            series,
        }
    }

    #[inline]
    pub(crate) fn current(&self) -> &Shard {
        let i = THREAD_SLOT.with(|s| *s) % self.shards.len();
        &self.shards[i]
    }

    pub(crate) fn series_count(&self) -> usize {
        self.series
    }

    /// Drains series `index` of every shard into one slot, at wall-clock second `at_s`.
    pub(crate) fn drain(
        &self,
        index: usize,
        slot: &mut Slot,
        errors: &super::ErrorPolicy,
        at_s: u64,
    ) {
        let series = u32::try_from(index).unwrap_or(u32::MAX);
        for shard in self.shards.iter() {
            if let Some(s) = shard.series[index].get() {
                s.drain_into(slot, errors, series, at_s);
            }
        }
        slot.settle_extremes();
    }

    /// Adds series `index`'s all-time counters of every shard to `out[method]`.
    pub(crate) fn add_cumulative(
        &self,
        index: usize,
        out: &mut [Option<super::RequestTotals>; crate::layer::HttpMethod::COUNT],
    ) {
        for shard in self.shards.iter() {
            if let Some(s) = shard.series[index].get() {
                s.cumulative.add_to(out);
            }
        }
    }

    /// Bytes held by the live counters (for the memory benchmark).
    pub(crate) fn allocated_bytes(&self) -> usize {
        let per = std::mem::size_of::<LiveSeries>()
            + buckets::COUNT * std::mem::size_of::<AtomicU32>()
            + STATUS_SLOTS * std::mem::size_of::<AtomicU32>()
            + FAILURE_EXEMPLARS * std::mem::size_of::<(TraceId, u64, u16)>();
        self.shards
            .iter()
            .flat_map(|s| s.series.iter().filter_map(|x| x.get()))
            .map(|x| per + x.cumulative.allocated_bytes())
            .sum()
    }
}
