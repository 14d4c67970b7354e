//! `pulsecheck rules`: the output passes `promtool check rules`, and `promtool test rules`
//! shows the burn-rate alerts firing (and staying quiet) on synthetic series.
//! Needs promtool (Debian package `prometheus`; scripts/test.sh installs it).

mod cli_support;

use std::path::{Path, PathBuf};
use std::process::Command;

use cli_support::{pulsecheck, text};

const CONFIG: &str = r#"
[errors]
classes = [5]
statuses = [429]

[budgets]
p95_ms = 500
p99_ms = 1000
error_rate = 0.05
window = "5m"
min_requests = 20

[budgets.routes."/api/courses/{id}"]
p95_ms = 100

[[slo]]
name = "availability"
objective = 0.999
kind = "availability"

[[slo]]
name = "fast-courses"
objective = 0.99
kind = "latency"
threshold_ms = 250
"#;

fn promtool() -> &'static str {
    let ok = Command::new("promtool")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "promtool is missing: these tests need it (apt-get install -y prometheus; scripts/test.sh does it)"
    );
    "promtool"
}

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("pulsecheck-rules-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// `pulsecheck rules` run in `dir` (so no stray ./pulsecheck.toml is read).
fn generate(dir: &Path, args: &[&str]) -> String {
    let o = pulsecheck()
        .current_dir(dir)
        .arg("rules")
        .args(args)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    stdout
}

fn check(dir: &Path, rules: &str) {
    let file = dir.join("rules.yml");
    std::fs::write(&file, rules).unwrap();
    let o = Command::new(promtool())
        // Lint errors (duplicate rules) fail the check too.
        .args(["check", "rules", "--lint-fatal"])
        .arg(&file)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&o);
    assert!(
        o.status.success(),
        "promtool check rules failed:\n{stdout}\n{stderr}\n{rules}"
    );
}

#[test]
fn default_rules_pass_promtool() {
    let d = dir("default");
    let rules = generate(&d, &[]);
    assert!(rules.contains("PulsecheckLatencyP95Critical"));
    // The default SLO, availability 99.9 %, carries burn-rate alerts out of the box.
    assert!(
        rules.contains("alert: PulsecheckSloErrorBudgetBurn"),
        "{rules}"
    );
    assert!(
        rules.contains("slo=\"availability\"} > (14.4 * 0.001)"),
        "{rules}"
    );
    check(&d, &rules);
}

#[test]
fn the_default_slo_can_be_switched_off() {
    let d = dir("no-default-slo");
    std::fs::write(d.join("pulsecheck.toml"), "default_slo = false\n").unwrap();
    let rules = generate(&d, &[]);
    assert!(rules.contains("PulsecheckLatencyP95Critical"));
    assert!(!rules.contains("PulsecheckSloErrorBudgetBurn"), "{rules}");
    check(&d, &rules);
}

#[test]
fn rules_from_a_config_with_routes_and_slos_pass_promtool() {
    let d = dir("config");
    std::fs::write(d.join("pulsecheck.toml"), CONFIG).unwrap();
    let rules = generate(
        &d,
        &[
            "--config",
            "pulsecheck.toml",
            "--selector",
            "job=\"academy\"",
        ],
    );
    for want in [
        "pulsecheck:http_route_latency_seconds:p95_5m",
        "PulsecheckRouteLatencyP95Critical",
        "http_response_status_code=~\"5..|429|499\"",
        "pulsecheck:slo_errors:ratio_rate3d",
        "le=\"0.25\"",
        "severity: \"ticket\"",
    ] {
        assert!(rules.contains(want), "missing {want}:\n{rules}");
    }
    check(&d, &rules);
    // The same file through PULSE_CONFIG, with an environment override, as the service reads it.
    let o = pulsecheck()
        .current_dir(&d)
        .env("PULSE_CONFIG", "pulsecheck.toml")
        .env("PULSE_BUDGET_P95_MS", "750")
        .arg("rules")
        .output()
        .unwrap();
    assert!(
        text(&o)
            .0
            .contains("pulsecheck:http_latency_seconds:p95_5m > 0.75"),
        "{}",
        text(&o).0
    );
}

#[test]
fn a_bad_config_is_an_error_naming_the_field() {
    let d = dir("bad");
    std::fs::write(d.join("bad.toml"), "[budgets]\np95_ms = -3\n").unwrap();
    let o = pulsecheck()
        .current_dir(&d)
        .args(["rules", "--config", "bad.toml"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("budgets.p95_ms"), "{}", text(&o).1);
}

/// The summary and description of the burn alert with `severity`, as generated.
fn annotations(rules: &str, severity: &str) -> (String, String) {
    let lines: Vec<&str> = rules.lines().collect();
    for (i, l) in lines.iter().enumerate() {
        // The alert's block runs to the next list item.
        let mut block = lines[i + 1..]
            .iter()
            .take_while(|x| !x.trim_start().starts_with("- "));
        if l.trim() == "- alert: PulsecheckSloErrorBudgetBurn"
            && block.any(|x| x.trim() == format!("severity: \"{severity}\""))
        {
            let find = |key: &str| {
                let line = lines[i..]
                    .iter()
                    .find(|x| x.trim_start().starts_with(key))
                    .unwrap();
                line.trim_start()[key.len()..].trim().to_owned()
            };
            return (find("summary:"), find("description:"));
        }
    }
    panic!("no {severity} burn alert in\n{rules}");
}

#[test]
fn promtool_unit_test_fires_the_burn_rate_alerts() {
    let d = dir("unit");
    std::fs::write(
        d.join("pulsecheck.toml"),
        "[[slo]]\nname = \"availability\"\nobjective = 0.999\nkind = \"availability\"\n",
    )
    .unwrap();
    let rules = generate(
        &d,
        &["--config", "pulsecheck.toml", "--source", "collector"],
    );
    std::fs::write(d.join("rules.yml"), &rules).unwrap();
    let (page_summary, page_desc) = annotations(&rules, "page");
    let (ticket_summary, ticket_desc) = annotations(&rules, "ticket");
    let c = "http_server_request_duration_seconds_count";
    // job "burning": 80 good requests a minute, and from minute 61 also 20 errors a minute
    // (20 %, burn rate 200); job "fine": 0.05 % errors (burn 0.5) all along. Counters.
    let test = format!(
        r#"rule_files: [rules.yml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: '{c}{{job="burning", http_response_status_code="200"}}'
        values: '0+80x150'
      - series: '{c}{{job="burning", http_response_status_code="500"}}'
        values: '0x60 20+20x89'
      - series: '{c}{{job="fine", http_response_status_code="200"}}'
        values: '0+1999x150'
      - series: '{c}{{job="fine", http_response_status_code="503"}}'
        values: '0+1x150'
    alert_rule_test:
      - eval_time: 30m
        alertname: PulsecheckSloErrorBudgetBurn
        exp_alerts: []
      - eval_time: 70m
        alertname: PulsecheckSloErrorBudgetBurn
        exp_alerts:
          - exp_labels: {{job: burning, slo: availability, severity: page}}
            exp_annotations: {{summary: {page_summary}, description: {page_desc}}}
          - exp_labels: {{job: burning, slo: availability, severity: ticket}}
            exp_annotations: {{summary: {ticket_summary}, description: {ticket_desc}}}
    promql_expr_test:
      # 1 where the 5m error ratio is 20 % (within float error), 0 elsewhere.
      - expr: (pulsecheck:slo_errors:ratio_rate5m > bool 0.1999) * (pulsecheck:slo_errors:ratio_rate5m < bool 0.2001)
        eval_time: 70m
        exp_samples:
          - labels: '{{job="burning", slo="availability"}}'
            value: 1
          - labels: '{{job="fine", slo="availability"}}'
            value: 0
"#
    );
    std::fs::write(d.join("test.yml"), test).unwrap();
    let o = Command::new(promtool())
        .current_dir(&d)
        .args(["test", "rules", "test.yml"])
        .output()
        .unwrap();
    let (stdout, stderr) = text(&o);
    assert!(
        o.status.success(),
        "promtool test rules failed:\n{stdout}\n{stderr}"
    );
}

#[test]
fn promtool_unit_test_fires_the_error_budget_alert_only_above_min_requests() {
    let d = dir("budget");
    let rules = generate(&d, &[]);
    std::fs::write(d.join("rules.yml"), &rules).unwrap();
    let c = "pulsecheck_http_server_requests_total";
    // 10 % errors: over the 5 % budget. "busy" has 100 requests/min, "idle" 2 per minute
    // (10 per 5 minutes < min_requests 20), so only "busy" alerts.
    let test = format!(
        r#"rule_files: [rules.yml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: '{c}{{job="busy", http_response_status_code="200"}}'
        values: '0+90x20'
      - series: '{c}{{job="busy", http_response_status_code="500"}}'
        values: '0+10x20'
      - series: '{c}{{job="idle", http_response_status_code="200"}}'
        values: '0+1x20'
      - series: '{c}{{job="idle", http_response_status_code="500"}}'
        values: '0+1x20'
    promql_expr_test:
      - expr: ALERTS{{alertname="PulsecheckErrorRateCritical", alertstate="firing"}}
        eval_time: 10m
        exp_samples:
          - labels: 'ALERTS{{alertname="PulsecheckErrorRateCritical", alertstate="firing", job="busy", severity="critical"}}'
            value: 1
"#
    );
    std::fs::write(d.join("test.yml"), test).unwrap();
    let o = Command::new(promtool())
        .current_dir(&d)
        .args(["test", "rules", "test.yml"])
        .output()
        .unwrap();
    let (stdout, stderr) = text(&o);
    assert!(
        o.status.success(),
        "promtool test rules failed:\n{stdout}\n{stderr}\n{rules}"
    );
}

/// `--style sloth`: Sloth's series and labels, and its page/ticket alerts under
/// `promtool test rules`: a service failing every request pages (and opens a ticket), one
/// well under its budget stays quiet, and the period's budget left is Sloth's arithmetic.
#[test]
fn sloth_style_rules_page_on_a_burning_service_only() {
    let d = dir("sloth");
    // Two SLOs: their alerts share a name and must still be distinct rules for promtool.
    std::fs::write(
        d.join("pulsecheck.toml"),
        "[[slo]]\nname = \"availability\"\nobjective = 0.999\nkind = \"availability\"\n\n[[slo]]\nname = \"fast\"\nobjective = 0.99\nkind = \"latency\"\nthreshold_ms = 250\n",
    )
    .unwrap();
    let rules = generate(
        &d,
        &[
            "--config",
            "pulsecheck.toml",
            "--style",
            "sloth",
            "--service",
            "academy",
        ],
    );
    for want in [
        "- record: slo:sli_error:ratio_rate5m\n",
        "- record: slo:sli_error:ratio_rate30m\n",
        "- record: slo:sli_error:ratio_rate1h\n",
        "- record: slo:sli_error:ratio_rate2h\n",
        "- record: slo:sli_error:ratio_rate6h\n",
        "- record: slo:sli_error:ratio_rate1d\n",
        "- record: slo:sli_error:ratio_rate3d\n",
        "- record: slo:sli_error:ratio_rate30d\n",
        "- record: slo:objective:ratio\n",
        "- record: slo:error_budget:ratio\n",
        "- record: slo:time_period:days\n",
        "- record: slo:current_burn_rate:ratio\n",
        "- record: slo:period_burn_rate:ratio\n",
        "- record: slo:period_error_budget_remaining:ratio\n",
        "- record: sloth_slo_info\n",
        "sloth_id: \"academy-availability\"",
        "sloth_window: \"30d\"",
        // The pulsecheck-style SLO rules are replaced, the budgets stay.
        "PulsecheckErrorRateCritical",
    ] {
        assert!(rules.contains(want), "missing {want}:\n{rules}");
    }
    assert!(!rules.contains("pulsecheck:slo_errors"), "{rules}");
    check(&d, &rules);
    std::fs::write(d.join("rules.yml"), &rules).unwrap();
    let (page_summary, page_desc) = annotations(&rules, "page");
    let (ticket_summary, ticket_desc) = annotations(&rules, "ticket");
    let c = "pulsecheck_http_server_requests_total";
    // "down": every request fails (100 errors a minute) for 70 minutes. "fine": 0.05 % errors
    // (burn rate 0.5) all along. Counters, one sample a minute.
    let test = format!(
        r#"rule_files: [rules.yml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: '{c}{{job="down", http_route="/api/x", http_response_status_code="500"}}'
        values: '0+100x70'
      - series: '{c}{{job="fine", http_route="/api/x", http_response_status_code="200"}}'
        values: '0+1999x70'
      - series: '{c}{{job="fine", http_route="/api/x", http_response_status_code="503"}}'
        values: '0+1x70'
    alert_rule_test:
      - eval_time: 60m
        alertname: PulsecheckSloErrorBudgetBurn
        exp_alerts:
          - exp_labels: {{job: down, sloth_id: academy-availability, sloth_service: academy, sloth_slo: availability, severity: page, sloth_severity: page}}
            exp_annotations: {{summary: {page_summary}, description: {page_desc}}}
          - exp_labels: {{job: down, sloth_id: academy-availability, sloth_service: academy, sloth_slo: availability, severity: ticket, sloth_severity: ticket}}
            exp_annotations: {{summary: {ticket_summary}, description: {ticket_desc}}}
    promql_expr_test:
      # Sloth's period budget left: 1 - mean 5m error ratio / (1 - objective), 1 where it is
      # 0.5 for "fine" (within float error) and -999 for "down". The 30d window's label stays
      # on the series, as with Sloth's own rules.
      - expr: (slo:period_error_budget_remaining:ratio > bool 0.499) * (slo:period_error_budget_remaining:ratio < bool 0.501)
        eval_time: 60m
        exp_samples:
          - labels: '{{job="down", sloth_id="academy-availability", sloth_service="academy", sloth_slo="availability", sloth_window="30d"}}'
            value: 0
          - labels: '{{job="fine", sloth_id="academy-availability", sloth_service="academy", sloth_slo="availability", sloth_window="30d"}}'
            value: 1
"#
    );
    std::fs::write(d.join("test.yml"), test).unwrap();
    let o = Command::new(promtool())
        .current_dir(&d)
        .args(["test", "rules", "test.yml"])
        .output()
        .unwrap();
    let (stdout, stderr) = text(&o);
    assert!(
        o.status.success(),
        "promtool test rules failed:\n{stdout}\n{stderr}\n{rules}"
    );
}

/// Without a service name there is no `sloth_id`: a usage error naming the flag, not rules
/// with an empty service. OTEL_SERVICE_NAME names it, and wins over --service as in the service.
#[test]
fn sloth_style_needs_a_service_name() {
    let d = dir("sloth-name");
    let o = pulsecheck()
        .current_dir(&d)
        .env_remove("OTEL_SERVICE_NAME")
        .args(["rules", "--style", "sloth"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("--service"), "{}", text(&o).1);
    let o = pulsecheck()
        .current_dir(&d)
        .env("OTEL_SERVICE_NAME", "academy-prod")
        .args(["rules", "--style", "sloth", "--service", "academy"])
        .output()
        .unwrap();
    let (stdout, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    assert!(
        stdout.contains("sloth_id: \"academy-prod-availability\""),
        "{stdout}"
    );
}
