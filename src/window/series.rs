//! Per-slot history of the service over one window, for charts: what each slot of the ring
//! already holds (count, errors, sparse histogram), read without touching the hot path.

use serde::Serialize;

use super::buckets;
use super::rings::{Ring, SeriesWindows};
use super::slot::Slot;
use super::snapshot::Window;

/// One slot of a [`Series`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SeriesPoint {
    /// Unix second at which the slot starts.
    pub t: u64,
    /// Seconds the slot covers: the window's step, less for the current, partial slot.
    pub span_s: u64,
    /// Requests.
    pub requests: u64,
    /// Requests counted as errors.
    pub errors: u64,
    /// `errors / requests`, 0 without requests.
    pub error_rate: f64,
    /// Requests per second over the slot.
    pub rps: f64,
    /// Median latency in milliseconds; `None` without requests.
    pub p50: Option<f64>,
    /// 95th percentile latency in milliseconds; `None` without requests.
    pub p95: Option<f64>,
    /// 99th percentile latency in milliseconds; `None` without requests.
    pub p99: Option<f64>,
}

/// The service's slots over one window, oldest first: 1 s points for `1m` (up to 60),
/// 10 s points for `5m` and 1 min points for `1h` (up to 31 and 61, the last one partial).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Series {
    /// Which window.
    pub window: Window,
    /// Seconds per complete slot.
    pub step_s: u64,
    /// The slots, oldest first; idle slots are included with zero requests.
    pub points: Vec<SeriesPoint>,
}

impl Series {
    /// `last_tick_s`: the clock second of the latest fold, where the newest slot ends.
    pub(crate) fn of(series: &SeriesWindows, window: Window, last_tick_s: u64) -> Self {
        let (ring, pending, step_s) = match window {
            Window::OneMinute => (&series.seconds, None, 1),
            Window::FiveMinutes => (
                &series.tens,
                Some((&series.tens_pending, series.tens_fill)),
                10,
            ),
            Window::OneHour => (
                &series.minutes,
                Some((&series.minutes_pending, series.minutes_fill)),
                60,
            ),
        };
        Self {
            window,
            step_s,
            points: points(ring, pending, step_s, last_tick_s),
        }
    }
}

fn points(
    ring: &Ring,
    pending: Option<(&Slot, u64)>,
    step_s: u64,
    last_tick_s: u64,
) -> Vec<SeriesPoint> {
    // A pending slot that has not covered a second yet holds nothing.
    let pending = pending.filter(|(_, fill)| *fill > 0);
    let pending_s = pending.map_or(0, |(_, fill)| fill);
    let mut out = Vec::with_capacity(ring.slots.len() + 1);
    // The newest complete slot ends where the pending one starts.
    let complete_end = last_tick_s.saturating_sub(pending_s);
    let n = ring.slots.len() as u64;
    for (i, slot) in ring.slots.iter().enumerate() {
        let end = complete_end.saturating_sub((n - 1 - i as u64) * step_s);
        out.push(point(slot, end.saturating_sub(step_s), step_s));
    }
    if let Some((slot, fill)) = pending {
        out.push(point(slot, complete_end, fill));
    }
    out
}

fn point(slot: &Slot, t: u64, span_s: u64) -> SeriesPoint {
    let n = slot.count;
    let [p50, p95, p99] = quantiles(slot, [0.50, 0.95, 0.99]);
    SeriesPoint {
        t,
        span_s,
        requests: n,
        errors: slot.errors,
        error_rate: if n == 0 {
            0.0
        } else {
            (slot.errors as f64 / n as f64).min(1.0)
        },
        rps: n as f64 / span_s.max(1) as f64,
        p50,
        p95,
        p99,
    }
}

/// Nearest-rank quantiles of a slot's sparse histogram in one pass (`qs` ascending), in ms,
/// as [`buckets::quantile`] reports them: the bucket midpoint bounded by the slot's extremes.
fn quantiles<const N: usize>(slot: &Slot, qs: [f64; N]) -> [Option<f64>; N] {
    let mut out = [None; N];
    let total = slot.count;
    if total == 0 {
        return out;
    }
    let lo = slot.min_ns.clamp(buckets::MIN_NS, buckets::MAX_NS) as f64;
    let hi = slot.max_ns.clamp(buckets::MIN_NS, buckets::MAX_NS) as f64;
    let ranks = qs.map(|q| ((q * total as f64).ceil() as u64).clamp(1, total));
    let mut next = 0;
    let mut seen = 0u64;
    for (i, c) in slot.buckets() {
        seen += c;
        while next < N && seen >= ranks[next] {
            // max/min rather than clamp: never a panic, whatever the slot holds.
            out[next] = Some(buckets::midpoint(i).max(lo).min(hi) / 1e6);
            next += 1;
        }
        if next == N {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::layer::{HttpMethod, RequestRecord, RouteTable};
    use crate::window::{Aggregator, AggregatorConfig, ManualClock};

    fn record(agg: &Aggregator, ms: u64, status: u16) {
        agg.record(&RequestRecord {
            method: HttpMethod::Get,
            route: None,
            status,
            duration: Duration::from_millis(ms),
            trace_id: None,
        });
    }

    /// 25 seconds: second `s` gets `s + 1` requests of `s + 1` ms, and one 503 every 10th.
    fn aggregator() -> (Aggregator, u64) {
        let start = 10_000;
        let clock = ManualClock::new(start);
        let agg = Aggregator::with_clock(
            AggregatorConfig::default(),
            Arc::new(RouteTable::default()),
            clock.clone(),
        );
        for s in 0..25u64 {
            for _ in 0..=s {
                record(&agg, s + 1, 200);
            }
            if s % 10 == 0 {
                record(&agg, 1, 503);
            }
            clock.advance(1);
            agg.tick();
        }
        (agg, start)
    }

    #[test]
    fn ten_second_points_are_contiguous_and_end_with_the_partial_slot() {
        let (agg, start) = aggregator();
        let s = agg.series(Window::FiveMinutes);
        assert_eq!(s.step_s, 10);
        let spans: Vec<(u64, u64, u64, u64)> = s
            .points
            .iter()
            .map(|p| (p.t, p.span_s, p.requests, p.errors))
            .collect();
        // Seconds 0-9: 1+..+10 = 55 (+1 error); 10-19: 11+..+20 = 155 (+1); 20-24: 21+..+25.
        assert_eq!(
            spans,
            [
                (start, 10, 56, 1),
                (start + 10, 10, 156, 1),
                (start + 20, 5, 116, 1)
            ]
        );
        let last = &s.points[2];
        assert!((last.rps - 116.0 / 5.0).abs() < 1e-9);
        // Seconds 20-24 hold latencies 1 ms (the 503) and 21..=25 ms.
        let p50 = last.p50.unwrap();
        assert!((23.0 * 0.98..23.0 * 1.02).contains(&p50), "{p50}");
        assert!(last.p99.unwrap() <= 25.0 && last.p95.unwrap() >= p50);
    }

    #[test]
    fn one_second_points_cover_the_last_minute_and_idle_slots_have_no_latency() {
        let (agg, start) = aggregator();
        let s = agg.series(Window::OneMinute);
        assert_eq!(s.points.len(), 25);
        assert_eq!(s.points[0].t, start);
        assert_eq!(s.points[24].t, start + 24);
        assert_eq!(s.points[24].requests, 25);
        // Four requests of exactly 4 ms: the quantiles are bounded by the slot's extremes.
        assert_eq!(s.points[3].p50, Some(4.0));
        let s = agg.series(Window::OneHour);
        assert_eq!((s.step_s, s.points.len()), (60, 1));
        assert_eq!(s.points[0].requests, (1..=25).sum::<u64>() + 3);

        let clock = ManualClock::new(5);
        let agg = Aggregator::with_clock(
            AggregatorConfig::default(),
            Arc::new(RouteTable::default()),
            clock.clone(),
        );
        assert!(agg.series(Window::FiveMinutes).points.is_empty());
        record(&agg, 7, 200);
        clock.advance(3);
        agg.tick();
        let s = agg.series(Window::OneMinute);
        let got: Vec<(u64, u64, Option<f64>)> =
            s.points.iter().map(|p| (p.t, p.requests, p.p99)).collect();
        // Missed ticks are idle seconds; the request lands in the second of the tick.
        assert_eq!(got, [(5, 0, None), (6, 0, None), (7, 1, Some(7.0))]);
    }
}
