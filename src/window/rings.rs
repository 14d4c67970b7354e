//! Rings of time slots per series, and the running totals of the 1 m, 5 m and 1 h windows.
//!
//! - 1 m: the last 60 one-second slots.
//! - 5 m: the last 30 complete ten-second slots plus the current, partial one.
//! - 1 h: the last 60 complete one-minute slots plus the current, partial one.
//!
//! Coarser slots for longer windows keep memory bounded (150 sparse slots a series, at most
//! about 780 KiB however high the rate); the price is that the 5 m and 1 h windows advance in
//! steps of 10 s and 1 min. Throughput trends compare a window with the one before it, from
//! per-slot counts kept for twice the window.

use std::collections::VecDeque;

use super::slot::{Slot, Totals};

/// A ring of slots with its running totals.
#[derive(Debug)]
pub(crate) struct Ring {
    cap: usize,
    pub(crate) slots: VecDeque<Slot>,
    pub(crate) totals: Totals,
}

impl Ring {
    fn new(cap: usize) -> Self {
        Self {
            cap,
            slots: VecDeque::with_capacity(cap),
            totals: Totals::default(),
        }
    }

    fn push(&mut self, slot: Slot) {
        // Expire first: pushing onto a full deque would double its capacity.
        if self.slots.len() == self.cap
            && let Some(old) = self.slots.pop_front()
        {
            self.totals.sub(&old);
        }
        self.totals.add(&slot);
        self.slots.push_back(slot);
    }

    /// `n` empty slots: at most `cap` pushes, since more would only expire the empty ones.
    fn push_empty(&mut self, n: u64) {
        for _ in 0..n.min(self.cap as u64) {
            self.push(Slot::default());
        }
    }
}

/// Counts per slot kept for twice a window, for its throughput trend.
#[derive(Debug)]
pub(crate) struct History {
    cap: usize,
    counts: VecDeque<u64>,
}

impl History {
    fn new(window_slots: usize) -> Self {
        Self {
            cap: window_slots * 2,
            counts: VecDeque::with_capacity(window_slots * 2),
        }
    }

    fn push(&mut self, count: u64) {
        if self.counts.len() == self.cap {
            self.counts.pop_front();
        }
        self.counts.push_back(count);
    }

    fn push_zeros(&mut self, n: u64) {
        for _ in 0..n.min(self.cap as u64) {
            self.push(0);
        }
    }

    /// (this window, the previous window) in requests, once both are fully covered.
    pub(crate) fn this_and_previous(&self) -> Option<(u64, u64)> {
        if self.counts.len() < self.cap {
            return None;
        }
        let half = self.cap / 2;
        let prev = self.counts.iter().take(half).sum();
        let this = self.counts.iter().skip(half).sum();
        Some((this, prev))
    }
}

/// The three windows of one series.
#[derive(Debug)]
pub(crate) struct SeriesWindows {
    pub(crate) seconds: Ring,
    pub(crate) tens: Ring,
    pub(crate) tens_pending: Slot,
    pub(crate) tens_fill: u64,
    pub(crate) minutes: Ring,
    pub(crate) minutes_pending: Slot,
    pub(crate) minutes_fill: u64,
    pub(crate) seconds_history: History,
    pub(crate) tens_history: History,
    pub(crate) minutes_history: History,
}

impl Default for SeriesWindows {
    fn default() -> Self {
        Self {
            seconds: Ring::new(60),
            tens: Ring::new(30),
            tens_pending: Slot::default(),
            tens_fill: 0,
            minutes: Ring::new(60),
            minutes_pending: Slot::default(),
            minutes_fill: 0,
            seconds_history: History::new(60),
            tens_history: History::new(30),
            minutes_history: History::new(60),
        }
    }
}

impl SeriesWindows {
    /// A series created after `pushes` seconds have been folded: its 10 s and 1 min slots
    /// start where the service's do, so every series' windows cover the same seconds.
    pub(crate) fn aligned(pushes: u64) -> Self {
        Self {
            tens_fill: pushes % 10,
            minutes_fill: pushes % 60,
            ..Self::default()
        }
    }

    /// Adds one second of data.
    pub(crate) fn push_second(&mut self, slot: Slot) {
        self.tens_pending.merge(&slot);
        self.tens_fill += 1;
        if self.tens_fill == 10 {
            let done = std::mem::take(&mut self.tens_pending);
            self.tens_history.push(done.count);
            self.tens.push(done);
            self.tens_fill = 0;
        }
        self.minutes_pending.merge(&slot);
        self.minutes_fill += 1;
        if self.minutes_fill == 60 {
            let done = std::mem::take(&mut self.minutes_pending);
            self.minutes_history.push(done.count);
            self.minutes.push(done);
            self.minutes_fill = 0;
        }
        self.seconds_history.push(slot.count);
        self.seconds.push(slot);
    }

    /// `n` seconds without requests: the same windows as `n` calls to
    /// [`push_second`](Self::push_second) with empty slots, in O(slots) whatever `n`, so a
    /// long pause costs one bounded pass under the state lock.
    pub(crate) fn skip_seconds(&mut self, n: u64) {
        if n == 0 {
            return;
        }
        skip_coarse(
            &mut self.tens,
            &mut self.tens_pending,
            &mut self.tens_fill,
            &mut self.tens_history,
            10,
            n,
        );
        skip_coarse(
            &mut self.minutes,
            &mut self.minutes_pending,
            &mut self.minutes_fill,
            &mut self.minutes_history,
            60,
            n,
        );
        self.seconds_history.push_zeros(n);
        self.seconds.push_empty(n);
    }

    /// Whether the series has had no request in the last hour (it can be dropped).
    pub(crate) fn is_idle(&self) -> bool {
        self.minutes.totals.is_empty()
            && self.minutes_pending.is_empty()
            && self.seconds.totals.is_empty()
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        let ring = |r: &Ring| {
            r.slots
                .iter()
                .map(|s| s.heap_bytes() + std::mem::size_of::<Slot>())
                .sum::<usize>()
                + r.totals.buckets.len() * 8
                + r.totals.status.len() * 32
        };
        ring(&self.seconds)
            + ring(&self.tens)
            + ring(&self.minutes)
            + self.tens_pending.heap_bytes()
            + self.minutes_pending.heap_bytes()
            + (self.seconds_history.cap + self.tens_history.cap + self.minutes_history.cap) * 8
    }
}

/// `n` empty seconds through a ring of `step`-second slots filled `fill` seconds: the
/// pending slot completes (data and all) if the seconds reach its end, then empty slots.
fn skip_coarse(
    ring: &mut Ring,
    pending: &mut Slot,
    fill: &mut u64,
    history: &mut History,
    step: u64,
    n: u64,
) {
    let total = *fill + n;
    let completed = total / step;
    if completed > 0 {
        let done = std::mem::take(pending);
        history.push(done.count);
        ring.push(done);
        history.push_zeros(completed - 1);
        ring.push_empty(completed - 1);
    }
    *fill = total % step;
}

/// Pushes onto a deque kept at `cap` entries.
fn push_capped(q: &mut VecDeque<LongCounts>, c: LongCounts, cap: usize) {
    if q.len() == cap {
        q.pop_front();
    }
    q.push_back(c);
}

/// Counts for SLOs over long windows (up to 30 days), service-wide: per minute for 3 days, per
/// hour for 30 days, each with the current partial slot.
#[derive(Debug)]
pub(crate) struct LongHistory {
    pub(crate) minutes: VecDeque<LongCounts>,
    pub(crate) minute_pending: LongCounts,
    minute_fill: u64,
    pub(crate) hours: VecDeque<LongCounts>,
    pub(crate) hour_pending: LongCounts,
    hour_fill: u64,
}

/// Requests, errors and requests slower than each latency objective.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LongCounts {
    /// Requests.
    pub total: u64,
    /// Requests counted as errors.
    pub errors: u64,
    /// Requests slower than each configured latency threshold, in order.
    pub slow: [u64; MAX_LATENCY_OBJECTIVES],
}

/// How many latency thresholds the long history tracks.
pub const MAX_LATENCY_OBJECTIVES: usize = 4;
const MINUTES_KEPT: usize = 3 * 24 * 60;
const HOURS_KEPT: usize = 30 * 24;

impl LongCounts {
    fn add(&mut self, o: &LongCounts) {
        self.total += o.total;
        self.errors += o.errors;
        for (a, b) in self.slow.iter_mut().zip(o.slow) {
            *a += b;
        }
    }
}

impl Default for LongHistory {
    fn default() -> Self {
        Self {
            minutes: VecDeque::with_capacity(MINUTES_KEPT),
            minute_pending: LongCounts::default(),
            minute_fill: 0,
            hours: VecDeque::with_capacity(HOURS_KEPT),
            hour_pending: LongCounts::default(),
            hour_fill: 0,
        }
    }
}

impl LongHistory {
    pub(crate) fn push_second(&mut self, c: LongCounts) {
        self.minute_pending.add(&c);
        self.minute_fill += 1;
        if self.minute_fill == 60 {
            push_capped(
                &mut self.minutes,
                std::mem::take(&mut self.minute_pending),
                MINUTES_KEPT,
            );
            self.minute_fill = 0;
        }
        self.hour_pending.add(&c);
        self.hour_fill += 1;
        if self.hour_fill == 3600 {
            push_capped(
                &mut self.hours,
                std::mem::take(&mut self.hour_pending),
                HOURS_KEPT,
            );
            self.hour_fill = 0;
        }
    }

    /// `n` seconds without requests, as `n` empty [`push_second`](Self::push_second)s would,
    /// in at most one pass over the kept slots whatever `n`.
    pub(crate) fn skip_seconds(&mut self, n: u64) {
        for (q, pending, fill, step, cap) in [
            (
                &mut self.minutes,
                &mut self.minute_pending,
                &mut self.minute_fill,
                60,
                MINUTES_KEPT,
            ),
            (
                &mut self.hours,
                &mut self.hour_pending,
                &mut self.hour_fill,
                3600,
                HOURS_KEPT,
            ),
        ] {
            let total = *fill + n;
            let completed = total / step;
            if completed > 0 {
                push_capped(q, std::mem::take(pending), cap);
                for _ in 0..(completed - 1).min(cap as u64) {
                    push_capped(q, LongCounts::default(), cap);
                }
            }
            *fill = total % step;
        }
    }

    /// Counts over the last `minutes` minutes: the current partial minute plus complete
    /// minutes (up to 3 days), or complete hours beyond that.
    pub(crate) fn over_minutes(&self, minutes: u64) -> LongCounts {
        let mut sum = LongCounts::default();
        if minutes <= MINUTES_KEPT as u64 {
            sum.add(&self.minute_pending);
            for c in self
                .minutes
                .iter()
                .rev()
                .take(minutes.saturating_sub(1) as usize)
            {
                sum.add(c);
            }
        } else {
            sum.add(&self.hour_pending);
            let hours = minutes.div_ceil(60);
            for c in self
                .hours
                .iter()
                .rev()
                .take(hours.saturating_sub(1) as usize)
            {
                sum.add(c);
            }
        }
        sum
    }
}
