//! All-time request counters per route and method, for Prometheus `rate()` and
//! `histogram_quantile()`: a duration histogram on the semantic-convention boundaries and
//! request counts by status code. Unlike the windows, these are never drained.
//!
//! They live next to the window counters, in the recording thread's shard, so a hot route
//! on many cores does not bounce one cache line between them; a read sums the shards.
//!
//! Status codes are counted in a small lock-free table per route, method and shard: each of
//! [`CODE_SLOTS`] words holds a code in its top 16 bits and its count in the other 48, and a
//! code takes a free word once (one compare-and-swap) on its first request. A route answers
//! with few distinct codes, so a request costs a load or two and one add, in 128 bytes,
//! where a counter per possible code (100..=599) would take 4 KB per route and method. Codes
//! beyond the table's [`CODE_SLOTS`] count in their class (`4xx`), which keeps `=~"5.."`
//! queries right.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use opentelemetry::trace::TraceId;

use super::counter::bump64;
use super::exemplar::{BucketExemplar, ExemplarSlot, newer};
use crate::layer::HttpMethod;

/// `le` bounds in nanoseconds: [`DURATION_BOUNDARIES`](crate::layer::DURATION_BOUNDARIES),
/// the semantic-convention boundaries of `http.server.request.duration`.
pub(crate) const BOUNDS_NS: [u64; 14] = [
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    75_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    750_000_000,
    1_000_000_000,
    2_500_000_000,
    5_000_000_000,
    7_500_000_000,
    10_000_000_000,
];
/// Histogram buckets: one per bound and `+Inf`.
pub const DURATION_BUCKETS: usize = BOUNDS_NS.len() + 1;
/// Distinct status codes counted exactly per route, method and shard.
pub(crate) const CODE_SLOTS: usize = 16;

const CODE_SHIFT: u32 = 48;
const COUNT_MASK: u64 = (1 << CODE_SHIFT) - 1;

/// One route and method's counters in one shard. Allocated on the first request of that
/// route and method on that shard, then only added to.
#[repr(align(64))]
pub(crate) struct MethodCounters {
    /// Requests per bucket (not cumulative), the last one `+Inf`.
    buckets: [AtomicU64; DURATION_BUCKETS],
    /// Total duration in microseconds, rounded per request: nanoseconds would wrap after 584
    /// years of summed latency, which a busy slow route reaches in months.
    sum_us: AtomicU64,
    /// `code << 48 | count`, 0 for a free word. 48 bits hold 2.8e14 requests of one code on
    /// one shard: nine years at a million requests a second.
    codes: [AtomicU64; CODE_SLOTS],
    /// Requests whose code found no free word, by class (index 0 for 1xx .. 4 for 5xx and
    /// anything above).
    overflow: [AtomicU64; 5],
    /// The latest sampled request per bucket (see [`super::exemplar`]), allocated on the
    /// first sampled request: an untraced service pays no memory for it.
    exemplars: OnceLock<Box<[ExemplarSlot; DURATION_BUCKETS]>>,
}

impl MethodCounters {
    fn new() -> Self {
        Self {
            buckets: Default::default(),
            sum_us: AtomicU64::new(0),
            codes: Default::default(),
            overflow: Default::default(),
            exemplars: OnceLock::new(),
        }
    }

    /// Counts one request; `alone`: the calling thread owns this shard (see [`bump64`]);
    /// `exemplar` is its sampled trace and the aggregator's epoch.
    #[inline]
    fn record(&self, alone: bool, status: u16, ns: u64, exemplar: Option<(TraceId, u64)>) {
        // `le` is inclusive: a request of exactly 5 ms is in the 0.005 bucket.
        let bucket = BOUNDS_NS.iter().filter(|b| **b < ns).count();
        bump64(&self.buckets[bucket], 1, alone);
        if let Some((trace, epoch)) = exemplar {
            self.exemplars.get_or_init(Default::default)[bucket].offer(epoch, trace, ns);
        }
        bump64(&self.sum_us, ns.saturating_add(500) / 1000, alone);
        let key = u64::from(status) << CODE_SHIFT;
        for word in &self.codes {
            let mut seen = word.load(Ordering::Relaxed);
            if seen == 0 {
                match word.compare_exchange(0, key | 1, Ordering::Relaxed, Ordering::Relaxed) {
                    Ok(_) => return,
                    Err(now) => seen = now,
                }
            }
            if seen & !COUNT_MASK == key {
                bump64(word, 1, alone);
                return;
            }
        }
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        self.overflow[class].fetch_add(1, Ordering::Relaxed);
    }

    fn add_to(&self, t: &mut RequestTotals) {
        for (sum, b) in t.buckets.iter_mut().zip(&self.buckets) {
            *sum += b.load(Ordering::Relaxed);
        }
        t.sum_us += self.sum_us.load(Ordering::Relaxed);
        for word in &self.codes {
            let v = word.load(Ordering::Relaxed);
            if v != 0 {
                *t.status_codes
                    .entry(StatusLabel::Code((v >> CODE_SHIFT) as u16))
                    .or_default() += v & COUNT_MASK;
            }
        }
        for (class, n) in self.overflow.iter().enumerate() {
            let n = n.load(Ordering::Relaxed);
            if n != 0 {
                *t.status_codes
                    .entry(StatusLabel::Class(class as u8 + 1))
                    .or_default() += n;
            }
        }
        if let Some(slots) = self.exemplars.get() {
            for (kept, slot) in t.exemplars.iter_mut().zip(slots.iter()) {
                *kept = newer(*kept, slot.read());
            }
        }
    }

    /// Heap bytes of this block and its exemplars.
    fn allocated_bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.exemplars.get().map_or(0, |_| {
                std::mem::size_of::<[ExemplarSlot; DURATION_BUCKETS]>()
            })
    }
}

/// One series' counters in one shard, a block per method used.
#[derive(Default)]
pub(crate) struct SeriesCounters {
    methods: [OnceLock<Box<MethodCounters>>; HttpMethod::COUNT],
}

impl SeriesCounters {
    /// Counts one request (`alone`: the calling thread owns this shard), and offers its
    /// sampled trace (with the aggregator's epoch) as its bucket's exemplar. Allocates once
    /// per method, on its first request.
    #[inline]
    pub(crate) fn record(
        &self,
        alone: bool,
        method: HttpMethod,
        status: u16,
        ns: u64,
        exemplar: Option<(TraceId, u64)>,
    ) {
        self.methods[method.index()]
            .get_or_init(|| Box::new(MethodCounters::new()))
            .record(alone, status, ns, exemplar);
    }

    /// Adds this shard's counters to `out[method]`.
    pub(crate) fn add_to(&self, out: &mut [Option<RequestTotals>; HttpMethod::COUNT]) {
        for (m, block) in self.methods.iter().enumerate() {
            if let Some(block) = block.get() {
                block.add_to(out[m].get_or_insert_with(RequestTotals::default));
            }
        }
    }

    /// Heap bytes of the allocated method blocks.
    pub(crate) fn allocated_bytes(&self) -> usize {
        self.methods
            .iter()
            .filter_map(|m| m.get())
            .map(|m| m.allocated_bytes())
            .sum()
    }
}

/// The `http_response_status_code` of a count: an exact code, or a class for codes that
/// came after a route and method's table was full.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StatusLabel {
    /// An exact status code.
    Code(u16),
    /// A status class: 4 for codes 400..=499 that found no free slot.
    Class(u8),
}

impl std::fmt::Display for StatusLabel {
    /// `404`, or `4xx` for a class.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Code(c) => write!(f, "{c}"),
            Self::Class(c) => write!(f, "{c}xx"),
        }
    }
}

/// All-time counts of one route and method, summed over the shards.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestTotals {
    /// Requests per duration bucket, not cumulative: `buckets[i]` counts durations in
    /// `(bound[i-1], bound[i]]` of [`DURATION_BOUNDARIES`](crate::layer::DURATION_BOUNDARIES),
    /// the last one those above 10 s.
    pub buckets: [u64; DURATION_BUCKETS],
    /// Summed duration, in microseconds.
    pub sum_us: u64,
    /// Requests per status code.
    pub status_codes: std::collections::BTreeMap<StatusLabel, u64>,
    /// Per bucket, the latest sampled request that landed in it (its trace id, duration and
    /// time), the newest of the shards'; `None` for buckets without a sampled request.
    pub exemplars: [Option<BucketExemplar>; DURATION_BUCKETS],
}

impl RequestTotals {
    /// Requests counted.
    pub fn count(&self) -> u64 {
        self.buckets.iter().sum()
    }

    /// Summed duration in seconds.
    pub fn sum_seconds(&self) -> f64 {
        self.sum_us as f64 / 1e6
    }
}

/// One route and method's all-time counts, as [`Aggregator::totals`](super::Aggregator::totals)
/// lists them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteMethodTotals {
    /// The route template, [`OVERFLOW_ROUTE`](crate::layer::OVERFLOW_ROUTE) past the cap, or
    /// [`UNMATCHED_ROUTE`](super::UNMATCHED_ROUTE).
    pub route: String,
    /// The normalised method.
    pub method: HttpMethod,
    /// The counts.
    pub totals: RequestTotals,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::DURATION_BOUNDARIES;

    fn totals(c: &MethodCounters) -> RequestTotals {
        let mut t = RequestTotals::default();
        c.add_to(&mut t);
        t
    }

    #[test]
    fn bounds_are_the_semantic_convention_boundaries() {
        for (ns, s) in BOUNDS_NS.iter().zip(DURATION_BOUNDARIES) {
            assert_eq!(*ns, (s * 1e9).round() as u64);
        }
        assert_eq!(BOUNDS_NS.len(), DURATION_BOUNDARIES.len());
    }

    // One thread: the owned shard's plain loads and stores.
    #[test]
    fn le_is_inclusive_and_the_last_bucket_is_infinity() {
        let c = MethodCounters::new();
        c.record(true, 200, 5_000_000, None); // exactly 0.005
        c.record(true, 200, 5_000_001, None);
        c.record(true, 200, 0, None);
        c.record(true, 200, 10_000_000_001, None);
        let t = totals(&c);
        assert_eq!(t.buckets[0], 2);
        assert_eq!(t.buckets[1], 1);
        assert_eq!(t.buckets[DURATION_BUCKETS - 1], 1);
        assert_eq!(t.count(), 4);
        assert_eq!(t.sum_us, 5_000 + 5_000 + 10_000_000);
    }

    #[test]
    fn codes_are_exact_until_the_table_is_full_then_counted_by_class() {
        let c = MethodCounters::new();
        for code in 200..200 + CODE_SLOTS as u16 {
            c.record(true, code, 1, None);
            c.record(true, code, 1, None);
        }
        c.record(true, 404, 1, None);
        c.record(true, 503, 1, None);
        c.record(true, 200, 1, None);
        let t = totals(&c);
        assert_eq!(t.status_codes[&StatusLabel::Code(200)], 3);
        assert_eq!(t.status_codes[&StatusLabel::Code(215)], 2);
        assert_eq!(t.status_codes[&StatusLabel::Class(4)], 1);
        assert_eq!(t.status_codes[&StatusLabel::Class(5)], 1);
        assert_eq!(StatusLabel::Class(4).to_string(), "4xx");
        assert_eq!(t.status_codes.values().sum::<u64>(), t.count());
    }

    #[test]
    fn a_sampled_request_is_its_buckets_exemplar_once_per_epoch() {
        let c = MethodCounters::new();
        let trace = |n| TraceId::from_bytes([n; 16]);
        c.record(true, 200, 40_000_000, None);
        assert_eq!(totals(&c).exemplars, [None; DURATION_BUCKETS]);
        c.record(true, 200, 40_000_000, Some((trace(1), 1)));
        c.record(true, 200, 45_000_000, Some((trace(2), 1)));
        c.record(true, 200, 3_000_000, Some((trace(3), 1)));
        let t = totals(&c);
        let kept = |i: usize| t.exemplars[i].map(|e| (e.trace_id, e.duration_ns));
        assert_eq!(kept(3), Some((trace(1), 40_000_000)), "le 0.05");
        assert_eq!(kept(0), Some((trace(3), 3_000_000)), "le 0.005");
        assert_eq!(t.exemplars.iter().flatten().count(), 2);
        c.record(true, 200, 45_000_000, Some((trace(4), 2)));
        assert_eq!(
            totals(&c).exemplars[3].map(|e| e.trace_id),
            Some(trace(4)),
            "a new epoch replaces it"
        );
    }

    #[test]
    fn racing_threads_lose_no_request() {
        let c = std::sync::Arc::new(MethodCounters::new());
        let threads: Vec<_> = (0..4)
            .map(|k| {
                let c = c.clone();
                std::thread::spawn(move || {
                    for i in 0..10_000u64 {
                        // Threads sharing one block: the shared shard's atomic adds.
                        c.record(
                            false,
                            [200, 404, 500, 201][((i + k) % 4) as usize],
                            i * 1000,
                            None,
                        );
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let t = totals(&c);
        assert_eq!(t.count(), 40_000);
        assert_eq!(t.status_codes.len(), 4);
        assert!(t.status_codes.values().all(|n| *n == 10_000));
    }
}
