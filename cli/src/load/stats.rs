//! Per-worker counters: a latency histogram, status codes, errors by kind, the slowest
//! requests. Constant memory; merged into the report at the end and for live progress.

use std::time::Duration;

use super::error::{ErrorKind, RequestError};
use super::histogram::LatencyHistogram;

/// How many of the slowest requests are kept.
pub(crate) const SLOWEST: usize = 10;

#[derive(Clone, Copy, Debug)]
pub(crate) struct Slow {
    pub(crate) latency: Duration,
    pub(crate) status: u16,
    /// Since the start of measurement.
    pub(crate) at: Duration,
    pub(crate) trace: Option<(u128, u64)>,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Stats {
    /// Latency as the user sees it: from the intended send time in the open model.
    pub(crate) latency: LatencyHistogram,
    /// Open model only: from the actual send time (what a closed-model tool reports).
    pub(crate) service: LatencyHistogram,
    /// (status, count), few distinct values.
    pub(crate) statuses: Vec<(u16, u64)>,
    pub(crate) errors: [u64; ErrorKind::ALL.len()],
    pub(crate) samples: [Option<String>; ErrorKind::ALL.len()],
    pub(crate) bytes: u64,
    /// Measured requests sent (open model: for dropped sends).
    pub(crate) sent: u64,
    pub(crate) late: u64,
    pub(crate) max_lag: Duration,
    pub(crate) warmup: u64,
    pub(crate) connects: u64,
    pub(crate) slowest: Vec<Slow>,
}

impl Stats {
    pub(crate) fn response(&mut self, status: u16, bytes: u64, latency: Duration, slow: Slow) {
        self.latency.record(latency);
        self.bytes += bytes;
        match self.statuses.iter_mut().find(|(s, _)| *s == status) {
            Some((_, n)) => *n += 1,
            None => self.statuses.push((status, 1)),
        }
        if self.slowest.len() < SLOWEST || self.slowest.last().is_some_and(|s| s.latency < latency)
        {
            let at = self.slowest.partition_point(|s| s.latency >= latency);
            self.slowest.insert(at, slow);
            self.slowest.truncate(SLOWEST);
        }
    }

    pub(crate) fn error(&mut self, e: &RequestError) {
        let i = e.kind.index();
        self.errors[i] += 1;
        if self.samples[i].is_none() {
            self.samples[i] = Some(e.message.clone());
        }
    }

    pub(crate) fn requests(&self) -> u64 {
        self.latency.len() + self.errors.iter().sum::<u64>()
    }

    pub(crate) fn server_errors(&self) -> u64 {
        self.statuses
            .iter()
            .filter(|(s, _)| *s >= 500)
            .map(|(_, n)| n)
            .sum()
    }

    pub(crate) fn merge(&mut self, o: &Stats) {
        self.latency.merge(&o.latency);
        self.service.merge(&o.service);
        for (s, n) in &o.statuses {
            match self.statuses.iter_mut().find(|(x, _)| x == s) {
                Some((_, m)) => *m += n,
                None => self.statuses.push((*s, *n)),
            }
        }
        for i in 0..self.errors.len() {
            self.errors[i] += o.errors[i];
            if self.samples[i].is_none() {
                self.samples[i].clone_from(&o.samples[i]);
            }
        }
        self.bytes += o.bytes;
        self.sent += o.sent;
        self.late += o.late;
        self.max_lag = self.max_lag.max(o.max_lag);
        self.warmup += o.warmup;
        self.connects += o.connects;
        self.slowest.extend_from_slice(&o.slowest);
        self.slowest.sort_by_key(|s| std::cmp::Reverse(s.latency));
        self.slowest.truncate(SLOWEST);
        self.statuses.sort_unstable();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slow(ms: u64) -> Slow {
        Slow {
            latency: Duration::from_millis(ms),
            status: 200,
            at: Duration::ZERO,
            trace: None,
        }
    }

    #[test]
    fn keeps_only_the_slowest_in_order() {
        let mut s = Stats::default();
        for ms in [5, 1, 30, 7, 2, 9, 11, 3, 50, 4, 6, 8, 10, 12] {
            s.response(200, 1, Duration::from_millis(ms), slow(ms));
        }
        let got: Vec<u64> = s
            .slowest
            .iter()
            .map(|x| x.latency.as_millis() as u64)
            .collect();
        assert_eq!(got, vec![50, 30, 12, 11, 10, 9, 8, 7, 6, 5]);
        let mut t = Stats::default();
        t.response(503, 1, Duration::from_millis(40), slow(40));
        t.error(&RequestError::new(ErrorKind::Reset, "reset by peer"));
        s.merge(&t);
        assert_eq!(s.slowest[1].latency, Duration::from_millis(40));
        assert_eq!(s.requests(), 16);
        assert_eq!(s.server_errors(), 1);
        assert_eq!(
            s.samples[ErrorKind::Reset.index()].as_deref(),
            Some("reset by peer")
        );
    }
}
