//! Deterministic latency samples for the aggregator benchmarks: a seeded SplitMix64 generator
//! and the distributions the benchmarks draw from (all in nanoseconds).
#![allow(dead_code)]

use std::time::Duration;

use pulsecheck::layer::{HttpMethod, RequestRecord, RouteId};
use pulsecheck::otel::opentelemetry::trace::TraceId;

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast and good enough for sampling.
#[derive(Clone, Debug)]
pub struct Rng {
    state: u64,
    /// The second normal of the last Box-Muller pair.
    spare: Option<f64>,
}

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self {
            state: seed,
            spare: None,
        }
    }

    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    #[inline]
    pub fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in (0, 1].
    #[inline]
    fn f64_open0(&mut self) -> f64 {
        ((self.next_u64() >> 11) + 1) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Standard normal (Box-Muller; the pair's second value is kept for the next call).
    #[inline]
    pub fn normal(&mut self) -> f64 {
        if let Some(z) = self.spare.take() {
            return z;
        }
        let r = (-2.0 * self.f64_open0().ln()).sqrt();
        let (sin, cos) = (std::f64::consts::TAU * self.f64()).sin_cos();
        self.spare = Some(r * sin);
        r * cos
    }

    /// Below `n`.
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    pub fn trace_id(&mut self) -> TraceId {
        let hi = u128::from(self.next_u64()) << 64;
        TraceId::from(hi | u128::from(self.next_u64()) | 1)
    }
}

/// A latency distribution, sampled in nanoseconds.
#[derive(Clone, Copy, Debug)]
pub enum Dist {
    /// exp(N(ln median, sigma²)).
    LogNormal { median_ns: f64, sigma: f64 },
    /// Two log-normal modes: `fast` with probability `p_fast`, else `slow`.
    Bimodal {
        p_fast: f64,
        fast_median_ns: f64,
        fast_sigma: f64,
        slow_median_ns: f64,
        slow_sigma: f64,
    },
    /// Uniform in [lo, hi).
    Uniform { lo_ns: f64, hi_ns: f64 },
    /// Log-uniform in [lo, hi): every bucket of the layout equally likely per octave.
    LogUniform { lo_ns: f64, hi_ns: f64 },
}

/// The service latency the benchmarks use unless said otherwise: median 15 ms, sigma 1
/// (p99 ≈ 154 ms, p99.9 ≈ 330 ms).
pub const WEB: Dist = Dist::LogNormal {
    median_ns: 15e6,
    sigma: 1.0,
};

impl Dist {
    #[inline]
    pub fn sample(&self, rng: &mut Rng) -> u64 {
        let v = match *self {
            Dist::LogNormal { median_ns, sigma } => median_ns * (sigma * rng.normal()).exp(),
            Dist::Bimodal {
                p_fast,
                fast_median_ns,
                fast_sigma,
                slow_median_ns,
                slow_sigma,
            } => {
                if rng.f64() < p_fast {
                    fast_median_ns * (fast_sigma * rng.normal()).exp()
                } else {
                    slow_median_ns * (slow_sigma * rng.normal()).exp()
                }
            }
            Dist::Uniform { lo_ns, hi_ns } => lo_ns + (hi_ns - lo_ns) * rng.f64(),
            Dist::LogUniform { lo_ns, hi_ns } => lo_ns * (hi_ns / lo_ns).powf(rng.f64()),
        };
        v.round() as u64
    }
}

/// A request record: `route` of [`RouteId`]s, 1 % of them 503, each with a trace id.
pub fn record(rng: &mut Rng, route: RouteId, dist: &Dist) -> RequestRecord {
    let status = if rng.below(100) == 0 { 503 } else { 200 };
    RequestRecord {
        method: HttpMethod::Get,
        route: Some(route),
        status,
        duration: Duration::from_nanos(dist.sample(rng)),
        trace_id: Some(rng.trace_id()),
    }
}
