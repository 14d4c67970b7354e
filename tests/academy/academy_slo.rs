//! SLOs judged by the real academy process: a fractional latency threshold is a latency SLO
//! (not silently an availability one), and availability 99.9 % is there out of the box.

use serde_json::Value;
use support::academy::Academy;

/// 40 requests of 200 ms, all answered 200, concurrently.
async fn slow_requests(app: &Academy, n: usize) {
    let client = reqwest::Client::new();
    let url = app.url("/api/simulate?latency_ms=200");
    let all = (0..n).map(|_| {
        let (client, url) = (client.clone(), url.clone());
        tokio::spawn(async move { client.get(url).send().await.unwrap().status().as_u16() })
    });
    for h in all {
        assert_eq!(h.await.unwrap(), 200);
    }
}

fn slo<'a>(budget: &'a Value, name: &str) -> &'a Value {
    budget["slos"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["name"] == name))
        .unwrap_or_else(|| panic!("no SLO `{name}` in {budget}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fractional_latency_threshold_is_judged_as_latency() {
    let path = std::env::temp_dir().join(format!("pulsecheck-slo-{}.toml", std::process::id()));
    // The configuration, as written.
    std::fs::write(
        &path,
        "[budgets]\nmin_requests=1\n[[slo]]\nname=\"a\"\nobjective=0.99\nkind=\"latency\"\nthreshold_ms=33.3\n",
    )
    .unwrap();
    let app = Academy::spawn(&[("PULSE_CONFIG", path.to_str().unwrap())]);
    slow_requests(&app, 40).await;
    // The long history is folded by the one-second ticker.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let budget = app.get_json("/health/budget").await;
    let a = slo(&budget, "a");
    assert_eq!(a["kind"], "latency", "{a}");
    assert_eq!(a["requests"], 40, "{a}");
    // Every request took 200 ms, over the 33.3 ms threshold: none was good.
    assert_eq!(a["sli"], 0.0, "{a}");
    assert!(a["error_budget_remaining"].as_f64().unwrap() < 0.0, "{a}");
    let _ = std::fs::remove_file(&path);
    // The default availability SLO is there too, and sees no error.
    let avail = slo(&budget, "availability");
    assert_eq!(avail["objective"], 0.999, "{avail}");
    assert_eq!(avail["sli"], 1.0, "{avail}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn availability_999_is_evaluated_out_of_the_box_and_can_be_switched_off() {
    let app = Academy::spawn(&[]);
    let budget = app.get_json("/health/budget").await;
    let avail = slo(&budget, "availability");
    assert_eq!(avail["kind"], "availability", "{avail}");
    assert_eq!(avail["objective"], 0.999, "{avail}");
    // Every burn-rate tier, page and ticket: the SRE workbook's four for a 30-day SLO.
    assert_eq!(avail["tiers"].as_array().map(Vec::len), Some(4), "{avail}");
    drop(app);

    let app = Academy::spawn(&[("PULSE_DEFAULT_SLO", "false")]);
    let budget = app.get_json("/health/budget").await;
    assert_eq!(budget["slos"], serde_json::json!([]), "{budget}");
}
