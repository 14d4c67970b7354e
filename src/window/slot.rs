//! Folded data: one time slot (sparse, small) and the running totals of a window (dense).

use std::collections::BTreeMap;

use opentelemetry::trace::TraceId;

use super::buckets;
use super::live::FAILURE_EXEMPLARS;

/// Slowest requests kept per slot as exemplars.
pub(crate) const SLOWEST_EXEMPLARS: usize = 3;

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
    pub(crate) slowest: Vec<(u64, TraceId)>,
    pub(crate) failures: Vec<TraceId>,
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

    pub(crate) fn offer_slowest(&mut self, ns: u64, t: TraceId) {
        self.slowest.push((ns, t));
        self.slowest.sort_by_key(|a| std::cmp::Reverse(a.0));
        self.slowest.truncate(SLOWEST_EXEMPLARS);
    }

    pub(crate) fn push_failure(&mut self, t: TraceId) {
        if self.failures.len() == FAILURE_EXEMPLARS {
            self.failures.remove(0);
        }
        self.failures.push(t);
    }

    pub(crate) fn buckets(&self) -> impl Iterator<Item = (usize, u64)> + '_ {
        self.idx
            .iter()
            .zip(&self.n)
            .map(|(&i, &n)| (usize::from(i), u64::from(n)))
    }

    /// Adds `other` into this slot (building 10 s and 1 min slots, and the service series).
    pub(crate) fn merge(&mut self, other: &Slot) {
        if other.count == 0 {
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
        for &(ns, t) in &other.slowest {
            self.offer_slowest(ns, t);
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
            + self.slowest.capacity() * std::mem::size_of::<(u64, TraceId)>()
            + self.failures.capacity() * std::mem::size_of::<TraceId>()
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
    pub(crate) fn add(&mut self, s: &Slot) {
        if s.count == 0 {
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
        if s.count == 0 {
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
