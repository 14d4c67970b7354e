//! Folded data: one time slot (sparse, small) and the running totals of a window (dense).

use std::collections::BTreeMap;

use opentelemetry::trace::TraceId;

use super::buckets;
/// Recent failures kept per series per slot as exemplars.
pub(crate) const FAILURE_EXEMPLARS: usize = 4;
/// Slowest requests kept per slot as exemplars.
pub(crate) const SLOWEST_EXEMPLARS: usize = 3;

/// A request kept as an exemplar: its trace, and what a reader shows beside it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Traced {
    pub(crate) trace: TraceId,
    /// Its duration.
    pub(crate) ns: u64,
    /// Its response status.
    pub(crate) status: u16,
    /// Its series (route) index.
    pub(crate) series: u32,
    /// Wall-clock second of the fold that drained it.
    pub(crate) at_s: u64,
}

/// What happened in one slot of time for one series. Buckets are sparse (sorted indices and
/// their counts, 6 bytes an entry), so an idle or narrow series costs little and a slot is
/// never more than about 5 KiB.
#[derive(Clone, Debug)]
pub(crate) struct Slot {
    pub(crate) count: u64,
    pub(crate) errors: u64,
    pub(crate) sum_ns: u64,
    pub(crate) clamped: u64,
    pub(crate) min_ns: u64,
    pub(crate) max_ns: u64,
    idx: Vec<u16>,
    n: Vec<u32>,
    pub(crate) status: Vec<(u16, u32)>,
    pub(crate) slowest: Vec<Traced>,
    pub(crate) failures: Vec<Traced>,
}

impl Default for Slot {
    fn default() -> Self {
        Self {
            count: 0,
            errors: 0,
            sum_ns: 0,
            clamped: 0,
            min_ns: u64::MAX,
            max_ns: 0,
            idx: Vec::new(),
            n: Vec::new(),
            status: Vec::new(),
            slowest: Vec::new(),
            failures: Vec::new(),
        }
    }
}

impl Slot {
    pub(crate) fn add_bucket(&mut self, i: usize, c: u64) {
        let i = i as u16;
        let c = u32::try_from(c).unwrap_or(u32::MAX);
        match self.idx.binary_search(&i) {
            Ok(p) => self.n[p] = self.n[p].saturating_add(c),
            Err(p) => {
                self.idx.insert(p, i);
                self.n.insert(p, c);
            }
        }
    }

    pub(crate) fn add_status(&mut self, code: u16, c: u64) {
        let c = u32::try_from(c).unwrap_or(u32::MAX);
        match self.status.binary_search_by_key(&code, |(k, _)| *k) {
            Ok(p) => self.status[p].1 = self.status[p].1.saturating_add(c),
            Err(p) => self.status.insert(p, (code, c)),
        }
    }

    pub(crate) fn offer_slowest(&mut self, e: Traced) {
        self.slowest.push(e);
        self.slowest.sort_by_key(|a| std::cmp::Reverse(a.ns));
        self.slowest.truncate(SLOWEST_EXEMPLARS);
    }

    pub(crate) fn push_failure(&mut self, t: Traced) {
        if self.failures.len() == FAILURE_EXEMPLARS {
            self.failures.remove(0);
        }
        self.failures.push(t);
    }

    /// Whether the slot holds nothing. A slot can hold statuses or a latency sum without a
    /// count (their requests' buckets were drained a slot earlier, or later), and must still
    /// be kept: dropping one loses that sum and skews every mean over the window.
    pub(crate) fn is_empty(&self) -> bool {
        self.count == 0
            && self.status.is_empty()
            && self.errors == 0
            && self.sum_ns == 0
            && self.clamped == 0
    }

    /// Makes the extremes agree with the histogram. The minimum and maximum are drained apart
    /// from the buckets, so a racing request can leave a slot with requests but without their
    /// extremes (`min > max`, or an extreme outside the buckets it counts): such an extreme is
    /// replaced by the bound of the first or last bucket, and a slot without requests keeps
    /// none, so no reader ever sees `min > max`.
    pub(crate) fn settle_extremes(&mut self) {
        let (Some(&first), Some(&last)) = (self.idx.first(), self.idx.last()) else {
            self.min_ns = u64::MAX;
            self.max_ns = 0;
            return;
        };
        let (first, last) = (usize::from(first), usize::from(last));
        let lo = buckets::lower(first);
        let hi = buckets::upper(last);
        let in_range = |v: u64| v.clamp(buckets::MIN_NS, buckets::MAX_NS);
        if in_range(self.min_ns) > buckets::upper(first) {
            self.min_ns = lo;
        }
        if in_range(self.max_ns) < buckets::lower(last) {
            self.max_ns = hi;
        }
        if self.min_ns > self.max_ns {
            (self.min_ns, self.max_ns) = (lo, hi);
        }
    }

    pub(crate) fn buckets(&self) -> impl Iterator<Item = (usize, u64)> + '_ {
        self.idx
            .iter()
            .zip(&self.n)
            .map(|(&i, &n)| (usize::from(i), u64::from(n)))
    }

    /// Adds `other` into this slot (building 10 s and 1 min slots, and the service series).
    pub(crate) fn merge(&mut self, other: &Slot) {
        if other.is_empty() {
            return;
        }
        self.count += other.count;
        self.errors += other.errors;
        self.sum_ns += other.sum_ns;
        self.clamped += other.clamped;
        self.min_ns = self.min_ns.min(other.min_ns);
        self.max_ns = self.max_ns.max(other.max_ns);
        for (i, c) in other.buckets() {
            self.add_bucket(i, c);
        }
        for &(code, c) in &other.status {
            self.add_status(code, u64::from(c));
        }
        for &e in &other.slowest {
            self.offer_slowest(e);
        }
        for &t in &other.failures {
            self.push_failure(t);
        }
    }

    /// Requests at or under `threshold_ns`, by bucket midpoint.
    pub(crate) fn count_at_most(&self, threshold_ns: u64) -> u64 {
        self.buckets()
            .filter(|(i, _)| buckets::midpoint(*i) <= threshold_ns as f64)
            .map(|(_, c)| c)
            .sum()
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.idx.capacity() * 2
            + self.n.capacity() * 4
            + self.status.capacity() * std::mem::size_of::<(u16, u32)>()
            + self.slowest.capacity() * std::mem::size_of::<Traced>()
            + self.failures.capacity() * std::mem::size_of::<Traced>()
    }
}

/// Running totals of a window: the sum of its slots, kept by adding each new slot and
/// subtracting each expired one, so reading a window never sums its slots.
#[derive(Clone, Debug)]
pub(crate) struct Totals {
    pub(crate) count: u64,
    pub(crate) errors: u64,
    pub(crate) sum_ns: u64,
    pub(crate) clamped: u64,
    pub(crate) buckets: Box<[u64]>,
    pub(crate) status: BTreeMap<u16, u64>,
}

impl Default for Totals {
    fn default() -> Self {
        Self {
            count: 0,
            errors: 0,
            sum_ns: 0,
            clamped: 0,
            buckets: vec![0; buckets::COUNT].into_boxed_slice(),
            status: BTreeMap::new(),
        }
    }
}

impl Totals {
    pub(crate) fn is_empty(&self) -> bool {
        self.count == 0
            && self.status.is_empty()
            && self.errors == 0
            && self.sum_ns == 0
            && self.clamped == 0
    }

    pub(crate) fn add(&mut self, s: &Slot) {
        if s.is_empty() {
            return;
        }
        self.count += s.count;
        self.errors += s.errors;
        self.sum_ns += s.sum_ns;
        self.clamped += s.clamped;
        for (i, c) in s.buckets() {
            self.buckets[i] += c;
        }
        for &(code, c) in &s.status {
            *self.status.entry(code).or_default() += u64::from(c);
        }
    }

    pub(crate) fn sub(&mut self, s: &Slot) {
        if s.is_empty() {
            return;
        }
        self.count -= s.count;
        self.errors -= s.errors;
        self.sum_ns -= s.sum_ns;
        self.clamped -= s.clamped;
        for (i, c) in s.buckets() {
            self.buckets[i] -= c;
        }
        for &(code, c) in &s.status {
            if let Some(v) = self.status.get_mut(&code) {
                *v -= u64::from(c);
                if *v == 0 {
                    self.status.remove(&code);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extremes_drained_apart_from_their_buckets_are_settled() {
        let (i, _) = buckets::index(5_000_000);
        // The request's bucket is here, its extremes went to the next slot.
        let mut s = Slot::default();
        s.add_bucket(i, 1);
        s.count = 1;
        s.settle_extremes();
        assert!(s.min_ns <= 5_000_000 && s.max_ns >= 5_000_000 && s.min_ns <= s.max_ns);
        // Extremes without a request: none kept.
        let mut e = Slot {
            min_ns: 7,
            max_ns: 9,
            ..Slot::default()
        };
        e.settle_extremes();
        assert_eq!((e.min_ns, e.max_ns), (u64::MAX, 0));
        // Honest extremes, including a clamped one below the range, are kept.
        let mut k = Slot {
            min_ns: 500,
            max_ns: 5_000_000,
            ..Slot::default()
        };
        k.add_bucket(0, 1);
        k.add_bucket(i, 1);
        k.count = 2;
        k.settle_extremes();
        assert_eq!((k.min_ns, k.max_ns), (500, 5_000_000));
    }
}
