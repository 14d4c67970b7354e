//! Broken configuration fails at start-up with a message naming what to fix, and secrets in
//! the configuration never reach the output.

use support::academy::Academy;
use support::otlp::dead_port;

#[test]
fn unknown_otlp_protocol_names_the_variable() {
    let (status, out) = Academy::run_to_exit(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "carrier-pigeon"),
    ]);
    assert!(!status.success());
    assert!(out.contains("OTEL_EXPORTER_OTLP_PROTOCOL"), "{out}");
    assert!(out.contains("carrier-pigeon"), "{out}");
}

#[test]
fn invalid_log_filter_names_the_variable() {
    let (status, out) = Academy::run_to_exit(&[("RUST_LOG", "info,[[[=bogus")]);
    assert!(!status.success());
    assert!(out.contains("RUST_LOG"), "{out}");
}

#[test]
fn invalid_log_format_names_the_variable() {
    let (status, out) = Academy::run_to_exit(&[("PULSE_LOG_FORMAT", "xml")]);
    assert!(!status.success());
    assert!(out.contains("PULSE_LOG_FORMAT"), "{out}");
}

#[test]
fn invalid_attribute_length_limit_names_the_variable() {
    let (status, out) = Academy::run_to_exit(&[("OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", "lots")]);
    assert!(!status.success());
    assert!(
        out.contains("OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT"),
        "{out}"
    );
    assert!(out.contains("lots"), "{out}");
}

#[test]
fn a_huge_slo_threshold_names_the_field_instead_of_panicking() {
    // `threshold_ms = 1e300` passed validation, then panicked in Duration::from_secs_f64 when
    // the service built its aggregator.
    let path =
        std::env::temp_dir().join(format!("pulsecheck-huge-slo-{}.toml", std::process::id()));
    std::fs::write(
        &path,
        "[[slo]]\nname = \"a\"\nobjective = 0.99\nkind = \"latency\"\nthreshold_ms = 1e300\n",
    )
    .unwrap();
    let (status, out) = Academy::run_to_exit(&[("PULSE_CONFIG", path.to_str().unwrap())]);
    let _ = std::fs::remove_file(&path);
    assert!(!status.success());
    assert!(!out.contains("panicked"), "{out}");
    assert!(out.contains("threshold_ms"), "{out}");
}

#[test]
fn invalid_port_is_a_clear_error() {
    let (status, out) = Academy::run_to_exit(&[("PORT", "eighty")]);
    assert!(!status.success());
    assert!(out.contains("PORT must be a port number"), "{out}");
}

#[test]
fn unreachable_database_fails_without_printing_credentials() {
    let url = format!("postgres://admin:hunter2secret@{}/db", dead_port());
    let (status, out) = Academy::run_to_exit(&[("DATABASE_URL", &url)]);
    assert!(!status.success());
    assert!(!out.contains("hunter2secret"), "{out}");
    assert!(out.contains("cannot open the database"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_in_endpoint_and_headers_never_reach_the_log() {
    let endpoint = format!("http://user:topsecretpw@{}", dead_port());
    let mut app = Academy::spawn(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
        (
            "OTEL_EXPORTER_OTLP_HEADERS",
            "authorization=Bearer%20tokentopsecret",
        ),
        ("OTEL_BSP_SCHEDULE_DELAY", "50"),
    ]);
    let client = reqwest::Client::new();
    for _ in 0..5 {
        client.get(app.url("/api/courses")).send().await.unwrap();
    }
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    app.terminate();
    let text = app.lines.lock().unwrap().join("\n");
    assert!(text.contains("OTLP export on"), "{text}");
    assert!(!text.contains("topsecretpw"), "{text}");
    assert!(!text.contains("tokentopsecret"), "{text}");
}

#[test]
fn bad_budget_variable_names_it() {
    let (status, out) = Academy::run_to_exit(&[("PULSE_BUDGET_P95_MS", "fast")]);
    assert!(!status.success());
    assert!(out.contains("PULSE_BUDGET_P95_MS"), "{out}");
}

#[test]
fn missing_config_file_is_named() {
    let (status, out) = Academy::run_to_exit(&[("PULSE_CONFIG", "/nonexistent/pulsecheck.toml")]);
    assert!(!status.success());
    assert!(out.contains("/nonexistent/pulsecheck.toml"), "{out}");
}

#[test]
fn invalid_config_file_names_the_field() {
    let dir = std::env::temp_dir().join(format!("pulse-cfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("pulsecheck.toml");
    std::fs::write(&path, "[budgets]\nerror_rate = 7\n").unwrap();
    let (status, out) = Academy::run_to_exit(&[("PULSE_CONFIG", path.to_str().unwrap())]);
    assert!(!status.success());
    assert!(out.contains("budgets.error_rate"), "{out}");
    std::fs::write(&path, "[budgets]\np95 = 7\n").unwrap();
    let (status, out) = Academy::run_to_exit(&[("PULSE_CONFIG", path.to_str().unwrap())]);
    assert!(!status.success());
    assert!(out.contains("p95"), "{out}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn trace_link_template_without_its_placeholder_names_the_variable() {
    let (status, out) =
        Academy::run_to_exit(&[("PULSE_TRACE_URL", "http://localhost:16686/trace/")]);
    assert!(!status.success());
    assert!(
        out.contains("PULSE_TRACE_URL") && out.contains("{trace_id}"),
        "{out}"
    );
}
