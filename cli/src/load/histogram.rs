//! A constant-memory latency histogram for the load generator: the aggregator's log-linear
//! layout (the same buckets, 32 sub-buckets per octave from 1 µs to 100 s, quantiles
//! within 1/64 of the true value), exact minimum, maximum and mean. About 7 KiB whatever the
//! number of requests.

use std::time::Duration;

use pulsecheck::__private::buckets;

/// Latencies counted in log-linear buckets.
///
/// ```
/// use pulsecheck_cli::load::LatencyHistogram;
/// use std::time::Duration;
/// let mut h = LatencyHistogram::new();
/// for ms in 1..=100 {
///     h.record(Duration::from_millis(ms));
/// }
/// let p99 = h.quantile(0.99).unwrap().as_secs_f64() * 1e3;
/// assert!((p99 - 99.0).abs() <= 99.0 / 64.0);
/// assert_eq!(h.max(), Some(Duration::from_millis(100)));
/// ```
#[derive(Clone, Debug)]
pub struct LatencyHistogram {
    counts: Box<[u64]>,
    total: u64,
    sum_ns: u128,
    min_ns: u64,
    max_ns: u64,
    clamped: u64,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self::new()
    }
}

impl LatencyHistogram {
    /// An empty histogram.
    pub fn new() -> Self {
        Self {
            counts: vec![0; buckets::COUNT].into_boxed_slice(),
            total: 0,
            sum_ns: 0,
            min_ns: u64::MAX,
            max_ns: 0,
            clamped: 0,
        }
    }

    /// Counts one latency.
    #[inline]
    pub fn record(&mut self, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let (i, clamped) = buckets::index(ns);
        self.counts[i] += 1;
        self.total += 1;
        self.sum_ns += u128::from(ns);
        self.min_ns = self.min_ns.min(ns);
        self.max_ns = self.max_ns.max(ns);
        self.clamped += u64::from(clamped);
    }

    /// Adds another histogram's counts.
    pub fn merge(&mut self, other: &Self) {
        for (a, b) in self.counts.iter_mut().zip(other.counts.iter()) {
            *a += *b;
        }
        self.total += other.total;
        self.sum_ns += other.sum_ns;
        self.min_ns = self.min_ns.min(other.min_ns);
        self.max_ns = self.max_ns.max(other.max_ns);
        self.clamped += other.clamped;
    }

    /// Values counted.
    pub fn len(&self) -> u64 {
        self.total
    }

    /// Nothing counted yet.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// Values outside 1 µs..100 s, counted in the edge buckets (min and max stay exact).
    pub fn clamped(&self) -> u64 {
        self.clamped
    }

    /// Smallest value.
    pub fn min(&self) -> Option<Duration> {
        (self.total > 0).then(|| Duration::from_nanos(self.min_ns))
    }

    /// Largest value.
    pub fn max(&self) -> Option<Duration> {
        (self.total > 0).then(|| Duration::from_nanos(self.max_ns))
    }

    /// Arithmetic mean.
    pub fn mean(&self) -> Option<Duration> {
        (self.total > 0).then(|| {
            Duration::from_nanos(
                u64::try_from(self.sum_ns / u128::from(self.total)).unwrap_or(u64::MAX),
            )
        })
    }

    /// The nearest-rank `q`-quantile (0 < q ≤ 1), within 1/64 of the true value; `q = 1` is
    /// the exact maximum.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        if self.total == 0 {
            return None;
        }
        if q >= 1.0 {
            return self.max();
        }
        let lo = self.min_ns.clamp(buckets::MIN_NS, buckets::MAX_NS);
        let hi = self.max_ns.clamp(buckets::MIN_NS, buckets::MAX_NS);
        buckets::quantile(&self.counts, self.total, q, lo, hi)
            .map(|ns| Duration::from_nanos(ns as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_within_the_bound_of_exact_ranks() {
        let mut h = LatencyHistogram::new();
        let values: Vec<u64> = (1..=10_000u64)
            .map(|i| i * i * 37 % 5_000_000 + 1_000)
            .collect();
        for v in &values {
            h.record(Duration::from_nanos(*v));
        }
        let mut sorted = values.clone();
        sorted.sort_unstable();
        for q in [0.5, 0.9, 0.95, 0.99, 0.999] {
            let rank = ((q * sorted.len() as f64).ceil() as usize).max(1);
            let exact = sorted[rank - 1] as f64;
            let got = h.quantile(q).unwrap().as_nanos() as f64;
            assert!(
                (got - exact).abs() / exact <= buckets::RELATIVE_ERROR_BOUND + 1e-9,
                "q={q}: {got} vs {exact}"
            );
        }
        assert_eq!(
            h.quantile(1.0),
            Some(Duration::from_nanos(*sorted.last().unwrap()))
        );
    }

    #[test]
    fn merge_equals_recording_everything_in_one() {
        let (mut a, mut b, mut all) = (
            LatencyHistogram::new(),
            LatencyHistogram::new(),
            LatencyHistogram::new(),
        );
        for i in 1..1000u64 {
            let d = Duration::from_micros(i * 13);
            if i % 3 == 0 {
                a.record(d)
            } else {
                b.record(d)
            }
            all.record(d);
        }
        a.merge(&b);
        assert_eq!(a.len(), all.len());
        assert_eq!(a.min(), all.min());
        assert_eq!(a.max(), all.max());
        assert_eq!(a.mean(), all.mean());
        assert_eq!(a.quantile(0.99), all.quantile(0.99));
    }

    #[test]
    fn empty_has_no_figures_and_huge_values_are_clamped_not_lost() {
        let mut h = LatencyHistogram::new();
        assert_eq!(h.quantile(0.5), None);
        assert_eq!(h.mean(), None);
        h.record(Duration::from_secs(1000));
        assert_eq!(h.clamped(), 1);
        assert_eq!(h.max(), Some(Duration::from_secs(1000)));
    }
}
