//! Bad input and misbehaving peers, over real local sockets: every case ends with a clear
//! message and the right exit code, never a panic.

mod cli_support;

#[path = "../../tests/support/mod.rs"]
mod support;

use std::io::Read as _;
use std::process::Stdio;
use std::time::{Duration, Instant};

use cli_support::{closed_port, closing_server, json_file, run, silent_server, text, tmp};
use support::academy::Academy;

#[test]
fn invalid_urls_are_refused_before_anything_is_sent() {
    for url in [
        "localhost:8080/x",
        "ftp://example.com/",
        "http://",
        "not a url",
    ] {
        let o = run(&["load", url, "-n", "1"]);
        let (_, stderr) = text(&o);
        assert_eq!(o.status.code(), Some(2), "{url}: {stderr}");
        assert!(stderr.contains("invalid URL"), "{url}: {stderr}");
    }
    let o = run(&["probe", "example.com"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("invalid URL"));
}

#[test]
fn refused_connection_names_the_cause() {
    let url = format!("http://127.0.0.1:{}/", closed_port());
    let o = run(&["load", &url, "-n", "5"]);
    let (_, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("cannot connect"), "{stderr}");
    assert!(stderr.contains("refused"), "{stderr}");
    assert!(stderr.contains("is the service running"), "{stderr}");
}

#[test]
fn dns_failure_is_reported_as_dns() {
    // .invalid never resolves (RFC 6761).
    let o = run(&[
        "load",
        "http://pulsecheck-test.invalid/",
        "-n",
        "1",
        "--timeout",
        "5s",
    ]);
    let (_, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("dns: cannot resolve `pulsecheck-test.invalid`"),
        "{stderr}"
    );
}

#[test]
fn tls_to_a_plain_http_server_is_a_tls_error() {
    let server = cli_support::TestServer::start();
    let url = format!("https://{}/", server.addr);
    let o = run(&["load", &url, "-n", "1"]);
    let (_, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("tls:"), "{stderr}");
    assert!(stderr.contains("plain HTTP"), "{stderr}");
}

#[test]
fn a_server_that_drops_connections_mid_answer_counts_resets() {
    let addr = closing_server();
    let out_file = tmp("reset.json");
    let o = run(&[
        "load",
        &format!("http://{addr}/"),
        "-c",
        "2",
        "-n",
        "20",
        "--output",
        out_file.to_str().unwrap(),
    ]);
    let (stdout, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("no request was answered (20 reset)"),
        "{stderr}"
    );
    assert!(stdout.contains("Failed requests by kind"), "{stdout}");
    let j = json_file(&out_file);
    assert_eq!(j["errors_by_kind"]["reset"], 20);
    assert_eq!(j["error_rate"], 1.0);
    assert!(j["latency_ms"].is_null());
}

#[test]
fn a_stalled_server_gives_timeouts() {
    let addr = silent_server();
    let out_file = tmp("stall.json");
    let o = run(&[
        "load",
        &format!("http://{addr}/"),
        "-c",
        "2",
        "-n",
        "4",
        "--timeout",
        "200ms",
        "--output",
        out_file.to_str().unwrap(),
    ]);
    let (_, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    let j = json_file(&out_file);
    assert_eq!(j["errors_by_kind"]["timeout"], 4);
    assert_eq!(j["error_samples"]["timeout"], "no answer within 200ms");
}

#[test]
fn probe_get_and_watch_fail_cleanly_on_an_unreachable_service() {
    let base = format!("http://127.0.0.1:{}", closed_port());
    let o = run(&["probe", &base, "--json"]);
    let (stdout, _) = text(&o);
    assert_eq!(o.status.code(), Some(1));
    let j: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(j["passed"], false);
    for c in j["checks"].as_array().unwrap() {
        assert_eq!(c["status"], "fail");
        assert!(c["detail"].as_str().unwrap().contains("refused"), "{c}");
    }
    let o = run(&["get", "budget", &base]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("refused"));
    let o = run(&["watch", &base, "--frames", "1", "--interval", "100ms"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(text(&o).0.contains("refused"));
}

#[test]
fn durations_too_large_to_run_name_the_flag_instead_of_panicking() {
    // Each passed validation and then panicked: in Duration::from_secs_f64 (1e20 s) or in
    // `Instant + Duration` (1e19 s fits a Duration, not an Instant).
    let url = format!("http://127.0.0.1:{}/", closed_port());
    for args in [
        vec!["load", url.as_str(), "-n", "1", "--timeout", "1e20"],
        vec!["load", url.as_str(), "-d", "1e19"],
        vec!["load", url.as_str(), "-d", "1e300"],
        vec!["load", url.as_str(), "-n", "1", "--warmup", "1e19"],
        vec!["load", url.as_str(), "-d", "400000000000h"],
        vec!["probe", url.as_str(), "--timeout", "1e20"],
    ] {
        let o = run(&args);
        let (_, stderr) = text(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {stderr}");
        let flag = args[args.len() - 2];
        let long = match flag {
            "-d" => "--duration",
            f => f,
        };
        assert!(
            stderr.contains(long),
            "{args:?} does not name {long}: {stderr}"
        );
        assert!(stderr.contains("is not a duration"), "{args:?}: {stderr}");
    }
    // A rate so low that the second request is due past any Instant.
    let o = run(&["load", &url, "--rate", "1e-300", "-n", "3"]);
    let (_, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("rate"), "{stderr}");
}

/// Runs `pulsecheck args..` with stdout a pipe whose reader reads `keep` bytes and goes away;
/// returns the exit code and stderr.
fn with_closed_stdout(args: &[&str], keep: usize) -> (Option<i32>, String) {
    let mut child = cli_support::pulsecheck()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn pulsecheck");
    let mut out = child.stdout.take().unwrap();
    let mut buf = vec![0u8; keep];
    let _ = out.read_exact(&mut buf);
    drop(out);
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("pulsecheck {args:?} still running 30 s after its stdout closed");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut stderr = String::new();
    let _ = child.stderr.take().unwrap().read_to_string(&mut stderr);
    (status.code(), stderr)
}

/// `pulsecheck .. | head -c 10`: the reader leaving is not an error. Every command that
/// prints exits 0 without a word, never "failed printing to stdout: Broken pipe" (101).
#[test]
fn a_closed_stdout_ends_every_command_quietly_with_0() {
    let academy = Academy::spawn(&[]);
    let base = format!("http://{}", academy.addr);
    let url = academy.url("/api/courses");
    let rules_config = tmp("rules.toml");
    std::fs::write(&rules_config, "[budgets]\np95_ms = 100\n").unwrap();
    let commands: Vec<Vec<&str>> = vec![
        vec!["get", "metrics", &base, "--window", "1m"],
        vec!["get", "--json", "health", &base],
        vec!["probe", &base, "--max-latency", "5s"],
        vec!["probe", "--json", &base, "--max-latency", "5s"],
        vec!["load", &url, "-n", "5", "--no-progress"],
        vec!["load", "--json", &url, "-n", "5", "--no-progress"],
        vec!["watch", &base, "--frames", "50", "--interval", "50ms"],
        vec![
            "watch",
            "--json",
            &base,
            "--frames",
            "50",
            "--interval",
            "50ms",
        ],
        vec!["rules", "--config", rules_config.to_str().unwrap()],
    ];
    // Reader gone before the first byte: every write fails.
    for args in &commands {
        let (code, stderr) = with_closed_stdout(args, 0);
        assert_eq!(code, Some(0), "{args:?}: {stderr}");
        for word in ["panicked", "Broken pipe", "error"] {
            assert!(!stderr.contains(word), "{args:?}: {stderr}");
        }
    }
    // Reader gone after 10 bytes, racing the writes, as `| head -c 10` does.
    for _ in 0..30 {
        for args in [&commands[0], &commands[6]] {
            let (code, stderr) = with_closed_stdout(args, 10);
            assert_eq!(code, Some(0), "{args:?}: {stderr}");
            for word in ["panicked", "Broken pipe", "error"] {
                assert!(!stderr.contains(word), "{args:?}: {stderr}");
            }
        }
    }
}
