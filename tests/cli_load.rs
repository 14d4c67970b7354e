//! `pulsecheck load` as a process against real local servers: the JSON shape, budgets and exit
//! codes, methods, headers, bodies, trace headers, HTTP/2, warm-up, the open model and
//! coordinated omission, Ctrl-C. Runs are short and bounded (loopback, at most a few seconds).
#![cfg(feature = "cli")]

mod cli_support;
mod support;

use std::time::Duration;

use cli_support::{TestServer, json_file, run, text, tmp};
use support::academy::Academy;

#[test]
fn closed_run_against_a_pulsecheck_service_writes_the_design_json_with_its_view() {
    let academy = Academy::spawn(&[]);
    let out_file = tmp("closed.json");
    let o = run(&[
        "load",
        &academy.url("/api/courses"),
        "-c",
        "4",
        "-n",
        "300",
        "--json",
        out_file.to_str().unwrap(),
    ]);
    let (stdout, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{stdout}\n{stderr}");
    let j = json_file(&out_file);
    assert_eq!(j["requests"], 300);
    assert_eq!(j["status_codes"]["200"], 300);
    assert_eq!(j["errors"], 0);
    assert_eq!(j["error_rate"], 0.0);
    assert_eq!(j["model"], "closed");
    assert!(j["rps"].as_f64().unwrap() > 0.0);
    assert!(j["duration_s"].as_f64().unwrap() > 0.0);
    let l = &j["latency_ms"];
    for k in ["min", "p50", "p90", "p95", "p99", "p999", "max"] {
        assert!(l[k].as_f64().is_some(), "latency_ms.{k} missing: {l}");
    }
    let (p50, p99, max) = (
        l["p50"].as_f64().unwrap(),
        l["p99"].as_f64().unwrap(),
        l["max"].as_f64().unwrap(),
    );
    assert!(l["min"].as_f64().unwrap() <= p50 && p50 <= p99 && p99 <= max);
    // The service's own view, before and after.
    let server = &j["server"];
    assert_eq!(server["endpoint"], "/health/metrics?window=1m");
    let after = server["after"]["requests"].as_u64().unwrap();
    let before = server["before"]["requests"].as_u64().unwrap();
    assert!(after >= before + 300, "service saw {before} then {after}");
    // The text report went to stdout.
    for want in [
        "Summary",
        "Latency",
        "p99.9",
        "Status codes",
        "Client vs service",
        "Slowest requests",
    ] {
        assert!(stdout.contains(want), "missing {want}: {stdout}");
    }
}

#[test]
fn budgets_decide_the_exit_code_and_5xx_count_as_errors() {
    let academy = Academy::spawn(&[]);
    let url = academy.url("/api/courses");
    let o = run(&[
        "load",
        &url,
        "-c",
        "2",
        "-n",
        "50",
        "--budget",
        "p99=30s,errors=1%",
    ]);
    let (stdout, _) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("budget met"), "{stdout}");

    let o = run(&["load", &url, "-c", "2", "-n", "50", "--budget", "p50=1us"]);
    let (stdout, _) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("budget FAILED"), "{stdout}");

    let out_file = tmp("errors.json");
    let o = run(&[
        "load",
        &academy.url("/api/simulate?status=503"),
        "-c",
        "2",
        "-n",
        "40",
        "--budget",
        "errors=5%",
        "--json",
        out_file.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let j = json_file(&out_file);
    assert_eq!(j["errors"], 40);
    assert_eq!(j["error_rate"], 1.0);
    assert_eq!(j["status_classes"]["5xx"], 40);
    assert_eq!(j["budget"]["passed"], false);
    assert_eq!(j["budget"]["checks"][0]["metric"], "errors");

    let o = run(&["load", &url, "-n", "5", "--budget", "p95=soon"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("not a duration"));
}

#[test]
fn method_headers_body_and_trace_ids_reach_the_server() {
    let server = TestServer::start();
    let body_file = tmp("body.json");
    std::fs::write(&body_file, br#"{"course_id":1}"#).unwrap();
    let out_file = tmp("trace.json");
    let o = run(&[
        "load",
        &server.url("/echo"),
        "-c",
        "2",
        "-n",
        "20",
        "-m",
        "post",
        "-H",
        "content-type: application/json",
        "-H",
        "x-tenant: t1",
        "--body-file",
        body_file.to_str().unwrap(),
        "--trace",
        "--json",
        out_file.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    let seen = server.seen();
    assert_eq!(seen.len(), 20);
    let mut trace_ids = std::collections::HashSet::new();
    for s in &seen {
        assert_eq!(s.method, "POST");
        assert_eq!(&s.body[..], br#"{"course_id":1}"#);
        assert_eq!(s.headers["x-tenant"], "t1");
        assert_eq!(s.headers["content-type"], "application/json");
        let tp = s.headers["traceparent"].to_str().unwrap();
        let parts: Vec<&str> = tp.split('-').collect();
        assert_eq!(parts.len(), 4, "{tp}");
        assert_eq!((parts[0], parts[3]), ("00", "01"));
        assert_eq!((parts[1].len(), parts[2].len()), (32, 16));
        assert!(
            parts[1]
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        // The request id is the trace id as a UUID.
        let rid = s.headers["x-request-id"].to_str().unwrap();
        assert_eq!(rid.replace('-', ""), parts[1]);
        trace_ids.insert(parts[1].to_owned());
    }
    assert_eq!(trace_ids.len(), 20, "every request has its own trace");
    let j = json_file(&out_file);
    let slowest = j["slowest"].as_array().unwrap();
    assert!(!slowest.is_empty());
    for s in slowest {
        assert!(trace_ids.contains(s["trace_id"].as_str().unwrap()), "{s}");
    }

    let o = run(&[
        "load",
        &server.url("/echo"),
        "-n",
        "3",
        "--body",
        "hi",
        "-m",
        "PUT",
    ]);
    assert_eq!(o.status.code(), Some(0));
    let last = server.seen();
    assert!(last[20..].iter().all(|s| s.method == "PUT"
        && &s.body[..] == b"hi"
        && !s.headers.contains_key("traceparent")));

    let o = run(&["load", &server.url("/"), "-n", "3", "-H", "no colon"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("is not `Name: value`"));
}

/// The admin token goes only where it was given for: the environment's `PULSE_ADMIN_TOKEN`
/// never leaves with `load` (the loaded host may be anyone's); an explicit `--token` goes to
/// the service's `/health/*` reads, never with the load itself.
#[test]
fn the_admin_token_is_sent_only_when_given_and_only_to_health_endpoints() {
    const ENV_TOKEN: &str = "env-admin-token-0123456789";
    const FLAG_TOKEN: &str = "flag-admin-token-9876543210";
    let server = TestServer::start();
    let out = cli_support::pulsecheck()
        .env("PULSE_ADMIN_TOKEN", ENV_TOKEN)
        .args(["load", &server.url("/echo"), "-c", "1", "-n", "5"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let first = server.requests();
    assert!(first.len() >= 5, "{first:?}");
    for (target, headers) in &first {
        assert!(
            headers.get("authorization").is_none(),
            "{target} got the environment's token"
        );
    }

    let out = cli_support::pulsecheck()
        .env("PULSE_ADMIN_TOKEN", ENV_TOKEN)
        .args(["load", &server.url("/echo"), "-c", "1", "-n", "5"])
        .args(["--token", FLAG_TOKEN])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let second = &server.requests()[first.len()..];
    let mut health_reads = 0;
    for (target, headers) in second {
        let auth = headers.get("authorization").map(|v| v.to_str().unwrap());
        if target.starts_with("/health/") {
            health_reads += 1;
            assert_eq!(
                auth,
                Some(format!("Bearer {FLAG_TOKEN}").as_str()),
                "{target}"
            );
        } else {
            assert_eq!(auth, None, "the load request to {target} carried a token");
        }
    }
    assert!(health_reads >= 1, "no /health/* read: {second:?}");
    let (stdout, stderr) = text(&out);
    assert!(
        !stdout.contains(FLAG_TOKEN) && !stderr.contains(FLAG_TOKEN),
        "token printed"
    );
}

#[test]
fn http2_runs_over_h2c_with_prior_knowledge() {
    let server = TestServer::start();
    let out_file = tmp("h2.json");
    let o = run(&[
        "load",
        &server.url("/echo"),
        "--http2",
        "-c",
        "2",
        "-n",
        "30",
        "--json",
        out_file.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    assert_eq!(json_file(&out_file)["http_version"], "HTTP/2");
    let seen = server.seen();
    assert_eq!(seen.len(), 30);
    assert!(
        seen.iter()
            .all(|s| s.version == axum::http::Version::HTTP_2)
    );
}

#[test]
fn warm_up_requests_are_sent_but_not_counted() {
    let server = TestServer::start();
    let out_file = tmp("warmup.json");
    let o = run(&[
        "load",
        &server.url("/echo"),
        "-c",
        "2",
        "-n",
        "25",
        "--warmup",
        "300ms",
        "--json",
        out_file.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    let j = json_file(&out_file);
    assert_eq!(j["requests"], 25);
    let warm = j["warmup_requests"].as_u64().unwrap();
    assert!(warm > 0);
    assert!(server.seen().len() as u64 >= 25 + warm);
}

#[test]
fn open_model_sends_on_schedule_and_reports_it() {
    let server = TestServer::start();
    let out_file = tmp("open.json");
    let o = run(&[
        "load",
        &server.url("/"),
        "--rate",
        "400",
        "-c",
        "4",
        "-n",
        "200",
        "--json",
        out_file.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    let j = json_file(&out_file);
    assert_eq!(j["model"], "open");
    assert_eq!(j["requests"], 200);
    let s = &j["schedule"];
    assert_eq!(s["rate"], 400.0);
    assert_eq!(s["dropped_sends"], 0);
    assert!(s["service_time_ms"]["p99"].as_f64().is_some());
    // 200 requests at 400/s take about half a second, not as fast as the server allows.
    assert!(j["duration_s"].as_f64().unwrap() >= 0.45, "{j}");
}

#[test]
fn a_server_stall_shows_in_the_open_model_and_hides_in_the_closed_one() {
    // The server holds every request arriving between 0.6 s and 1.6 s after the start.
    let server = TestServer::start();
    let open = tmp("stall-open.json");
    server.stall_in(Duration::from_millis(600), Duration::from_secs(1));
    let o = run(&[
        "load",
        &server.url("/"),
        "--rate",
        "200",
        "-c",
        "4",
        "-d",
        "2500ms",
        "--json",
        open.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    let open = json_file(&open);

    let closed = tmp("stall-closed.json");
    server.stall_in(Duration::from_millis(600), Duration::from_secs(1));
    let o = run(&[
        "load",
        &server.url("/"),
        "-c",
        "4",
        "-d",
        "2500ms",
        "--json",
        closed.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    let closed = json_file(&closed);

    // Open model: the ~200 requests due during the stall waited for it (latency from their
    // intended send time), so p90 and max carry most of the second.
    let ol = &open["latency_ms"];
    assert!(ol["max"].as_f64().unwrap() >= 800.0, "open: {ol}");
    assert!(ol["p90"].as_f64().unwrap() >= 400.0, "open: {ol}");
    assert!(open["schedule"]["late_sends"].as_u64().unwrap() > 0);
    // What the uncorrected figure would have said.
    let st = &open["schedule"]["service_time_ms"];
    assert!(
        st["p90"].as_f64().unwrap() < ol["p90"].as_f64().unwrap(),
        "{st}"
    );
    // Closed model: only the 4 requests in flight saw the stall; p99 hides it.
    let cl = &closed["latency_ms"];
    assert!(cl["max"].as_f64().unwrap() >= 800.0, "closed: {cl}");
    assert!(cl["p99"].as_f64().unwrap() < 400.0, "closed: {cl}");
}

#[test]
fn ctrl_c_reports_the_results_so_far() {
    let server = TestServer::start();
    let out_file = tmp("interrupted.json");
    let child = cli_support::pulsecheck()
        .args([
            "load",
            &server.url("/echo"),
            "-c",
            "1",
            "-d",
            "60s",
            "--json",
            out_file.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Running: the server has seen requests.
    let started = std::time::Instant::now();
    while server.seen().len() < 10 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no request arrived"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: plain kill(2) on our own child.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let o = child.wait_with_output().unwrap();
    let (stdout, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(130), "{stdout}\n{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert!(stdout.contains("Latency"), "{stdout}");
    let j = json_file(&out_file);
    assert_eq!(j["interrupted"], true);
    assert!(j["requests"].as_u64().unwrap() > 0);
    assert!(j["duration_s"].as_f64().unwrap() < 30.0);
}

#[test]
fn presets_set_connections_and_duration_unless_overridden() {
    use clap::Parser;
    use pulsecheck::cli::{Args, Command};
    use pulsecheck::load::Stop;
    let cfg = |args: &[&str]| {
        let a = Args::parse_from([&["pulsecheck", "load", "http://127.0.0.1:1/"], args].concat());
        let Command::Load(l) = a.command else {
            panic!()
        };
        l.config().unwrap()
    };
    let c = cfg(&["--preset", "stress"]);
    assert_eq!(
        (c.connections, c.stop),
        (50, Stop::After(Duration::from_secs(120)))
    );
    let c = cfg(&["--preset", "basic"]);
    assert_eq!(
        (c.connections, c.stop),
        (10, Stop::After(Duration::from_secs(60)))
    );
    let c = cfg(&["--preset", "stress", "-c", "7", "-n", "100"]);
    assert_eq!((c.connections, c.stop), (7, Stop::Requests(100)));
}
