//! Health groups against real dependencies: the real Redis at 127.0.0.1:6379 (critical) and a
//! private `redis-server` (non-critical) that the test kills. The group holding the killed one
//! turns 503 while `/health` stays 200 `degraded`, over HTTP, gRPC health (tonic and Python
//! grpcio clients) and `pulsecheck probe --group`; unknown groups are 404, unknown members stop
//! start-up, and details need the admin token.

use crate::cli_support;
use support::http::{get_json as get, wait_until};
use support::procs;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use pulsecheck::Pulse;
use pulsecheck::config::PulseConfig;
use pulsecheck::grpc::HealthService;
use pulsecheck::grpc::proto::HealthCheckRequest;
use pulsecheck::grpc::proto::health_check_response::ServingStatus;
use pulsecheck::grpc::proto::health_client::HealthClient;
use pulsecheck::health::checks::RedisCheck;
use pulsecheck::health::{CheckExt, HealthConfig, Refresh, Registration};
use serde_json::Value;

const TOKEN: &str = "groups-test-token-0123456789";
const SHARED_REDIS: &str = "redis://127.0.0.1:6379/0";

fn redis(url: &str, name: &'static str) -> Registration {
    RedisCheck::from_url(url)
        .expect("redis url")
        .named(name)
        .timeout(Duration::from_millis(500))
        .ttl(Duration::from_millis(300))
        .failure_ttl(Duration::from_millis(200))
}

/// `sessions` (the shared Redis, critical) and `cache` (the private one, not critical);
/// groups `cache` and `sessions` from TOML, `all` from the builder.
fn pulse(private_url: &str) -> Pulse {
    let config = PulseConfig::from_toml_str(
        "[health.groups.cache]\ninclude = [\"cache\"]\n\n[health.groups.sessions]\ninclude = [\"sessions\"]\n",
    )
    .expect("config");
    support::pulse::builder()
        .drain_delay(Duration::ZERO)
        .admin_token(TOKEN)
        .config(config)
        .check(redis(SHARED_REDIS, "sessions").critical())
        .check(redis(private_url, "cache"))
        .health_group("all", ["sessions", "cache"])
        .build()
        .expect("pulse")
}

fn shared_redis_is_up() {
    assert!(
        std::net::TcpStream::connect_timeout(
            &"127.0.0.1:6379".parse().expect("addr"),
            Duration::from_secs(2)
        )
        .is_ok(),
        "this test needs the real Redis at 127.0.0.1:6379 (scripts/test.sh starts it)"
    );
}

async fn grpc_check(client: &mut HealthClient<tonic::transport::Channel>, service: &str) -> String {
    match client
        .check(HealthCheckRequest {
            service: service.into(),
        })
        .await
    {
        Ok(r) => ServingStatus::try_from(r.into_inner().status)
            .map(|s| s.as_str_name().to_owned())
            .unwrap_or_else(|_| "?".into()),
        Err(status) => format!("{:?}", status.code()),
    }
}

/// The grpcio peer: Check on each service named in argv[2..], as JSON.
const PYTHON_PEER: &str = r#"
import json, sys, grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
stub = health_pb2_grpc.HealthStub(grpc.insecure_channel(sys.argv[1]))
out = {}
for service in sys.argv[2:]:
    try:
        r = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
        out[service] = health_pb2.HealthCheckResponse.ServingStatus.Name(r.status)
    except grpc.RpcError as e:
        out[service] = e.code().name
print(json.dumps(out), flush=True)
"#;

fn python_check(addr: SocketAddr, services: &[&str]) -> Value {
    let out = std::process::Command::new("python3")
        .args(["-c", PYTHON_PEER, &addr.to_string()])
        .args(services)
        .output()
        .expect("python3 is required for this test (scripts/test.sh installs grpcio)");
    assert!(
        out.status.success(),
        "python3 with grpcio and grpcio-health-checking is required for this test \
         (pip install grpcio grpcio-health-checking): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON from the peer")
}

/// `pulsecheck probe BASE --json --token .. ARGS..` in a blocking thread (the server keeps
/// running on the runtime).
async fn probe(base: String, args: &'static [&'static str]) -> (Option<i32>, String, String) {
    tokio::task::spawn_blocking(move || {
        let mut all = vec!["probe", &base, "--max-latency", "5s", "--token", TOKEN];
        all.extend_from_slice(args);
        let o = cli_support::run(&all);
        let (stdout, stderr) = cli_support::text(&o);
        (o.status.code(), stdout, stderr)
    })
    .await
    .expect("probe thread")
}

fn group_line<'a>(probe: &'a Value, group: &str) -> &'a Value {
    probe["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| {
            c["name"] == "group"
                && c["url"]
                    .as_str()
                    .is_some_and(|u| u.ends_with(&format!("/health/group/{group}")))
        })
        .unwrap_or_else(|| panic!("no line for group {group}: {probe}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_fails_when_its_non_critical_member_dies_while_health_stays_degraded() {
    shared_redis_is_up();
    let mut private = procs::RedisServer::start();
    let p = pulse(&private.url());
    let addr = support::pulse::serve(support::pulse::app(&p)).await;
    let grpc_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let grpc_addr = grpc_listener.local_addr().expect("addr");
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let grpc = tokio::spawn(
        HealthService::from(&p).serve_with_listener(grpc_listener, async {
            let _ = stop_rx.await;
        }),
    );
    let mut client = HealthClient::connect(format!("http://{grpc_addr}"))
        .await
        .expect("connect");

    // Everything up: every group 200 healthy.
    wait_until(
        addr,
        "/health",
        Some(TOKEN),
        Duration::from_secs(5),
        |s, b| s == 200 && b["status"] == "healthy",
    )
    .await;
    for group in ["cache", "sessions", "all"] {
        let (status, body) = get(addr, &format!("/health/group/{group}"), None).await;
        assert_eq!(
            (status, &body["status"]),
            (200, &Value::from("healthy")),
            "{group}: {body}"
        );
        assert_eq!(body["group"], group);
    }
    // Python's grpcio client sees the same, and the group services are listed.
    let py = python_check(
        grpc_addr,
        &["group/cache", "group/all", "group/nope", "cache"],
    );
    assert_eq!(
        py,
        serde_json::json!({"group/cache": "SERVING", "group/all": "SERVING", "group/nope": "NOT_FOUND", "cache": "SERVING"})
    );
    let listed = client
        .list(pulsecheck::grpc::proto::HealthListRequest {})
        .await
        .expect("list")
        .into_inner()
        .statuses;
    for s in ["group/all", "group/cache", "group/sessions"] {
        assert!(listed.contains_key(s), "{s} not listed: {listed:?}");
    }

    // Watch on the group service: the current status at once, then the change.
    let mut watch = client
        .clone()
        .watch(HealthCheckRequest {
            service: "group/cache".into(),
        })
        .await
        .expect("watch")
        .into_inner();
    let mut next = async || {
        let msg = tokio::time::timeout(Duration::from_secs(5), watch.message())
            .await
            .expect("a Watch update in time")
            .expect("the Watch stream")
            .expect("an update");
        ServingStatus::try_from(msg.status).expect("a status")
    };
    assert_eq!(next().await, ServingStatus::Serving);

    private.kill();
    let killed = Instant::now();
    // The group whose member died turns 503 (the member is not critical for /health, but is
    // inside its group) within the failure TTL plus the probe.
    let detected = wait_until(
        addr,
        "/health/group/cache",
        Some(TOKEN),
        Duration::from_secs(3),
        |s, b| s == 503 && b["status"] == "unhealthy",
    )
    .await;
    let (status, health) = get(addr, "/health", None).await;
    assert_eq!(
        (status, &health["status"]),
        (200, &Value::from("degraded")),
        "{health}"
    );
    let (status, all) = get(addr, "/health/group/all", Some(TOKEN)).await;
    assert_eq!(status, 503, "{all}");
    assert_eq!(all["checks"]["cache"]["status"], "down", "{all}");
    assert_eq!(all["checks"]["sessions"]["status"], "up", "{all}");
    // Its own criticality is reported as it is; the group counts it as critical anyway.
    assert_eq!(all["checks"]["cache"]["critical"], false, "{all}");
    assert!(all["checks"]["cache"]["error"].is_string(), "{all}");
    let (status, sessions) = get(addr, "/health/group/sessions", None).await;
    assert_eq!(
        (status, &sessions["status"]),
        (200, &Value::from("healthy")),
        "{sessions}"
    );

    // Details only with the token: status alone without it or with a wrong one.
    for token in [None, Some("wrong-token-wrong-token")] {
        let (status, body) = get(addr, "/health/group/cache", token).await;
        assert_eq!(status, 503);
        assert_eq!(
            body,
            serde_json::json!({"group": "cache", "status": "unhealthy"}),
            "{token:?}"
        );
    }

    // gRPC: the group service follows (Watch included), the other group keeps serving.
    assert_eq!(next().await, ServingStatus::NotServing);
    assert_eq!(grpc_check(&mut client, "group/cache").await, "NOT_SERVING");
    assert_eq!(grpc_check(&mut client, "group/all").await, "NOT_SERVING");
    assert_eq!(grpc_check(&mut client, "group/sessions").await, "SERVING");
    assert_eq!(
        grpc_check(&mut client, "").await,
        "SERVING",
        "the server degrades, still serves"
    );
    let py = python_check(grpc_addr, &["group/cache", "group/sessions"]);
    assert_eq!(
        py,
        serde_json::json!({"group/cache": "NOT_SERVING", "group/sessions": "SERVING"})
    );

    // `pulsecheck probe --group`: the dead group's line fails and names the member.
    let (code, stdout, stderr) = probe(
        format!("http://{addr}"),
        &[
            "--json", "--group", "cache", "--group", "sessions", "--group", "nope",
        ],
    )
    .await;
    let j: Value =
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}\n{stderr}"));
    assert_eq!(code, Some(1), "{j}");
    assert_eq!(j["passed"], false);
    let cache = group_line(&j, "cache");
    assert_eq!(
        (&cache["status"], &cache["http_status"]),
        (&Value::from("fail"), &Value::from(503)),
        "{cache}"
    );
    let detail = cache["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("cache: unhealthy (503)") && detail.contains("cache ("),
        "{detail}"
    );
    assert_eq!(group_line(&j, "sessions")["status"], "pass");
    let nope = group_line(&j, "nope");
    assert_eq!(
        (&nope["status"], &nope["http_status"]),
        (&Value::from("fail"), &Value::from(404)),
        "{nope}"
    );
    assert!(
        nope["detail"]
            .as_str()
            .unwrap()
            .contains("no health group `nope`"),
        "{nope}"
    );

    private.restart();
    wait_until(
        addr,
        "/health/group/cache",
        Some(TOKEN),
        Duration::from_secs(5),
        |s, b| s == 200 && b["status"] == "healthy",
    )
    .await;
    let (code, stdout, _) = probe(format!("http://{addr}"), &["--group", "cache"]).await;
    assert!(
        stdout.contains("group") && stdout.contains("cache: healthy"),
        "{stdout}"
    );
    assert_eq!(code, Some(0), "{stdout}");

    // Group probes are monitoring traffic: shown per route, not counted in the service's
    // figures (the aggregator publishes each second).
    wait_until(
        addr,
        "/health/metrics?window=1m",
        Some(TOKEN),
        Duration::from_secs(5),
        |_, m| m["routes"]["/health/group/{name}"]["monitoring"] == true,
    )
    .await;
    let (_, m) = get(addr, "/health/metrics?window=1m", Some(TOKEN)).await;
    assert_eq!(m["requests"], 0, "{m}");
    assert!(
        m["routes"]["/health/group/{name}"]["requests"].as_u64() >= Some(5),
        "{m}"
    );
    eprintln!(
        "group 503 {detected:?} after the kill ({:?} in all)",
        killed.elapsed()
    );

    let _ = stop_tx.send(());
    grpc.await.expect("grpc task").expect("grpc serve");
}

#[tokio::test]
async fn an_unknown_group_is_a_404_naming_it() {
    let p = Pulse::builder()
        .without_telemetry()
        .config(PulseConfig::default())
        .check(redis(SHARED_REDIS, "sessions"))
        .health_group("sessions", ["sessions"])
        .build()
        .expect("pulse");
    let addr = support::pulse::serve(support::pulse::app(&p)).await;
    let (status, body) = get(addr, "/health/group/nope", None).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["group"], "nope");
    assert_eq!(body["error"], "no health group `nope`");
    assert_eq!(body["groups"], serde_json::json!(["sessions"]));
    // A long, non-ASCII name is echoed cut to 64 characters, JSON-escaped.
    let long = "%C3%A9\"".repeat(100).replace('"', "%22");
    let (status, body) = get(addr, &format!("/health/group/{long}"), None).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(
        body["group"].as_str().map(|g| g.chars().count()),
        Some(64),
        "{body}"
    );
    assert!(
        body["group"].as_str().unwrap().starts_with("é\"é"),
        "{body}"
    );
    let svc = HealthService::from(&p);
    assert_eq!(svc.status("group/nope"), None);
    assert_eq!(svc.status("nope"), None);
    assert!(svc.status("group/sessions").is_some());
}

#[test]
fn unknown_members_stop_start_up_naming_group_and_member() {
    let e = Pulse::builder()
        .without_telemetry()
        .config(PulseConfig::default())
        .check(redis(SHARED_REDIS, "redis"))
        .health_group("cache", ["redis", "memcached"])
        .build()
        .expect_err("memcached is not a check");
    let text = e.to_string();
    assert!(
        text.contains("health group `cache`")
            && text.contains("`memcached`")
            && text.contains("registered: redis"),
        "{text}"
    );

    let config = PulseConfig::from_toml_str("[health.groups.edge]\ninclude = [\"cdn\"]\n")
        .expect("valid TOML: members are checked at start-up");
    let e = Pulse::builder()
        .without_telemetry()
        .config(config)
        .build()
        .expect_err("cdn is not a check");
    assert!(
        e.to_string().contains("`edge`") && e.to_string().contains("`cdn`"),
        "{e}"
    );

    // Names that are not a path segment, and empty groups, are refused naming the field.
    for (toml, field) in [
        (
            "[health.groups.\"a/b\"]\ninclude = [\"redis\"]\n",
            "health.groups.a/b",
        ),
        (
            "[health.groups.cache]\ninclude = []\n",
            "health.groups.cache.include",
        ),
        (
            "[health.groups.cache]\ninclude = [\"redis\"]\nshow = 1\n",
            "show",
        ),
    ] {
        let e = PulseConfig::from_toml_str(toml)
            .expect_err(toml)
            .to_string();
        assert!(e.contains(field), "{toml}: {e}");
    }
    let e = Pulse::builder()
        .without_telemetry()
        .config(PulseConfig::default())
        .check(redis(SHARED_REDIS, "redis"))
        .health_group("", ["redis"])
        .build()
        .expect_err("empty name")
        .to_string();
    assert!(e.contains("health.groups."), "{e}");
}

#[test]
fn probe_refuses_a_group_name_that_is_not_one() {
    let o = cli_support::run(&["probe", "http://127.0.0.1:1", "--group", "a/b"]);
    let (_, stderr) = cli_support::text(&o);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--group `a/b`"), "{stderr}");
}

/// With on-demand refresh, a group probes its own members only: a hung dependency outside
/// the group cannot hold the group's answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_dependency_outside_the_group_does_not_hold_it_on_demand() {
    shared_redis_is_up();
    // Accepts connections and never answers.
    let hang = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let hang_addr = hang.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = hang.accept().await {
            held.push(socket);
        }
    });
    let timeout = Duration::from_secs(3);
    let p = Pulse::builder()
        .without_telemetry()
        .config(PulseConfig::default())
        .health_config(HealthConfig {
            refresh: Refresh::OnDemand,
            ..HealthConfig::default()
        })
        .check(redis(SHARED_REDIS, "sessions"))
        .check(
            pulsecheck::health::checks::HttpCheck::get(&format!("http://{hang_addr}/status"))
                .expect("url")
                .named("partner")
                .timeout(timeout),
        )
        .health_group("sessions", ["sessions"])
        .build()
        .expect("pulse");
    let addr = support::pulse::serve(support::pulse::app(&p)).await;
    let start = Instant::now();
    let (status, body) = get(addr, "/health/group/sessions", None).await;
    let took = start.elapsed();
    assert_eq!(
        (status, &body["status"]),
        (200, &Value::from("healthy")),
        "{body}"
    );
    // Far below the partner's 3 s timeout, with room for a loaded machine.
    assert!(
        took < Duration::from_millis(1500),
        "the group waited {took:?}"
    );
    let start = Instant::now();
    let (status, body) = get(addr, "/health", None).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        start.elapsed() >= timeout,
        "/health did wait for the partner"
    );
    eprintln!(
        "group answered in {took:?}; /health in {:?}",
        start.elapsed()
    );
}
