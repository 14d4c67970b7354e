//! `pulsecheck probe`, `get` and `watch` against the academy example (the endpoints it serves
//! today; a missing one must be a clear failure line) and against a local server answering
//! the docs/endpoints.md shapes in each state.

use crate::cli_support;
use support::procs;

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use serde_json::{Value, json};

use cli_support::{run, text};
use support::academy::Academy;

#[test]
fn probe_against_academy_reports_every_endpoint_and_404s_as_failures() {
    let academy = Academy::spawn(&[]);
    let base = format!("http://{}", academy.addr);
    let o = run(&["probe", &base, "--json", "--max-latency", "5s"]);
    let (stdout, stderr) = text(&o);
    let j: Value =
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}\n{stderr}"));
    let checks = j["checks"].as_array().unwrap();
    let names: Vec<&str> = checks.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["health", "live", "ready", "budget", "alerts"]);
    let mut any_fail = false;
    for c in checks {
        if c["http_status"] == 404 {
            assert_eq!(c["status"], "fail", "{c}");
            assert!(
                c["detail"].as_str().unwrap().contains("404 Not Found"),
                "{c}"
            );
        }
        any_fail |= c["status"] == "fail";
    }
    // An idle service is within budget and has no alert firing (rules need 30 s of a
    // condition before firing).
    let budget = &checks[3];
    assert_eq!(budget["http_status"], 200, "{budget}");
    assert_eq!(budget["status"], "pass", "{budget}");
    let alerts = &checks[4];
    assert_eq!(alerts["http_status"], 200, "{alerts}");
    assert_eq!(alerts["status"], "pass", "{alerts}");
    assert_eq!(alerts["detail"], "no alert firing", "{alerts}");
    assert_eq!(j["passed"], !any_fail);
    assert_eq!(o.status.code(), Some(if any_fail { 1 } else { 0 }));

    // The text summary says the same.
    let o = run(&["probe", &base, "--max-latency", "5s"]);
    let (stdout, _) = text(&o);
    assert!(
        stdout.contains("budget") && stdout.contains("every budget within limits"),
        "{stdout}"
    );
}

#[test]
fn get_prints_endpoints_pretty_and_watch_renders_frames() {
    let academy = Academy::spawn(&[]);
    let base = format!("http://{}", academy.addr);
    let o = run(&["get", "metrics", &base, "--window", "1m"]);
    let (stdout, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert!(v["requests"].is_u64());
    assert!(stdout.contains("\n  \""), "pretty-printed: {stdout}");
    let o = run(&["get", "budget", &base]);
    assert_eq!(o.status.code(), Some(0));
    assert!(text(&o).0.contains("\"budgets\""));
    let o = run(&["get", "metrics", &base, "--window", "2d"]);
    assert_eq!(o.status.code(), Some(2));
    let o = run(&["get", "alerts", &base]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o).1);
    let v: Value = serde_json::from_str(&text(&o).0).unwrap();
    assert!(
        v["alerts"].is_array() && v["thresholds"]["latency_p95_ms"].is_number(),
        "{v}"
    );

    let o = run(&["watch", &base, "--frames", "2", "--interval", "200ms"]);
    let (stdout, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    assert_eq!(stdout.matches("pulsecheck watch").count(), 2, "{stdout}");
    for want in ["Traffic", "throughput", "p99", "Budget", "latency_p95_ms"] {
        assert!(stdout.contains(want), "missing {want}: {stdout}");
    }
}

/// `--json` is the same flag on every command: JSON on stdout instead of the text report, never
/// a file name that swallows the next argument (`probe --json URL` took the URL as its file);
/// `--output FILE` writes the JSON to a file beside the text report.
#[test]
fn json_is_a_stdout_flag_everywhere_and_output_writes_a_file() {
    let academy = Academy::spawn(&[]);
    let base = format!("http://{}", academy.addr);
    let parse = |o: &std::process::Output, what: &str| -> Value {
        let (stdout, stderr) = text(o);
        serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("{what}: stdout is not JSON ({e}): {stdout}\n{stderr}"))
    };

    let o = run(&["probe", "--json", &base, "--max-latency", "5s"]);
    assert!(parse(&o, "probe --json URL")["checks"].is_array());
    let o = run(&["probe", &base, "--json", "--max-latency", "5s"]);
    assert!(parse(&o, "probe URL --json")["checks"].is_array());

    let url = academy.url("/api/courses");
    let o = run(&["load", "--json", &url, "-n", "10", "--no-progress"]);
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    assert_eq!(parse(&o, "load --json URL")["requests"], 10);

    let o = run(&["get", "--json", "metrics", &base, "--window", "1m"]);
    let (stdout, _) = text(&o);
    assert!(!stdout.contains('\x1b'), "no colors with --json: {stdout}");
    assert!(parse(&o, "get --json")["requests"].is_u64());

    let o = run(&[
        "watch",
        "--json",
        &base,
        "--frames",
        "2",
        "--interval",
        "100ms",
    ]);
    let (stdout, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(lines[0]["metrics"]["requests"].is_u64(), "{}", lines[0]);

    // --output: the file gets the JSON, stdout keeps the text report.
    for (cmd, args) in [
        ("load", vec![url.as_str(), "-n", "5", "--no-progress"]),
        ("probe", vec![base.as_str(), "--max-latency", "5s"]),
    ] {
        let file = cli_support::tmp(&format!("{cmd}-output.json"));
        let mut all = vec![cmd];
        all.extend(args);
        all.extend(["--output", file.to_str().unwrap()]);
        let o = run(&all);
        let (stdout, stderr) = text(&o);
        assert!(
            serde_json::from_str::<Value>(&stdout).is_err() && !stdout.is_empty(),
            "{cmd}: text report expected on stdout: {stdout}{stderr}"
        );
        assert!(cli_support::json_file(&file).is_object(), "{cmd}");
    }
}

/// Without the token the service hides its version, uptime and breakers: `watch` says the
/// version needs the token instead of `version ?  up 0s` (a service that just restarted), and
/// prints no breaker column it cannot know. With the token, a check without a breaker says so
/// rather than `breaker ?`, and one with a breaker shows its state.
#[test]
fn watch_says_what_it_does_not_know_instead_of_question_marks() {
    let redis = procs::RedisServer::start();
    let redis_url = redis.url();
    let academy = Academy::spawn(&[
        ("PULSE_ADMIN_TOKEN", "watch-secret-token"),
        ("REDIS_URL", &redis_url),
    ]);
    let base = format!("http://{}", academy.addr);
    let health_line = |stdout: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with("Health"))
            .unwrap_or_else(|| panic!("no Health line: {stdout}"))
            .to_owned()
    };
    let check_line = |stdout: &str, name: &str| {
        stdout
            .lines()
            .find(|l| l.trim_start().starts_with(name))
            .unwrap_or_else(|| panic!("no {name} line: {stdout}"))
            .to_owned()
    };

    let o = run(&["watch", &base, "--frames", "1", "--interval", "100ms"]);
    let (stdout, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    let health = health_line(&stdout);
    assert!(health.contains("version unknown (needs token)"), "{health}");
    assert!(!health.contains("up 0s"), "{health}");
    assert!(!stdout.contains('?'), "{stdout}");
    for name in ["memory", "redis"] {
        let l = check_line(&stdout, name);
        assert!(!l.contains("breaker"), "the breaker needs the token: {l}");
    }
    assert!(!stdout.contains("watch-secret-token"), "{stdout}");

    let o = run(&[
        "watch",
        &base,
        "--frames",
        "1",
        "--interval",
        "100ms",
        "--token",
        "watch-secret-token",
    ]);
    let (stdout, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    let health = health_line(&stdout);
    assert!(
        health.contains(&format!("version {}", env!("CARGO_PKG_VERSION"))),
        "{health}"
    );
    assert!(health.contains(" up "), "{health}");
    assert!(!stdout.contains('?'), "{stdout}");
    let memory = check_line(&stdout, "memory");
    assert!(memory.contains("no breaker"), "{memory}");
    let redis_line = check_line(&stdout, "redis");
    assert!(redis_line.contains("breaker closed"), "{redis_line}");
    assert!(!stdout.contains("watch-secret-token"), "{stdout}");
}

/// `pulsecheck watch URL | head -n 3`: the reader closes the pipe after a few lines; the watch
/// ends quietly with 0 instead of panicking on the next frame.
#[test]
fn watch_into_a_closed_pipe_ends_cleanly() {
    use std::io::{BufRead, BufReader, Read};
    let academy = Academy::spawn(&[]);
    let base = format!("http://{}", academy.addr);
    let mut child = cli_support::pulsecheck()
        .args(["watch", &base, "--interval", "100ms"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn pulsecheck watch");
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.contains("pulsecheck watch"), "{first}");
    // The reader (and with it the pipe) is dropped here.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("watch kept running after its reader went away");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(status.code(), Some(0), "{stderr}");
}

/// Answers of a service in one state, as docs/endpoints.md specifies them.
#[derive(Clone)]
struct Answers {
    health: (u16, Value),
    ready: u16,
    budget: Value,
    alerts: Value,
    token: Option<&'static str>,
    health_delay_ms: u64,
}

fn contract_server(a: Answers) -> String {
    let a = Arc::new(Mutex::new(a));
    let authorized = |a: &Answers, h: &HeaderMap| match a.token {
        None => true,
        Some(t) => {
            h.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {t}"))
        }
    };
    let (a1, a2, a3, a4) = (a.clone(), a.clone(), a.clone(), a.clone());
    let app = Router::new()
        .route(
            "/health",
            get(move || {
                let a = a1.lock().unwrap().clone();
                async move {
                    tokio::time::sleep(std::time::Duration::from_millis(a.health_delay_ms)).await;
                    (
                        StatusCode::from_u16(a.health.0).unwrap(),
                        axum::Json(a.health.1),
                    )
                }
            }),
        )
        .route(
            "/health/live",
            get(|| async { axum::Json(json!({"status": "up"})) }),
        )
        .route(
            "/health/ready",
            get(move || {
                let code = a2.lock().unwrap().ready;
                async move {
                    (
                        StatusCode::from_u16(code).unwrap(),
                        axum::Json(
                            json!({"status": if code == 200 { "ready" } else { "not ready" }}),
                        ),
                    )
                }
            }),
        )
        .route(
            "/health/budget",
            get(move |h: HeaderMap| {
                let a = a3.lock().unwrap().clone();
                async move {
                    if !authorized(&a, &h) {
                        return (
                            StatusCode::UNAUTHORIZED,
                            axum::Json(json!({"error": "unauthorized"})),
                        );
                    }
                    (StatusCode::OK, axum::Json(a.budget))
                }
            }),
        )
        .route(
            "/health/alerts",
            get(move |h: HeaderMap| {
                let a = a4.lock().unwrap().clone();
                async move {
                    if !authorized(&a, &h) {
                        return (
                            StatusCode::UNAUTHORIZED,
                            axum::Json(json!({"error": "unauthorized"})),
                        );
                    }
                    (StatusCode::OK, axum::Json(a.alerts))
                }
            }),
        );
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.set_nonblocking(true).unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            axum::serve(tokio::net::TcpListener::from_std(l).unwrap(), app)
                .await
                .unwrap();
        });
    });
    format!("http://{addr}")
}

fn healthy() -> Answers {
    Answers {
        health: (
            200,
            json!({"status": "healthy", "checks": {"db": {"status": "healthy", "critical": true}}}),
        ),
        ready: 200,
        budget: json!({"status": "healthy", "budgets": []}),
        alerts: json!({"alerts": [], "thresholds": {}}),
        token: None,
        health_delay_ms: 0,
    }
}

fn probe(base: &str, extra: &[&str]) -> (i32, Value) {
    let mut args = vec!["probe", base, "--json"];
    args.extend_from_slice(extra);
    let o = run(&args);
    let (stdout, stderr) = text(&o);
    let v = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}\n{stderr}"));
    (o.status.code().unwrap(), v)
}

fn statuses(v: &Value) -> Vec<String> {
    v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["status"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn probe_passes_warns_and_fails_as_the_contract_says() {
    let (code, v) = probe(&contract_server(healthy()), &[]);
    assert_eq!(
        (code, statuses(&v)),
        (0, vec!["pass"; 5].into_iter().map(String::from).collect())
    );

    // Degraded health and a budget warning: warnings, still a pass unless --strict.
    let mut a = healthy();
    a.health = (
        200,
        json!({"status": "degraded", "checks": {"redis": {"status": "unhealthy", "critical": false, "error": "timeout"}}}),
    );
    a.budget = json!({"status": "warning", "budgets": [{"name": "latency_p95_ms", "limit": 1000.0, "value": 900.0, "utilization": 0.9, "status": "warning"}]});
    let base = contract_server(a);
    let (code, v) = probe(&base, &[]);
    assert_eq!(code, 0);
    assert_eq!(statuses(&v), ["warn", "pass", "pass", "warn", "pass"]);
    assert!(
        v["checks"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("redis (timeout)")
    );
    assert_eq!(probe(&base, &["--strict"]).0, 1);

    // Unhealthy, not ready, a critical alert firing.
    let mut a = healthy();
    a.health = (
        503,
        json!({"status": "unhealthy", "checks": {"db": {"status": "unhealthy", "critical": true, "error": "connection refused"}}}),
    );
    a.ready = 503;
    a.alerts =
        json!({"alerts": [{"name": "HighErrorRate", "severity": "critical", "status": "firing"}]});
    let (code, v) = probe(&contract_server(a), &[]);
    assert_eq!(code, 1);
    assert_eq!(statuses(&v), ["fail", "pass", "fail", "pass", "fail"]);
    assert!(
        v["checks"][4]["detail"]
            .as_str()
            .unwrap()
            .contains("HighErrorRate")
    );

    // A slow /health fails the response-time check.
    let mut a = healthy();
    a.health_delay_ms = 150;
    let (code, v) = probe(&contract_server(a), &[]);
    assert_eq!(code, 1);
    assert!(
        v["checks"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("over the 100ms limit"),
        "{v}"
    );
}

#[test]
fn probe_sends_the_admin_token_from_the_flag_or_the_environment() {
    let mut a = healthy();
    a.token = Some("s3cret");
    let base = contract_server(a);
    let (code, v) = probe(&base, &[]);
    assert_eq!(code, 1);
    assert!(
        v["checks"][3]["detail"]
            .as_str()
            .unwrap()
            .contains("PULSE_ADMIN_TOKEN"),
        "{v}"
    );
    assert_eq!(probe(&base, &["--token", "s3cret"]).0, 0);
    let o = cli_support::pulsecheck()
        .args(["probe", &base])
        .env("PULSE_ADMIN_TOKEN", "s3cret")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
}

#[test]
fn watch_on_a_terminal_takes_the_screen_and_quits_on_q() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};
    // util-linux `script` gives the program a pseudo-terminal; what we write to its stdin is
    // typed at that terminal.
    let server = cli_support::TestServer::start();
    let cmd = format!(
        "{} watch http://{} --interval 200ms",
        env!("CARGO_BIN_EXE_pulsecheck"),
        server.addr
    );
    let mut child = Command::new("script")
        .args(["-qefc", &cmd, "/dev/null"])
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("util-linux `script` runs the watch in a pseudo-terminal");
    std::thread::sleep(Duration::from_millis(1500));
    child.stdin.as_mut().unwrap().write_all(b"q").unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "watch did not quit on q"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let o = child.wait_with_output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("q to quit"), "{out}");
    assert!(
        out.contains("\x1b[?1049h"),
        "alternate screen entered: {out}"
    );
    assert!(out.contains("\x1b[?1049l"), "and left on quit: {out}");
}
