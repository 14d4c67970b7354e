//! The latest exemplar of one all-time histogram bucket: the trace id of a sampled request
//! that landed in it, its duration and when it finished, for OpenMetrics exemplars on
//! `/metrics` (a latency panel's dot that opens the trace).
//!
//! A bucket takes at most one exemplar per *epoch* (the aggregator's fold counter, one a
//! second): the record path compares the slot's epoch with the current one (one relaxed load)
//! and only the first sampled request of a new second writes. That write claims the slot with
//! one compare-and-swap, reads the wall clock and stores the fields, seqlock style, so that a
//! reader never sees the trace id of one request with the duration of another; a writer that
//! loses the race, or finds the slot being written, leaves it (the exemplar is a sample, not a
//! count). So a scrape sees, per bucket, the first sampled request of the latest second that
//! had one: at most a second older than the newest.

use std::sync::atomic::{AtomicU64, Ordering, fence};
use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry::trace::TraceId;

/// One bucket's exemplar, as [`RequestTotals`](super::RequestTotals) lists it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BucketExemplar {
    /// The sampled request's trace.
    pub trace_id: TraceId,
    /// Its duration, in nanoseconds.
    pub duration_ns: u64,
    /// When it was recorded, in milliseconds since the Unix epoch.
    pub unix_ms: u64,
}

/// `stamp` is `epoch << 1`, with the low bit set while a writer stores the fields; 0 means
/// never written (epochs start at 1).
#[derive(Default)]
pub(crate) struct ExemplarSlot {
    stamp: AtomicU64,
    trace_hi: AtomicU64,
    trace_lo: AtomicU64,
    ns: AtomicU64,
    unix_ms: AtomicU64,
}

impl ExemplarSlot {
    /// Offers a sampled request; kept if the slot has none from `epoch` yet.
    #[inline]
    pub(crate) fn offer(&self, epoch: u64, trace: TraceId, ns: u64) {
        let seen = self.stamp.load(Ordering::Relaxed);
        if seen >> 1 != epoch && seen & 1 == 0 {
            self.write(seen, epoch, trace, ns);
        }
    }

    #[cold]
    #[inline(never)]
    fn write(&self, seen: u64, epoch: u64, trace: TraceId, ns: u64) {
        if self
            .stamp
            .compare_exchange(seen, epoch << 1 | 1, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return;
        }
        // The fields' stores stay after the odd stamp (the reader's second stamp load sees
        // it, or a later one, whenever it saw any of them).
        fence(Ordering::Release);
        let unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let b = trace.to_bytes();
        let (hi, lo) = b.split_at(8);
        self.trace_hi.store(
            u64::from_be_bytes(hi.try_into().unwrap_or_default()),
            Ordering::Relaxed,
        );
        self.trace_lo.store(
            u64::from_be_bytes(lo.try_into().unwrap_or_default()),
            Ordering::Relaxed,
        );
        self.ns.store(ns, Ordering::Relaxed);
        self.unix_ms.store(unix_ms, Ordering::Relaxed);
        self.stamp.store(epoch << 1, Ordering::Release);
    }

    /// The slot's exemplar, `None` if never written (or being rewritten through every try).
    pub(crate) fn read(&self) -> Option<BucketExemplar> {
        for _ in 0..8 {
            let before = self.stamp.load(Ordering::Acquire);
            if before == 0 {
                return None;
            }
            if before & 1 == 1 {
                std::hint::spin_loop();
                continue;
            }
            let hi = self.trace_hi.load(Ordering::Relaxed);
            let lo = self.trace_lo.load(Ordering::Relaxed);
            let duration_ns = self.ns.load(Ordering::Relaxed);
            let unix_ms = self.unix_ms.load(Ordering::Relaxed);
            fence(Ordering::Acquire);
            if self.stamp.load(Ordering::Relaxed) == before {
                let mut bytes = [0; 16];
                bytes[..8].copy_from_slice(&hi.to_be_bytes());
                bytes[8..].copy_from_slice(&lo.to_be_bytes());
                return Some(BucketExemplar {
                    trace_id: TraceId::from_bytes(bytes),
                    duration_ns,
                    unix_ms,
                });
            }
        }
        None
    }
}

/// Keeps the newer of two exemplars (shards are read one after the other).
pub(crate) fn newer(
    a: Option<BucketExemplar>,
    b: Option<BucketExemplar>,
) -> Option<BucketExemplar> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if b.unix_ms > a.unix_ms { b } else { a }),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trace(n: u8) -> TraceId {
        TraceId::from_bytes([n; 16])
    }

    #[test]
    fn one_exemplar_per_epoch_and_a_new_epoch_replaces_it() {
        let s = ExemplarSlot::default();
        assert_eq!(s.read(), None);
        s.offer(1, trace(1), 10);
        s.offer(1, trace(2), 20);
        let e = s.read().expect("written");
        assert_eq!((e.trace_id, e.duration_ns), (trace(1), 10));
        assert!(e.unix_ms > 1_700_000_000_000);
        s.offer(2, trace(3), 30);
        assert_eq!(
            s.read().map(|e| (e.trace_id, e.duration_ns)),
            Some((trace(3), 30))
        );
    }

    #[test]
    fn readers_never_see_a_trace_id_with_another_requests_duration() {
        // Writers pair trace n with duration n; a torn read would mix them.
        let s = std::sync::Arc::new(ExemplarSlot::default());
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writers: Vec<_> = (0..2u64)
            .map(|k| {
                let (s, stop) = (s.clone(), stop.clone());
                std::thread::spawn(move || {
                    let mut epoch = 1 + k;
                    while !stop.load(Ordering::Relaxed) {
                        let n = (epoch % 250) as u8 + 1;
                        s.offer(epoch, trace(n), u64::from(n));
                        epoch += 2;
                    }
                })
            })
            .collect();
        let mut seen = 0;
        // At least 200,000 reads, and on until the writers have been scheduled often enough
        // for the reads to race them (a loaded 2-core machine can run the whole loop first).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let mut reads = 0u64;
        while reads < 200_000 || (seen < 10_000 && std::time::Instant::now() < deadline) {
            reads += 1;
            if let Some(e) = s.read() {
                let n = e.trace_id.to_bytes()[0];
                assert!(e.trace_id.to_bytes().iter().all(|b| *b == n), "{e:?}");
                assert_eq!(u64::from(n), e.duration_ns, "{e:?}");
                seen += 1;
            }
        }
        stop.store(true, Ordering::Relaxed);
        for w in writers {
            w.join().unwrap();
        }
        assert!(seen > 0);
    }

    #[test]
    fn newer_keeps_the_later_one() {
        let e = |ms| {
            Some(BucketExemplar {
                trace_id: trace(1),
                duration_ns: 1,
                unix_ms: ms,
            })
        };
        assert_eq!(newer(e(1), e(2)), e(2));
        assert_eq!(newer(e(3), e(2)), e(3));
        assert_eq!(newer(None, e(2)), e(2));
        assert_eq!(newer(None, None), None);
    }
}
