//! Every reader shows a breaker's live state: a real private `redis-server`, a `RedisCheck`
//! sharing its breaker with application calls, the server SIGKILLed, the breaker opened by real
//! failing calls, then `/health`, `/health/detailed`, the dashboard JSON, `/metrics`, the
//! alerts, readiness and gRPC health (Check and Watch) read over real sockets must all say
//! so within a second, long before the check's cached success would expire.

use support::procs;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use procs::RedisServer;
use pulsecheck::Pulse;
use pulsecheck::grpc::proto::health_check_response::ServingStatus;
use pulsecheck::grpc::proto::health_client::HealthClient;
use pulsecheck::grpc::proto::{HealthCheckRequest, HealthCheckResponse};
use pulsecheck::health::checks::RedisCheck;
use pulsecheck::health::{
    BreakerConfig, BreakerState, BreakerWindow, CheckExt as _, CircuitBreaker, HealthStatus,
};
use serde_json::Value;

/// How long every reader has, from the breaker opening, to show it.
const DUE: Duration = Duration::from_secs(1);

async fn serve_http(pulse: &Pulse) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app: axum::Router = pulse.routes();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    addr
}

async fn serve_grpc(pulse: &Pulse) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let service = pulsecheck::grpc::HealthService::from(pulse);
    tokio::spawn(async move {
        service
            .serve_with_listener(listener, std::future::pending())
            .await
            .unwrap();
    });
    addr
}

async fn get(addr: SocketAddr, path: &str) -> String {
    reqwest::get(format!("http://{addr}{path}"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

async fn get_json(addr: SocketAddr, path: &str) -> Value {
    let text = get(addr, path).await;
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {text}"))
}

/// What each reader says about the `redis` check and its breaker, as `reader -> verdict`
/// where the verdict is true when the reader shows the breaker open (and the check failing).
async fn readers(
    pulse: &Pulse,
    http: SocketAddr,
    grpc: &mut HealthClient<tonic::transport::Channel>,
) -> Vec<(&'static str, bool, String)> {
    let mut out = Vec::new();
    let h = get_json(http, "/health").await;
    let r = &h["checks"]["redis"];
    out.push((
        "/health",
        r["circuit"] == "open" && r["status"] == "down" && h["status"] == "degraded",
        r.to_string(),
    ));
    let d = get_json(http, "/health/detailed").await;
    let rt = &d["checks"]["redis:responseTime"][0];
    out.push((
        "/health/detailed",
        rt["circuit"] == "open" && rt["status"] == "fail",
        rt.to_string(),
    ));
    let dash = get_json(http, "/health/dashboard?format=json").await;
    let r = &dash["health"]["checks"]["redis"];
    out.push((
        "dashboard",
        r["circuit"] == "open" && r["status"] == "down",
        r.to_string(),
    ));
    let metrics = get(http, "/metrics").await;
    let open = metrics
        .lines()
        .any(|l| l == r#"pulsecheck_circuit_breaker_state{breaker="redis",state="open"} 1"#);
    let down = metrics.lines().any(|l| {
        l.starts_with("pulsecheck_health_check_status{")
            && l.contains(r#"check="redis""#)
            && l.contains(r#"status="down""#)
            && l.ends_with(" 1")
    });
    out.push((
        "/metrics",
        open && down,
        format!("breaker open {open}, check down {down}"),
    ));
    pulse.alerts().evaluate_now();
    let alerts = get_json(http, "/health/alerts").await;
    let names: Vec<String> = alerts["alerts"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    out.push((
        "alerts",
        names.iter().any(|n| n == "PulsecheckCircuitBreakerOpen")
            && names.iter().any(|n| n == "PulsecheckDependencyDown"),
        format!("{names:?}"),
    ));
    let serving = pulse.health().serving();
    out.push((
        "serving (readiness, gRPC \"\")",
        serving.status == HealthStatus::Degraded,
        format!("{serving:?}"),
    ));
    let status = grpc
        .check(HealthCheckRequest {
            service: "redis".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .status;
    out.push((
        "gRPC Check redis",
        status == ServingStatus::NotServing as i32,
        format!("{status}"),
    ));
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_reader_shows_the_breaker_opened_by_application_calls_within_a_second() {
    let mut redis = RedisServer::start();
    let breaker = CircuitBreaker::new(
        "redis",
        BreakerConfig {
            window: BreakerWindow::Count(10),
            minimum_calls: 5,
            open_wait: Duration::from_secs(120),
            ..BreakerConfig::default()
        },
    );
    // A success cached for a minute: only the breaker can make the readers change in time.
    let pulse = Pulse::builder()
        .without_telemetry()
        .check(
            RedisCheck::from_url(&redis.url())
                .unwrap()
                .ttl(Duration::from_secs(60))
                .breaker(breaker.clone()),
        )
        .build()
        .unwrap();
    let http = serve_http(&pulse).await;
    let grpc_addr = serve_grpc(&pulse).await;
    let mut grpc = HealthClient::connect(format!("http://{grpc_addr}"))
        .await
        .unwrap();

    let deadline = Instant::now() + Duration::from_secs(10);
    while get_json(http, "/health").await["checks"]["redis"]["status"] != "up" {
        assert!(Instant::now() < deadline, "redis check never came up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut watch = grpc
        .watch(HealthCheckRequest {
            service: "redis".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let first: HealthCheckResponse = watch.message().await.unwrap().unwrap();
    assert_eq!(first.status, ServingStatus::Serving as i32);

    redis.kill();
    // The application's own calls, through the shared breaker, to the dead server.
    let client = redis::Client::open(redis.url()).unwrap();
    let mut calls = 0;
    while breaker.state() != BreakerState::Open {
        calls += 1;
        assert!(
            calls <= 50,
            "the breaker did not open after 50 failed calls"
        );
        let _ = breaker
            .call(async {
                let mut conn = client.get_multiplexed_async_connection().await?;
                redis::cmd("PING").query_async::<String>(&mut conn).await
            })
            .await;
    }
    let opened = Instant::now();

    // gRPC Watch: an update must arrive without a new probe result.
    let watched = tokio::spawn(async move {
        loop {
            match tokio::time::timeout(Duration::from_secs(3), watch.message()).await {
                Ok(Ok(Some(m))) if m.status == ServingStatus::NotServing as i32 => {
                    return Some(opened.elapsed());
                }
                Ok(Ok(Some(_))) => continue,
                _ => return None,
            }
        }
    });

    let mut seen: Vec<(&str, Option<Duration>, String)> = Vec::new();
    loop {
        let now = readers(&pulse, http, &mut grpc).await;
        if seen.is_empty() {
            seen = now
                .iter()
                .map(|(n, _, _)| (*n, None, String::new()))
                .collect();
        }
        for ((_, at, last), (_, ok, detail)) in seen.iter_mut().zip(&now) {
            if *ok && at.is_none() {
                *at = Some(opened.elapsed());
            }
            *last = detail.clone();
        }
        if seen.iter().all(|(_, at, _)| at.is_some()) || opened.elapsed() > DUE * 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let watch_at = watched.await.unwrap();
    for (name, at, _) in &seen {
        eprintln!("{name}: breaker open shown after {at:?}");
    }
    eprintln!("gRPC Watch redis: NOT_SERVING after {watch_at:?}");
    for (name, at, last) in &seen {
        assert!(
            at.is_some_and(|t| t <= DUE),
            "{name} did not show the open breaker within {DUE:?} (shown after {at:?}); last: {last}"
        );
    }
    assert!(
        watch_at.is_some_and(|t| t <= DUE),
        "gRPC Watch of redis did not report NOT_SERVING within {DUE:?}: {watch_at:?}"
    );
}

/// `Health::observe`, for calls outside any breaker: a failure the application saw re-probes
/// the check at once (its cached success would have lasted a minute), however many failures
/// are reported the probes stay single-flight and rate-limited, and a success seen while the
/// check is down re-probes it back up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn observed_failures_reprobe_at_once_single_flight_and_rate_limited() {
    let mut redis = RedisServer::start();
    let pulse = Pulse::builder()
        .without_telemetry()
        .check(
            RedisCheck::from_url(&redis.url())
                .unwrap()
                .ttl(Duration::from_secs(60))
                .failure_ttl(Duration::from_secs(60))
                .interval(Duration::from_secs(60))
                .without_breaker(),
        )
        .build()
        .unwrap();
    let health = pulse.health().clone();
    let status = |h: &pulsecheck::health::Health| h.cached_report().checks[0].status();
    let deadline = Instant::now() + Duration::from_secs(10);
    while status(&health) != pulsecheck::health::CheckStatus::Up {
        assert!(Instant::now() < deadline, "redis check never came up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!health.observe("no-such-check", &Err::<(), _>("x")));

    redis.kill();
    let before = health.probes_started();
    let seen = Instant::now();
    // A burst of failures, as a busy service would report them.
    let client = redis::Client::open(redis.url()).unwrap();
    for _ in 0..200 {
        let r = client.get_multiplexed_async_connection().await;
        assert!(health.observe("redis", &r));
    }
    while status(&health) != pulsecheck::health::CheckStatus::Down {
        assert!(
            seen.elapsed() < DUE,
            "an observed failure did not mark the check down within {DUE:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let down_after = seen.elapsed();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let probes = health.probes_started() - before;
    eprintln!("observe: down after {down_after:?}; {probes} probes for 200 reported failures");
    assert!(
        (1..=3).contains(&probes),
        "200 reported failures caused {probes} probes (rate limit: one per 500 ms)"
    );

    redis.restart();
    let back = Instant::now();
    let r = client.get_multiplexed_async_connection().await;
    assert!(r.is_ok(), "redis is back");
    health.observe("redis", &r);
    while status(&health) != pulsecheck::health::CheckStatus::Up {
        assert!(
            back.elapsed() < DUE,
            "an observed success did not bring the check back within {DUE:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
