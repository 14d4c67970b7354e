//! `--budget p95=1000ms,p99=2000ms,errors=5%`: limits checked against a run's figures, for CI.

use serde::Serialize;

use super::error::LoadError;
use super::report::LoadReport;

/// What a budget limits.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BudgetLimit {
    /// A latency figure (`p50`, `p90`, `p95`, `p99`, `p999`, `max`, `mean`) at most this many ms.
    LatencyMs(f64),
    /// Error rate at most this fraction.
    ErrorRate(f64),
    /// Throughput at least this many requests/s.
    MinRps(f64),
}

/// One limit of a budget.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BudgetCheck {
    /// `p95`, `errors`, `rps`, ...
    pub metric: String,
    /// The limit.
    pub limit: BudgetLimit,
}

/// One limit checked.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BudgetResult {
    /// `p95`, `errors`, `rps`, ...
    pub metric: String,
    /// The limit, in ms, as a fraction, or in requests/s.
    pub limit: f64,
    /// The measured value (absent when nothing was answered).
    pub value: Option<f64>,
    /// `ms`, `ratio` or `rps`.
    pub unit: &'static str,
    /// Within the limit.
    pub passed: bool,
}

const LATENCY: [&str; 7] = ["p50", "p90", "p95", "p99", "p999", "max", "mean"];

/// Parses `p95=1000ms,p99=2s,errors=5%,rps=100`.
///
/// ```
/// use pulsecheck_cli::load::{parse_budget, BudgetLimit};
/// let b = parse_budget("p95=1000ms,p99=2s,errors=5%").unwrap();
/// assert_eq!(b[1].limit, BudgetLimit::LatencyMs(2000.0));
/// assert_eq!(b[2].limit, BudgetLimit::ErrorRate(0.05));
/// assert!(parse_budget("p97=1s").is_err());
/// ```
pub fn parse_budget(spec: &str) -> Result<Vec<BudgetCheck>, LoadError> {
    let bad = |reason: String| LoadError::Invalid {
        field: "budget",
        reason,
    };
    let mut out = Vec::new();
    for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (k, v) = item
            .split_once('=')
            .ok_or_else(|| bad(format!("`{item}` is not metric=limit (e.g. p95=1000ms)")))?;
        let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
        let limit = if LATENCY.contains(&k.as_str()) {
            BudgetLimit::LatencyMs(parse_ms(v).ok_or_else(|| {
                bad(format!(
                    "`{v}` for {k} is not a duration (1000ms, 1.5s, 800us)"
                ))
            })?)
        } else if k == "errors" || k == "error_rate" {
            let r = if let Some(p) = v.strip_suffix('%') {
                p.trim().parse::<f64>().ok().map(|p| p / 100.0)
            } else {
                v.parse::<f64>().ok().filter(|r| *r <= 1.0)
            };
            BudgetLimit::ErrorRate(
                r.filter(|r| (0.0..=1.0).contains(r))
                    .ok_or_else(|| bad(format!("`{v}` for errors is not a rate (5% or 0.05)")))?,
            )
        } else if k == "rps" {
            BudgetLimit::MinRps(
                v.parse::<f64>()
                    .ok()
                    .filter(|r| r.is_finite() && *r >= 0.0)
                    .ok_or_else(|| bad(format!("`{v}` for rps is not a number")))?,
            )
        } else {
            return Err(bad(format!(
                "unknown metric `{k}`: one of {}, errors, rps",
                LATENCY.join(", ")
            )));
        };
        out.push(BudgetCheck { metric: k, limit });
    }
    if out.is_empty() {
        return Err(bad("empty budget".into()));
    }
    Ok(out)
}

fn parse_ms(v: &str) -> Option<f64> {
    let v = v.trim();
    let (num, scale) = if let Some(n) = v.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = v.strip_suffix("us").or_else(|| v.strip_suffix("µs")) {
        (n, 1e-3)
    } else if let Some(n) = v.strip_suffix('s') {
        (n, 1e3)
    } else {
        (v, 1.0)
    };
    num.trim()
        .parse::<f64>()
        .ok()
        .filter(|x| x.is_finite() && *x >= 0.0)
        .map(|x| x * scale)
}

impl BudgetCheck {
    /// Checks this limit against a report.
    pub fn check(&self, r: &LoadReport) -> BudgetResult {
        let (limit, value, unit, passed) = match self.limit {
            BudgetLimit::LatencyMs(limit) => {
                let value = r.latency_ms.as_ref().map(|l| match self.metric.as_str() {
                    "p50" => l.p50,
                    "p90" => l.p90,
                    "p95" => l.p95,
                    "p99" => l.p99,
                    "p999" => l.p999,
                    "mean" => l.mean,
                    _ => l.max,
                });
                (limit, value, "ms", value.is_some_and(|v| v <= limit))
            }
            BudgetLimit::ErrorRate(limit) => {
                let value = (r.requests > 0).then_some(r.error_rate);
                (limit, value, "ratio", value.is_some_and(|v| v <= limit))
            }
            BudgetLimit::MinRps(limit) => (limit, Some(r.rps), "rps", r.rps >= limit),
        };
        BudgetResult {
            metric: self.metric.clone(),
            limit,
            value,
            unit,
            passed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_refuses_what_it_cannot_read() {
        let b = parse_budget(" p50=800us , max=1.5s,mean=20, errors=0.01 ,rps=50").unwrap();
        let limits: Vec<BudgetLimit> = b.iter().map(|c| c.limit).collect();
        assert_eq!(
            limits,
            vec![
                BudgetLimit::LatencyMs(0.8),
                BudgetLimit::LatencyMs(1500.0),
                BudgetLimit::LatencyMs(20.0),
                BudgetLimit::ErrorRate(0.01),
                BudgetLimit::MinRps(50.0),
            ]
        );
        for (spec, want) in [
            ("p95", "metric=limit"),
            ("p95=fast", "not a duration"),
            ("errors=5", "not a rate"),
            ("errors=120%", "not a rate"),
            ("latency=1s", "unknown metric"),
            ("", "empty"),
        ] {
            let e = parse_budget(spec).unwrap_err().to_string();
            assert!(e.contains(want), "{spec}: {e}");
        }
    }
}
