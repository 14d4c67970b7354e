//! Lower-case hex of trace and span ids for the response headers and the access line, four
//! bytes at a time.
//!
//! Hand-written rather than the `hex` crate: its encoder looks up each half byte in a table
//! through two stepped index iterators (≈12 instructions a byte, ≈300 a response for the
//! `traceresponse` header's 25 bytes, as much again for the access line's ids); spreading four
//! bytes over a `u64` and turning all sixteen half bytes into digits at once costs a third.
//! The tests check it against `core::fmt` for every byte and length.

/// Writes the lower-case hex of `bytes` into `out[..2 * bytes.len()]`.
///
/// # Panics
/// If `out` is shorter than that (a bug in the caller: every caller passes a fixed buffer).
pub(crate) fn encode(bytes: &[u8], out: &mut [u8]) {
    let out = &mut out[..2 * bytes.len()];
    let mut chunks = bytes.chunks_exact(4);
    let mut at = 0;
    for chunk in &mut chunks {
        let v = u64::from(u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]));
        out[at..at + 8].copy_from_slice(&digits(spread(v)).to_be_bytes());
        at += 8;
    }
    for &b in chunks.remainder() {
        let two = digits(spread(u64::from(b))).to_be_bytes();
        out[at..at + 2].copy_from_slice(&two[6..]);
        at += 2;
    }
}

/// Four bytes `b0 b1 b2 b3` (big-endian, in the low half) as eight half bytes, one per byte,
/// most significant first: `hi(b0) lo(b0) hi(b1) lo(b1) …`.
fn spread(v: u64) -> u64 {
    // One byte per 16-bit lane: b0 << 48 | b1 << 32 | b2 << 16 | b3.
    let v = ((v & 0xFFFF_0000) << 16) | (v & 0xFFFF);
    let v = ((v & 0x0000_FF00_0000_FF00) << 8) | (v & 0x0000_00FF_0000_00FF);
    // In each lane, the high half byte moves up a byte: (b >> 4) << 8 | (b & 0xF).
    ((v & 0x00F0_00F0_00F0_00F0) << 4) | (v & 0x000F_000F_000F_000F)
}

/// Each byte `n` (0..=15) of `v` as its lower-case hex digit. No byte carries into the next:
/// `n + 6` and `'0' + n + 39` both stay below 256.
fn digits(v: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    // 1 in each byte whose value is 10 or more.
    let letter = ((v + 6 * ONES) >> 4) & ONES;
    v + u64::from(b'0') * ONES + letter * u64::from(b'a' - b'0' - 10)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn every_byte_in_every_position_matches_core_fmt() {
        let all: Vec<u8> = (0..=255).collect();
        for shift in 0..4 {
            let bytes = &all[shift..];
            let mut out = vec![0; 2 * bytes.len()];
            encode(bytes, &mut out);
            assert_eq!(String::from_utf8(out).unwrap(), fmt(bytes));
        }
    }

    #[test]
    fn every_length_up_to_a_trace_id_and_more() {
        let bytes: Vec<u8> = (0..40u8)
            .map(|i| i.wrapping_mul(97).wrapping_add(13))
            .collect();
        for len in 0..=bytes.len() {
            let mut out = vec![b'_'; 2 * len + 3];
            encode(&bytes[..len], &mut out);
            assert_eq!(&out[..2 * len], fmt(&bytes[..len]).as_bytes(), "{len}");
            assert_eq!(&out[2 * len..], b"___", "{len}: wrote past its part");
        }
    }
}
