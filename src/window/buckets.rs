//! The log-linear latency bucket layout: 32 linear sub-buckets per power of two, over
//! nanoseconds, from 1 µs to 100 s.
//!
//! A value `v` in the octave `[2^e, 2^(e+1))` falls in one of 32 equal sub-buckets of width
//! `2^(e-5)`, so a bucket is never wider than 1/32 of its lower bound. Reporting the bucket's
//! midpoint is therefore within **1/64 (1.5625 %)** of any value in it: that is the relative
//! error bound of every quantile (nearest-rank definition) inside the range.

/// Sub-bucket bits: 2^5 = 32 sub-buckets per octave.
pub const SUB_BITS: u32 = 5;
const SUB: usize = 1 << SUB_BITS;
/// Smallest tracked latency; smaller values are clamped up to it and counted.
pub const MIN_NS: u64 = 1_000;
/// Largest tracked latency; larger values are clamped down to it and counted.
pub const MAX_NS: u64 = 100_000_000_000;
/// Guaranteed relative error of a reported quantile for values in range.
pub const RELATIVE_ERROR_BOUND: f64 = 1.0 / (2 * SUB) as f64;

const fn raw_index(v: u64) -> usize {
    if v < (2 * SUB) as u64 {
        return v as usize;
    }
    let exp = 63 - v.leading_zeros();
    let shift = exp - SUB_BITS;
    (shift as usize) * SUB + (v >> shift) as usize
}

const fn raw_lower(i: usize) -> u64 {
    if i < 2 * SUB {
        return i as u64;
    }
    let shift = (i / SUB - 1) as u32;
    let sub = (i % SUB + SUB) as u64;
    sub << shift
}

const fn raw_width(i: usize) -> u64 {
    if i < 2 * SUB { 1 } else { 1 << (i / SUB - 1) }
}

const FIRST: usize = raw_index(MIN_NS);
/// Number of buckets between [`MIN_NS`] and [`MAX_NS`].
pub const COUNT: usize = raw_index(MAX_NS) - FIRST + 1;

/// The bucket of a latency in nanoseconds, and whether it was clamped into range.
#[inline]
pub fn index(ns: u64) -> (usize, bool) {
    let clamped = ns.clamp(MIN_NS, MAX_NS);
    (raw_index(clamped) - FIRST, clamped != ns)
}

/// The smallest value of bucket `i`, in nanoseconds.
pub fn lower(i: usize) -> u64 {
    raw_lower(i + FIRST)
}

/// The largest value of bucket `i`, in nanoseconds (the last bucket ends at [`MAX_NS`]).
pub fn upper(i: usize) -> u64 {
    if i + 1 >= COUNT {
        MAX_NS
    } else {
        lower(i + 1) - 1
    }
}

/// The value reported for bucket `i`: its midpoint, in nanoseconds.
pub fn midpoint(i: usize) -> f64 {
    let raw = i + FIRST;
    raw_lower(raw) as f64 + raw_width(raw) as f64 / 2.0
}

/// The nearest-rank `q`-quantile (0 < q ≤ 1) of `total` values counted in `buckets`, as the
/// bucket midpoint bounded by the observed `[min, max]`.
///
/// `None` only when `buckets` holds nothing: should `total` exceed what the buckets hold, a
/// rank past their end is their highest value, never a missing figure. Bounds with
/// `min > max` never panic.
pub fn quantile(buckets: &[u64], total: u64, q: f64, min: u64, max: u64) -> Option<f64> {
    if total == 0 {
        return None;
    }
    let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
    let bound = |i: usize| midpoint(i).max(min as f64).min(max as f64);
    let mut seen = 0u64;
    let mut highest = None;
    for (i, &c) in buckets.iter().enumerate() {
        if c == 0 {
            continue;
        }
        seen += c;
        highest = Some(i);
        if seen >= rank {
            // max/min rather than clamp: no panic, whatever the bounds.
            return Some(bound(i));
        }
    }
    highest.map(bound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_contiguous_and_monotonic() {
        for i in 0..COUNT - 1 {
            let hi = lower(i + 1);
            assert!(hi > lower(i));
            let (j, _) = index(hi - 1);
            assert_eq!(j, i, "value {} should be in bucket {i}", hi - 1);
            assert_eq!(index(hi).0, i + 1);
        }
        const { assert!(COUNT < 1000) };
    }

    #[test]
    fn every_bucket_is_within_the_error_bound() {
        // For v in [lo, lo + w) and mid = lo + w/2: |mid - v| / v <= (w/2) / lo.
        for i in 0..COUNT {
            let lo = lower(i) as f64;
            let mid = midpoint(i);
            assert!(
                (mid - lo) / lo <= RELATIVE_ERROR_BOUND + 1e-12,
                "bucket {i}"
            );
            if i + 1 < COUNT {
                assert_eq!(mid - lo, (lower(i + 1) as f64 - lo) / 2.0, "bucket {i}");
            }
        }
    }

    #[test]
    fn out_of_range_values_are_clamped_and_flagged() {
        assert_eq!(index(1), (0, true));
        assert_eq!(index(MIN_NS), (0, false));
        assert_eq!(index(u64::MAX), (COUNT - 1, true));
        assert_eq!(index(MAX_NS), (COUNT - 1, false));
    }

    #[test]
    fn quantile_never_panics_and_is_missing_only_without_values() {
        let mut b = vec![0u64; COUNT];
        let (i, _) = index(5_000_000);
        b[i] = 3;
        // Inverted bounds (a drain raced a request): a value, no panic.
        assert!(quantile(&b, 3, 0.99, 9_000_000, 1_000_000).is_some());
        // A count larger than the buckets hold: the highest value, not None.
        let q = quantile(&b, 4, 0.99, MIN_NS, MAX_NS).unwrap();
        assert!((q - 5e6).abs() / 5e6 <= RELATIVE_ERROR_BOUND);
        assert_eq!(quantile(&vec![0; COUNT], 4, 0.5, MIN_NS, MAX_NS), None);
        for i in 0..COUNT {
            assert!(upper(i) >= lower(i) && (i + 1 == COUNT || upper(i) + 1 == lower(i + 1)));
        }
    }
}
