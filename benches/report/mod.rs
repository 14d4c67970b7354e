//! Prints criterion's results of the benchmarks that ran in this process as a table, with
//! ratios against a baseline measured in the same run.
#![allow(dead_code)]

use std::path::PathBuf;
use std::time::SystemTime;

/// Where the criterion benches of this crate write (set explicitly so the table can find it).
pub fn criterion_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("target")
        .join("criterion")
}

/// Median time per iteration in ns, with its 95 % confidence interval, of benchmark `id`, if it
/// was measured after `since` (this process's run; not an older run's leftovers).
pub fn median_ns(id: &str, since: SystemTime) -> Option<(f64, f64, f64)> {
    let path = criterion_dir()
        .join(id.replace('/', "_"))
        .join("new")
        .join("estimates.json");
    if std::fs::metadata(&path).ok()?.modified().ok()? < since {
        return None;
    }
    let text = std::fs::read_to_string(path).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    let m = &v["median"];
    Some((
        m["point_estimate"].as_f64()?,
        m["confidence_interval"]["lower_bound"].as_f64()?,
        m["confidence_interval"]["upper_bound"].as_f64()?,
    ))
}

/// Formats nanoseconds with a unit that keeps 3 significant digits.
pub fn fmt_ns(ns: f64) -> String {
    if ns < 100.0 {
        format!("{ns:.2} ns")
    } else if ns < 10_000_000.0 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{:.2} ms", ns / 1e6)
    }
}

/// One markdown table of the benchmarks `ids` that ran since `since`, with the ratio of each
/// median against `baseline`'s, measured in the same run.
pub fn print_table(title: &str, ids: &[&str], baseline: &str, since: SystemTime) {
    let base = median_ns(baseline, since).map(|m| m.0);
    println!("\n{title}\n");
    println!("| benchmark | median | 95 % CI of the median | vs {baseline} |");
    println!("|---|---:|---:|---:|");
    for id in ids {
        let Some((m, lo, hi)) = median_ns(id, since) else {
            continue;
        };
        let ratio = base.map_or_else(|| "-".to_owned(), |b| format!("{:.2}×", m / b));
        println!(
            "| {id} | {} | {} – {} | {ratio} |",
            fmt_ns(m),
            fmt_ns(lo),
            fmt_ns(hi)
        );
    }
}
