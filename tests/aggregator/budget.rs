//! Budgets and SLO burn rates on a simulated clock, and configuration errors that name the
//! field to fix.

use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use pulsecheck::alert::Severity;
use pulsecheck::budget::{evaluate, evaluate_slo};
use pulsecheck::config::{Budgets, PulseConfig, Slo, SloKind};
use pulsecheck::layer::{HttpMethod, RequestRecord, RouteTable};
use pulsecheck::window::{Aggregator, AggregatorConfig, ManualClock, Window};

struct Sim {
    agg: Aggregator,
    clock: ManualClock,
    route: pulsecheck::layer::RouteId,
}

impl Sim {
    fn new(config: AggregatorConfig) -> Self {
        let routes = Arc::new(RouteTable::new(8));
        let route = routes.resolve("/api/things");
        let clock = ManualClock::new(1_000_000);
        let agg = Aggregator::with_clock(config, routes, clock.clone());
        Self { agg, clock, route }
    }

    /// One simulated second with `n` requests of `ms` latency, `errors` of them 500.
    fn second(&self, n: u64, ms: u64, errors: u64) {
        for i in 0..n {
            self.agg.record(&RequestRecord {
                method: HttpMethod::Get,
                route: Some(self.route),
                status: if i < errors { 500 } else { 200 },
                duration: Duration::from_millis(ms),
                trace_id: None,
            });
        }
        self.clock.advance(1);
        self.agg.tick();
    }
}

fn budgets_1m() -> Budgets {
    Budgets {
        window: Window::OneMinute,
        min_requests: 10,
        ..Budgets::default()
    }
}

fn status(sim: &Sim, b: &Budgets) -> &'static str {
    evaluate(b, &sim.agg.snapshot(b.window), None)
        .status
        .overall_str()
}

#[test]
fn budget_goes_ok_warning_critical_ok() {
    let sim = Sim::new(AggregatorConfig::default());
    let b = budgets_1m();
    for _ in 0..60 {
        sim.second(10, 100, 0);
    }
    assert_eq!(status(&sim, &b), "healthy");
    for _ in 0..60 {
        sim.second(10, 850, 0); // P95 850 ms: 85 % of 1000 ms
    }
    assert_eq!(status(&sim, &b), "warning");
    let r = evaluate(&b, &sim.agg.snapshot(Window::OneMinute), None);
    let p95 = r
        .budgets
        .iter()
        .find(|l| l.name.as_str() == "latency_p95_ms")
        .unwrap();
    assert!((p95.utilization.unwrap() - 0.85).abs() < 0.02);
    for _ in 0..60 {
        sim.second(10, 1500, 0);
    }
    assert_eq!(status(&sim, &b), "critical");
    for _ in 0..60 {
        sim.second(10, 100, 0);
    }
    assert_eq!(status(&sim, &b), "healthy");
}

#[test]
fn error_budget_and_route_overrides() {
    let sim = Sim::new(AggregatorConfig::default());
    let mut b = budgets_1m();
    b.routes.insert(
        "/api/things".into(),
        pulsecheck::config::RouteBudget {
            p95_ms: Some(50.0),
            ..Default::default()
        },
    );
    for _ in 0..30 {
        sim.second(20, 100, 1); // 5 % errors: at the limit (warning), P95 100 ms
    }
    let r = evaluate(&b, &sim.agg.snapshot(Window::OneMinute), None);
    let get = |name: &str, route: Option<&str>| {
        r.budgets
            .iter()
            .find(|l| l.name.as_str() == name && l.route.as_deref() == route)
            .unwrap()
            .clone()
    };
    assert_eq!(
        get("error_rate", None).status,
        pulsecheck::budget::BudgetStatus::Warning
    );
    assert_eq!(get("error_rate", None).target, Some(0.01));
    assert_eq!(
        get("latency_p95_ms", None).status,
        pulsecheck::budget::BudgetStatus::Ok
    );
    let route_p95 = get("latency_p95_ms", Some("/api/things"));
    assert_eq!(route_p95.limit, 50.0);
    assert_eq!(route_p95.status, pulsecheck::budget::BudgetStatus::Critical);
    assert_eq!(r.status.overall_str(), "critical");
}

#[test]
fn too_few_requests_keep_budgets_ok() {
    let sim = Sim::new(AggregatorConfig::default());
    let b = budgets_1m();
    sim.second(5, 5000, 5); // slow and failing, but only 5 requests
    let r = evaluate(&b, &sim.agg.snapshot(Window::OneMinute), None);
    assert_eq!(r.status.overall_str(), "healthy");
    assert!(
        r.budgets[0]
            .note
            .as_deref()
            .is_some_and(|n| n.contains("fewer than 10"))
    );
    assert!(r.budgets[0].value.unwrap() > 4000.0);
}

#[test]
fn memory_budget_uses_the_given_rss() {
    let sim = Sim::new(AggregatorConfig::default());
    let b = Budgets::default();
    let r = evaluate(
        &b,
        &sim.agg.snapshot(Window::FiveMinutes),
        Some(600 * 1024 * 1024),
    );
    let mem = r
        .budgets
        .iter()
        .find(|l| l.name.as_str() == "memory_mib")
        .unwrap();
    assert_eq!(mem.value, Some(600.0));
    assert_eq!(r.status.overall_str(), "critical");
}

#[test]
fn total_failure_pages_within_one_short_window() {
    let sim = Sim::new(AggregatorConfig::default());
    let slo = Slo::availability(0.999);
    for _ in 0..3600 {
        sim.second(10, 20, 0);
    }
    assert_eq!(evaluate_slo(&slo, &sim.agg, 20).unwrap().alert, None);
    let mut paged_after = None;
    for s in 1..=300 {
        sim.second(10, 20, 10);
        if evaluate_slo(&slo, &sim.agg, 20).unwrap().alert == Some(Severity::Page) {
            paged_after = Some(s);
            break;
        }
    }
    let after = paged_after.expect("100 % errors did not page within 5 minutes");
    assert!(after <= 300, "paged after {after} s");
    // By the end of one short window (5 m) the fastest tier fires too.
    for _ in after..300 {
        sim.second(10, 20, 10);
    }
    let report = evaluate_slo(&slo, &sim.agg, 20).unwrap();
    assert_eq!(report.alert, Some(Severity::Page));
    let fast = &report.tiers[0];
    assert_eq!(
        (fast.long_window.as_str(), fast.short_window.as_str()),
        ("1h", "5m")
    );
    assert!(fast.firing);
    assert!(report.error_budget_remaining.unwrap() < 1.0);
}

#[test]
fn errors_under_the_objective_never_page() {
    // 0.09 % errors under a 99.9 % SLO: burn rate 0.9, below every tier.
    let sim = Sim::new(AggregatorConfig::default());
    let slo = Slo::availability(0.999);
    let mut sent = 0u64;
    for second in 0..(7 * 3600) {
        // 100 requests a second; one error every 1112 requests ≈ 0.0899 %.
        let mut errors = 0;
        for _ in 0..100 {
            sent += 1;
            if sent.is_multiple_of(1112) {
                errors += 1;
            }
        }
        sim.second(100, 20, errors);
        if second % 600 == 0 {
            let r = evaluate_slo(&slo, &sim.agg, 20).unwrap();
            assert_eq!(r.alert, None, "alert at second {second}: {r:?}");
        }
    }
    let r = evaluate_slo(&slo, &sim.agg, 20).unwrap();
    assert_eq!(r.alert, None);
    let burn = r.tiers[1].long_burn_rate.unwrap();
    assert!((0.8..1.0).contains(&burn), "6 h burn rate {burn}");
}

#[test]
fn traffic_under_the_minimum_never_fires() {
    let sim = Sim::new(AggregatorConfig::default());
    let slo = Slo::availability(0.999);
    for _ in 0..600 {
        sim.clock.advance(1);
        sim.agg.tick();
    }
    sim.second(5, 20, 5); // every request failed, but only 5 of them
    let r = evaluate_slo(&slo, &sim.agg, 20).unwrap();
    assert_eq!(r.alert, None);
    assert!(r.tiers.iter().all(|t| t.long_burn_rate.is_none()));
}

#[test]
fn latency_slo_counts_slow_requests() {
    let cfg = AggregatorConfig {
        latency_thresholds: vec![Duration::from_millis(300)],
        ..AggregatorConfig::default()
    };
    let sim = Sim::new(cfg);
    let slo = Slo {
        name: "fast".into(),
        objective: 0.99,
        period_days: 30,
        kind: SloKind::Latency {
            threshold: Duration::from_millis(300),
        },
    };
    for _ in 0..120 {
        sim.second(10, 100, 0);
    }
    assert_eq!(evaluate_slo(&slo, &sim.agg, 20).unwrap().alert, None);
    for _ in 0..300 {
        sim.second(10, 900, 0); // all slow, none errors
    }
    let r = evaluate_slo(&slo, &sim.agg, 20).unwrap();
    assert_eq!(r.alert, Some(Severity::Page), "{r:?}");
    assert_eq!(r.kind, "latency");
}

#[test]
fn config_errors_name_the_field() {
    for (toml, field) in [
        ("[budgets]\np95_ms = 0\n", "budgets.p95_ms"),
        ("[budgets]\nerror_rate = 1.5\n", "budgets.error_rate"),
        ("[budgets]\np95_ms = 3000\n", "budgets.p95_ms"),
        ("[budgets]\nwindow = \"2d\"\n", "window"),
        ("[budgets]\np95ms = 100\n", "p95ms"),
        (
            "[[slo]]\nname = \"a\"\nobjective = 99.9\nkind = \"availability\"\n",
            "slo[0].objective",
        ),
        (
            "[[slo]]\nname = \"a\"\nobjective = 0.99\nkind = \"latency\"\n",
            "threshold_ms",
        ),
        (
            "[[slo]]\nname = \"a\"\nobjective = 0.99\nkind = \"availability\"\ntypo = 1\n",
            "typo",
        ),
        (
            "[budgets.routes.\"/x\"]\np95_ms = -5\n",
            "budgets.routes.\"/x\".p95_ms",
        ),
        ("[errors]\nstatuses = [42]\n", "errors.statuses"),
        (
            "[errors]\nstatuses = [499]\ncount_cancelled = false\n",
            "errors.count_cancelled",
        ),
        ("[errors]\ncount_cancelled = \"no\"\n", "count_cancelled"),
        ("[alerts]\ninterval = \"100000000d\"\n", "alerts.interval"),
        ("not toml at all", "expected"),
    ] {
        let err = PulseConfig::from_toml_str(toml).unwrap_err().to_string();
        assert!(
            err.contains(field),
            "`{toml}` gave `{err}`, which does not name `{field}`"
        );
    }
}

#[test]
fn config_file_round_trip() {
    let cfg = PulseConfig::from_toml_str(
        r#"
[errors]
classes = [5]
statuses = [429]

[budgets]
p95_ms = 250
p99_ms = 800
error_rate = 0.02
window = "1m"
min_requests = 50

[budgets.routes."/api/courses/{id}"]
p95_ms = 100

[[slo]]
name = "availability"
objective = 0.999
kind = "availability"

[[slo]]
name = "fast"
objective = 0.99
period_days = 7
kind = "latency"
threshold_ms = 300
"#,
    )
    .unwrap();
    assert_eq!(cfg.budgets.window, Window::OneMinute);
    assert_eq!(cfg.budgets.routes["/api/courses/{id}"].p95_ms, Some(100.0));
    assert!(cfg.errors.policy().is_error(429));
    assert!(!cfg.errors.policy().is_error(404));
    assert_eq!(cfg.latency_thresholds(), vec![Duration::from_millis(300)]);
    assert_eq!(cfg.slo[1].period_days, 7);
}

#[test]
fn the_example_config_file_is_valid() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("pulsecheck.example.toml");
    let cfg = PulseConfig::from_file(&path).unwrap();
    assert_eq!(cfg.slo.len(), 2);
    assert_eq!(
        cfg.budgets,
        Budgets {
            routes: cfg.budgets.routes.clone(),
            ..Budgets::default()
        }
    );
}

/// A latency SLO parsed from `threshold_ms`, evaluated on an aggregator built the way
/// `Pulse::build` builds it: `cfg.latency_thresholds()`.
fn latency_slo_sim(threshold_ms: f64) -> (PulseConfig, Sim) {
    let toml = format!(
        "[[slo]]\nname = \"a\"\nobjective = 0.99\nkind = \"latency\"\nthreshold_ms = {threshold_ms:?}\n"
    );
    let cfg = PulseConfig::from_toml_str(&toml).unwrap_or_else(|e| panic!("{toml}: {e}"));
    let sim = Sim::new(AggregatorConfig {
        latency_thresholds: cfg.latency_thresholds(),
        ..AggregatorConfig::default()
    });
    (cfg, sim)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Every threshold a user can configure is found by the evaluation, whatever its
    /// decimals: the SLO stays a latency SLO and counts slow requests, not errors.
    #[test]
    fn every_configured_threshold_is_found(
        threshold_ms in prop_oneof![
            (1u64..=60_000_000).prop_map(|us| us as f64 / 1000.0),
            0.001f64..60_000.0,
        ]
    ) {
        let (cfg, sim) = latency_slo_sim(threshold_ms);
        let slo = cfg.slos().find(|s| s.name == "a").unwrap();
        // One request, answered without error, just over the threshold (bucket midpoints
        // keep latency within 1/64, so 2x is safely over).
        let slow = slo.threshold().unwrap() * 2 + Duration::from_millis(1);
        sim.agg.record(&RequestRecord {
            method: HttpMethod::Get,
            route: Some(sim.route),
            status: 200,
            duration: slow,
            trace_id: None,
        });
        sim.clock.advance(1);
        sim.agg.tick();
        let r = evaluate_slo(slo, &sim.agg, 1);
        let r = r.map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(r.kind, "latency");
        prop_assert_eq!(r.requests, 1);
        prop_assert_eq!(r.sli, Some(0.0));
    }
}

#[test]
fn fractional_thresholds_are_exact_nanoseconds() {
    let (cfg, _) = latency_slo_sim(33.3);
    assert_eq!(
        cfg.latency_thresholds(),
        vec![Duration::from_micros(33_300)]
    );
}

#[test]
fn an_untracked_threshold_is_an_error_not_an_availability_slo() {
    // An aggregator built without the SLO's threshold: the report must not quietly count
    // errors (there are none here, so it would read 100 % good).
    let sim = Sim::new(AggregatorConfig::default());
    for _ in 0..30 {
        sim.second(10, 900, 0);
    }
    let slo = Slo::latency(0.99, Duration::from_millis(250));
    let err = evaluate_slo(&slo, &sim.agg, 1).unwrap_err();
    assert!(
        matches!(&err, pulsecheck::budget::SloError::UntrackedThreshold { threshold_ns, .. } if *threshold_ns == 250_000_000),
        "{err}"
    );
    assert!(err.to_string().contains("latency-250ms"), "{err}");
}

#[test]
fn huge_or_tiny_thresholds_are_refused_naming_the_field() {
    for v in [
        "1e300",
        "1e20",
        "60001",
        "-1",
        "0",
        "0.0000000001",
        "nan",
        "inf",
    ] {
        let toml = format!(
            "[[slo]]\nname = \"a\"\nobjective = 0.99\nkind = \"latency\"\nthreshold_ms = {v}\n"
        );
        let err = PulseConfig::from_toml_str(&toml).unwrap_err().to_string();
        assert!(err.contains("threshold_ms"), "`{v}` gave `{err}`");
    }
    // From code, past the TOML conversion: validation holds the same line.
    let cfg = PulseConfig {
        slo: vec![Slo::latency(0.99, Duration::from_secs(u64::MAX))],
        ..PulseConfig::default()
    };
    let err = cfg.validate().unwrap_err().to_string();
    assert!(err.contains("slo[0].threshold_ms"), "{err}");
}

#[test]
fn availability_999_is_a_default_slo_that_can_be_replaced_or_removed() {
    let names = |cfg: &PulseConfig| {
        cfg.slos()
            .map(|s| (s.name.clone(), s.objective))
            .collect::<Vec<_>>()
    };
    let cfg = PulseConfig::default();
    assert_eq!(names(&cfg), vec![("availability".to_owned(), 0.999)]);
    assert_eq!(cfg.slos().next().unwrap().kind, SloKind::Availability);
    let cfg = PulseConfig::from_toml_str("").unwrap();
    assert_eq!(names(&cfg), vec![("availability".to_owned(), 0.999)]);
    // Other SLOs come after it.
    let cfg = PulseConfig::from_toml_str(
        "[[slo]]\nname = \"fast\"\nobjective = 0.99\nkind = \"latency\"\nthreshold_ms = 250\n",
    )
    .unwrap();
    assert_eq!(
        names(&cfg),
        vec![
            ("availability".to_owned(), 0.999),
            ("fast".to_owned(), 0.99)
        ]
    );
    // One of the same name replaces it.
    let cfg = PulseConfig::from_toml_str(
        "[[slo]]\nname = \"availability\"\nobjective = 0.9995\nkind = \"availability\"\n",
    )
    .unwrap();
    assert_eq!(names(&cfg), vec![("availability".to_owned(), 0.9995)]);
    // And it can be switched off.
    let cfg = PulseConfig::from_toml_str("default_slo = false\n").unwrap();
    assert_eq!(names(&cfg), vec![]);
}

/// The 3× over 1 d and 2 h ticket tier (Sloth's, and `pulsecheck rules --style sloth`'s) fires
/// in-process too: a day-long slow burn after two busy clean days, which the 1× over 3 d tier
/// misses because the clean days dilute it.
#[test]
fn a_day_long_slow_burn_opens_a_ticket_as_sloth_does() {
    let sim = Sim::new(AggregatorConfig::default());
    let slo = Slo::availability(0.999);
    // 300 000 clean requests, then quiet until they are over a day old.
    for _ in 0..300 {
        sim.second(1000, 20, 0);
    }
    for _ in 0..(24 * 3600) {
        sim.second(0, 20, 0);
    }
    // Then a day at one request a second, one in 250 failing: burn rate 4 over 1 d and 2 h,
    // under 6 (no page), and about 0.2 over 3 d.
    for s in 0..(24 * 3600u64) {
        sim.second(1, 20, u64::from(s % 250 == 0));
    }
    let r = evaluate_slo(&slo, &sim.agg, 20).unwrap();
    let tier = |long: &str| r.tiers.iter().find(|t| t.long_window == long).unwrap();
    let day = tier("1d");
    assert_eq!(day.short_window, "2h");
    assert_eq!(day.burn_rate_threshold, 3.0);
    assert!(day.firing, "{r:?}");
    assert!(!tier("3d").firing, "{r:?}");
    assert!(!tier("6h").firing && !tier("1h").firing, "{r:?}");
    assert_eq!(r.alert, Some(Severity::Ticket));
}
