//! The hot path: per-shard counters that requests increment, and the fold that drains them.
//!
//! Each thread records into a shard it owns alone (claimed on its first record, given back
//! when it exits), so two cores never write the same cache line and a request updates its
//! counters with plain loads and stores: no locked read-modify-write, no lock, no
//! allocation, no hashing. A locked add costs as much as the rest of `record` together (a
//! full barrier on x86), which is what this saves. Threads beyond the owned shards (more
//! than twice the cores record at once) share one more shard with atomic adds.
//!
//! Because the recording thread alone writes a counter, the ticker never resets one (a reset
//! racing a load-and-store would be overwritten): counters only grow, and the drain takes the
//! difference from what it saw last time, once a second.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use opentelemetry::trace::TraceId;

use super::buckets;
use super::counter::{bump32, bump64};
use super::cumulative::SeriesCounters;
use super::slot::{FAILURE_EXEMPLARS, Slot, Traced};

/// Status codes are 100..=999; one counter each.
pub(crate) const STATUS_SLOTS: usize = 1000;

/// What the drain saw of one [`LiveSeries`] last time; the next drain takes the difference.
struct Drained {
    records: u64,
    sum_ns: u64,
    buckets: Box<[u32]>,
    status: Box<[u32]>,
}

/// One series' counters in one shard. Aligned so that neighbouring series never share a line.
///
/// A request adds to its bucket, its status and the latency sum, then publishes its
/// `records` count; the slot's count is derived from the buckets and the errors from the
/// status counters when it is drained, and the minimum and maximum are only written when a
/// request sets a new extreme. Buckets, status counters, sum and `records` only grow.
#[repr(align(128))]
pub(crate) struct LiveSeries {
    /// Requests recorded, written last (release): when it has not moved since the last drain
    /// the series is idle and costs the ticker one load.
    records: AtomicU64,
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
    /// The drain's side: only the ticker locks it.
    drained: Mutex<Drained>,
    /// All-time counters per method, never drained (read by `/metrics`).
    pub(crate) cumulative: SeriesCounters,
}

impl LiveSeries {
    fn new() -> Self {
        Self {
            records: AtomicU64::new(0),
            sum_ns: AtomicU64::new(0),
            min_ns: AtomicU64::new(u64::MAX),
            max_ns: AtomicU64::new(0),
            clamped: AtomicU64::new(0),
            buckets: (0..buckets::COUNT).map(|_| AtomicU32::new(0)).collect(),
            status: (0..STATUS_SLOTS).map(|_| AtomicU32::new(0)).collect(),
            slowest: Mutex::new(None),
            failures: Mutex::new(Vec::with_capacity(FAILURE_EXEMPLARS)),
            drained: Mutex::new(Drained {
                records: 0,
                sum_ns: 0,
                buckets: vec![0; buckets::COUNT].into_boxed_slice(),
                status: vec![0; STATUS_SLOTS].into_boxed_slice(),
            }),
            cumulative: SeriesCounters::default(),
        }
    }

    /// Counts one request; `alone` says the calling thread owns this shard.
    #[inline]
    pub(crate) fn record(
        &self,
        alone: bool,
        status: u16,
        ns: u64,
        is_error: bool,
        trace: Option<TraceId>,
    ) {
        let (bucket, clamped) = buckets::index(ns);
        bump32(&self.buckets[bucket], 1, alone);
        bump32(
            &self.status[usize::from(status).min(STATUS_SLOTS - 1)],
            1,
            alone,
        );
        bump64(&self.sum_ns, ns, alone);
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
            if new_max
                && let Ok(mut s) = self.slowest.try_lock()
                && s.is_none_or(|(d, _, _)| ns > d)
            {
                *s = Some((ns, t, status));
            }
            if is_error && let Ok(mut f) = self.failures.try_lock() {
                if f.len() == FAILURE_EXEMPLARS {
                    f.remove(0);
                }
                f.push((t, ns, status));
            }
        }
        // Last, with release: a drain that sees this count sees the adds above. One that
        // does not yet see it leaves the series for the next drain, where it still differs
        // from what was drained (nothing is reset, so nothing is lost).
        if alone {
            let n = self.records.load(Ordering::Relaxed).wrapping_add(1);
            self.records.store(n, Ordering::Release);
        } else {
            self.records.fetch_add(1, Ordering::Release);
        }
    }

    /// Drains what was counted since the last drain into `slot`. A request racing with the
    /// drain lands either in this slot or the next, never nowhere; its parts (bucket, status,
    /// sum, extremes) may land in different slots, which [`Slot::settle_extremes`] and the
    /// bucket-derived count allow for. Exemplars are stamped with the series and the fold's
    /// wall-clock second `at_s` (stamped here rather than on the hot path: a request's time is
    /// known to the second).
    fn drain_into(&self, slot: &mut Slot, errors: &super::ErrorPolicy, series: u32, at_s: u64) {
        let mut d = self.drained.lock().unwrap_or_else(|p| p.into_inner());
        let records = self.records.load(Ordering::Acquire);
        if records == d.records {
            return;
        }
        d.records = records;
        let sum = self.sum_ns.load(Ordering::Relaxed);
        slot.sum_ns += sum.wrapping_sub(d.sum_ns);
        d.sum_ns = sum;
        // The extremes and the clamped count are written with atomic read-modify-writes
        // (rarely: only a new extreme or an out-of-range latency), so they can be reset.
        slot.clamped += self.clamped.swap(0, Ordering::Relaxed);
        slot.min_ns = slot
            .min_ns
            .min(self.min_ns.swap(u64::MAX, Ordering::Relaxed));
        slot.max_ns = slot.max_ns.max(self.max_ns.swap(0, Ordering::Relaxed));
        // The count is the histogram's: a request racing this drain may have its bucket
        // here and its status in the next slot (or the reverse), but a slot's quantiles are
        // always over exactly the requests it counts.
        for (i, (b, seen)) in self.buckets.iter().zip(d.buckets.iter_mut()).enumerate() {
            let now = b.load(Ordering::Relaxed);
            let n = now.wrapping_sub(*seen);
            if n != 0 {
                *seen = now;
                slot.add_bucket(i, u64::from(n));
                slot.count += u64::from(n);
            }
        }
        for (code, (s, seen)) in self.status.iter().zip(d.status.iter_mut()).enumerate() {
            let now = s.load(Ordering::Relaxed);
            let n = now.wrapping_sub(*seen);
            if n != 0 {
                *seen = now;
                slot.add_status(code as u16, u64::from(n));
                if errors.is_error(code as u16) {
                    slot.errors += u64::from(n);
                }
            }
        }
        drop(d);
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

/// All shards of one aggregator: one per owner slot, then the shared one.
pub(crate) struct Shards {
    shards: Box<[Shard]>,
    series: usize,
}

/// Shards a thread can own alone: twice the cores, so that the runtime's workers and a few
/// other recording threads each get one.
fn owned_shards() -> usize {
    static N: OnceLock<usize> = OnceLock::new();
    *N.get_or_init(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(4)
            .saturating_mul(2)
            .clamp(2, 128)
    })
}

/// Which owner slots are taken, process-wide: slot `i` is shard `i` of every aggregator.
fn owners() -> &'static [AtomicBool] {
    static OWNERS: OnceLock<Box<[AtomicBool]>> = OnceLock::new();
    OWNERS.get_or_init(|| {
        (0..owned_shards())
            .map(|_| AtomicBool::new(false))
            .collect()
    })
}

/// The owner slot a thread holds, if it got one; given back when the thread exits.
struct Claim(Option<usize>);

impl Claim {
    fn take() -> Self {
        // Acquire: the new owner sees every store of the previous owner, who released it.
        Self(owners().iter().position(|o| {
            o.compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
        }))
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if let Some(i) = self.0 {
            owners()[i].store(false, Ordering::Release);
        }
    }
}

thread_local! {
    static CLAIM: Claim = Claim::take();
}

impl Shards {
    pub(crate) fn new(series: usize) -> Self {
        Self {
            shards: (0..=owned_shards()).map(|_| Shard::new(series)).collect(),
            series,
        }
    }

    /// The calling thread's shard, and whether it owns it alone (the shared shard when every
    /// owner slot is taken, or when the thread's locals are already torn down).
    #[inline]
    pub(crate) fn current(&self) -> (&Shard, bool) {
        match CLAIM.try_with(|c| c.0).ok().flatten() {
            Some(i) => (&self.shards[i], true),
            None => (&self.shards[self.shards.len() - 1], false),
        }
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
        // Each counter and the drain's copy of it.
        let per = std::mem::size_of::<LiveSeries>()
            + 2 * buckets::COUNT * std::mem::size_of::<AtomicU32>()
            + 2 * STATUS_SLOTS * std::mem::size_of::<AtomicU32>()
            + FAILURE_EXEMPLARS * std::mem::size_of::<(TraceId, u64, u16)>();
        self.shards
            .iter()
            .flat_map(|s| s.series.iter().filter_map(|x| x.get()))
            .map(|x| per + x.cumulative.allocated_bytes())
            .sum()
    }
}
