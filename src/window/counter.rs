//! Counters of a shard: written with a plain load and store by the thread that owns the
//! shard, with an atomic add by the threads that share the overflow shard. The live series
//! and the cumulative counters both count this way (see [`super::live`]).

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// Adds `by` to a counter: a plain load and store when the calling thread owns the shard
/// (`alone`), an atomic add otherwise.
#[inline(always)]
pub(crate) fn bump32(c: &AtomicU32, by: u32, alone: bool) {
    if alone {
        c.store(
            c.load(Ordering::Relaxed).wrapping_add(by),
            Ordering::Relaxed,
        );
    } else {
        c.fetch_add(by, Ordering::Relaxed);
    }
}

/// [`bump32`] for a 64-bit counter.
#[inline(always)]
pub(crate) fn bump64(c: &AtomicU64, by: u64, alone: bool) {
    if alone {
        c.store(
            c.load(Ordering::Relaxed).wrapping_add(by),
            Ordering::Relaxed,
        );
    } else {
        c.fetch_add(by, Ordering::Relaxed);
    }
}
