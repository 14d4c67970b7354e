//! The academy example end to end, without Docker: real PostgreSQL (a fresh database per run),
//! a private Redis, a real SMTP server (aiosmtpd), the Stripe/PayPal stand-in, a real
//! Prometheus scraping `/metrics` and an OTLP receiver, driven by `pulsecheck load` for a few
//! seconds. Then each peer is asked what it holds: enrollment rows, the cached course list,
//! the confirmation emails, the academy's series, and the spans (CLIENT calls to the payment
//! APIs as children of the SERVER span, with the `traceparent` the stand-in saw).
//!
//! Needs PostgreSQL on 127.0.0.1:5432 (`PULSE_TEST_DATABASE_URL` overrides the admin URL),
//! `redis-server`, `python3` with aiosmtpd and `prometheus`; `scripts/test.sh` provides them.
//! Fails, never skips, when one is missing. Loopback only; bounded in time and requests.

#[allow(dead_code)]
#[path = "../../tests/support/procs.rs"]
mod procs;
#[allow(dead_code)]
#[path = "../../tests/support/prometheus.rs"]
mod prometheus;
#[allow(dead_code)]
#[path = "../../tests/support/smtp.rs"]
mod smtp_server;
#[allow(dead_code)]
#[path = "../../tests/support/stand_in.rs"]
mod stand_in;
#[path = "../../tests/support/mod.rs"]
mod support;

use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use serde_json::{Value, json};
use sqlx::postgres::PgPool;
use support::academy::Academy;
use support::otlp::{Receiver, attr, attr_int, attr_str, hex, wait_for};

const STRIPE_KEY: &str = "sk_test_e2esecretkey";
const PAYPAL_SECRET: &str = "paypale2esecret";
const CACHE_KEY: &str = "academy:courses:v1";

fn admin_url() -> String {
    std::env::var("PULSE_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A database of its own, dropped at the end, so runs never see each other's rows.
struct ScratchDb {
    admin: PgPool,
    name: String,
    url: String,
}

impl ScratchDb {
    async fn create() -> Self {
        let admin_url = admin_url();
        let admin = PgPool::connect(&admin_url).await.unwrap_or_else(|e| {
            panic!("PostgreSQL is not reachable ({e}): run scripts/test.sh, which starts it")
        });
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let name = format!("academy_e2e_{}_{nanos}", std::process::id());
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&admin)
            .await
            .expect("create the scratch database");
        let base = admin_url
            .rsplit_once('/')
            .map(|(b, _)| b.to_owned())
            .unwrap();
        let url = format!("{base}/{name}");
        Self { admin, name, url }
    }

    async fn drop_db(self) {
        let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        )))
        .execute(&self.admin)
        .await;
    }
}

/// `pulsecheck load` to completion; returns its `--json` report.
fn load(args: &[&str]) -> Value {
    let out_file = std::env::temp_dir().join(format!(
        "academy-e2e-{}-{}.json",
        std::process::id(),
        procs::free_port()
    ));
    let out = Command::new(env!("CARGO_BIN_EXE_pulsecheck"))
        .env_remove("PULSE_ADMIN_TOKEN")
        .env_remove("PULSE_CONFIG")
        .env("NO_COLOR", "1")
        .arg("load")
        .args(args)
        .args(["--no-progress", "--output", out_file.to_str().unwrap()])
        .output()
        .expect("run pulsecheck load");
    assert!(
        out.status.success(),
        "pulsecheck load {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let report = std::fs::read_to_string(&out_file).expect("the --json report");
    let _ = std::fs::remove_file(&out_file);
    serde_json::from_str(&report).expect("JSON report")
}

async fn enroll(app: &Academy, body: Value) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .post(app.url("/api/enrollments"))
        .json(&body)
        .send()
        .await
        .expect("POST /api/enrollments");
    let status = resp.status().as_u16();
    (status, resp.json().await.expect("a JSON body"))
}

fn by_id<'a>(spans: &'a [Span], id: &[u8]) -> Option<&'a Span> {
    spans.iter().find(|s| s.span_id == id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn academy_with_every_peer_under_load() {
    let db = ScratchDb::create().await;
    let redis = procs::RedisServer::start();
    let smtp = smtp_server::SmtpServer::start_recording_messages(Default::default());
    let stand_in = stand_in::StandIn::start().await;
    let rx = Receiver::start().await;
    let (redis_url, smtp_url, otlp) = (
        redis.url(),
        format!("smtp://127.0.0.1:{}", smtp.port),
        rx.endpoint("grpc"),
    );
    let mut app = Academy::spawn(&[
        ("DATABASE_URL", db.url.as_str()),
        ("REDIS_URL", &redis_url),
        ("CACHE_TTL_SECS", "120"),
        ("SMTP_URL", &smtp_url),
        ("STRIPE_API_KEY", STRIPE_KEY),
        ("STRIPE_API_BASE", &stand_in.base),
        ("PAYPAL_CLIENT_ID", "academy-e2e"),
        ("PAYPAL_CLIENT_SECRET", PAYPAL_SECRET),
        ("PAYPAL_API_BASE", &stand_in.base),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &otlp),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
    ]);
    let prom = prometheus::Prometheus::start("academy", app.addr);

    // A few direct requests: one per provider, a decline, bad input.
    let (status, stripe) = enroll(
        &app,
        json!({ "course_id": 1, "email": "ada@example.com", "provider": "stripe" }),
    )
    .await;
    assert_eq!(status, 201, "{stripe}");
    assert_eq!(stripe["status"], "paid");
    assert_eq!(stripe["email"], "sent");
    assert!(
        stripe["payment"]["id"]
            .as_str()
            .is_some_and(|id| id.starts_with("pi_")),
        "{stripe}"
    );
    let (status, paypal) = enroll(
        &app,
        json!({ "course_id": 2, "email": "grace@example.com", "provider": "paypal" }),
    )
    .await;
    assert_eq!(status, 201, "{paypal}");
    assert!(
        paypal["payment"]["id"]
            .as_str()
            .is_some_and(|id| id.starts_with("ORDER-")),
        "{paypal}"
    );
    stand_in.respond_at("/v1/payment_intents", 402);
    let (status, declined) = enroll(
        &app,
        json!({ "course_id": 1, "email": "broke@example.com", "provider": "stripe" }),
    )
    .await;
    assert_eq!(status, 402, "{declined}");
    assert_eq!(declined["code"], "payment_declined");
    stand_in.respond_at("/v1/payment_intents", 200);
    let (status, invalid) = enroll(&app, json!({ "course_id": 1, "email": "nobody" })).await;
    assert_eq!(status, 400, "{invalid}");
    assert_eq!(invalid["code"], "invalid_request");

    // Load: enrollments (POST with a body), then the course list for a few seconds.
    let posts = load(&[
        &app.url("/api/enrollments"),
        "-m",
        "POST",
        "-H",
        "content-type: application/json",
        "--body",
        r#"{"course_id":3,"email":"load@example.com"}"#,
        "-n",
        "6",
        "-c",
        "2",
    ]);
    assert_eq!(posts["status_codes"]["201"], 6, "{posts}");
    let gets = load(&[&app.url("/api/courses"), "-d", "3s", "-c", "4", "--trace"]);
    let got = gets["requests"].as_u64().unwrap();
    assert!(got > 10, "{gets}");
    assert_eq!(gets["status_codes"]["200"].as_u64(), Some(got), "{gets}");
    assert_eq!(gets["errors"], 0);

    // PostgreSQL: 1 Stripe + 1 PayPal + 6 from the load paid, 1 declined.
    let pg = PgPool::connect(&db.url).await.expect("scratch database");
    let rows: Vec<(String, Option<String>, Option<String>, i64)> = sqlx::query_as(
        "SELECT status, provider, payment_id, course_id FROM academy_enrollments ORDER BY id",
    )
    .fetch_all(&pg)
    .await
    .expect("enrollment rows");
    let paid: Vec<_> = rows.iter().filter(|r| r.0 == "paid").collect();
    assert_eq!(paid.len(), 8, "{rows:?}");
    assert!(paid.iter().all(|r| r.2.is_some()), "{rows:?}");
    assert_eq!(
        paid.iter()
            .filter(|r| r.1.as_deref() == Some("paypal"))
            .count(),
        1
    );
    assert_eq!(
        rows.iter()
            .filter(|r| r.0 == "declined" && r.2.is_none())
            .count(),
        1,
        "{rows:?}"
    );
    assert_eq!(rows.len(), 9, "bad input writes no row: {rows:?}");
    let migrations: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(&pg)
        .await
        .expect("sqlx migrations table");
    assert_eq!(migrations, 2);
    pg.close().await;

    // Redis: the course list, written after the last enrollment, with places taken.
    let client = redis::Client::open(redis_url.as_str()).unwrap();
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("redis");
    let cached: Option<String> = redis::cmd("GET")
        .arg(CACHE_KEY)
        .query_async(&mut conn)
        .await
        .unwrap();
    let cached: Value = serde_json::from_str(&cached.expect("the course list is cached")).unwrap();
    assert_eq!(cached.as_array().map(Vec::len), Some(5), "{cached}");
    assert_eq!(cached[2]["id"], 3);
    assert_eq!(cached[2]["enrolled"], 6, "{cached}");
    let ttl: i64 = redis::cmd("TTL")
        .arg(CACHE_KEY)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!((1..=120).contains(&ttl), "TTL {ttl}");

    // SMTP: one confirmation per paid enrollment, none for the decline.
    let messages = smtp.messages();
    assert_eq!(messages.len(), 8, "{messages:?}");
    let ada = messages
        .iter()
        .find(|m| m["to"] == json!(["ada@example.com"]))
        .expect("ada's confirmation");
    assert_eq!(
        ada["subject"],
        "You are enrolled: Rust for Backend Engineers"
    );
    assert!(ada["body"].as_str().unwrap().contains("$199.00"), "{ada}");
    assert!(
        !messages
            .iter()
            .any(|m| m["to"] == json!(["broke@example.com"]))
    );

    // The stand-in: authenticated payment calls with idempotency keys and trace context.
    let seen = stand_in.seen();
    let intents: Vec<_> = seen
        .iter()
        .filter(|s| s.path_and_query == "/v1/payment_intents")
        .collect();
    assert_eq!(intents.len(), 8, "1 + 1 declined + 6 from the load");
    for s in &intents {
        assert_eq!(s.header("authorization"), format!("Bearer {STRIPE_KEY}"));
        assert!(
            s.header("idempotency-key")
                .starts_with("academy-enrollment-")
        );
        assert!(s.body.contains("currency=usd"), "{}", s.body);
        assert!(s.header("traceparent").starts_with("00-"), "{s:?}");
    }
    let orders: Vec<_> = seen
        .iter()
        .filter(|s| s.path_and_query == "/v2/checkout/orders")
        .collect();
    assert_eq!(orders.len(), 1);
    assert!(orders[0].header("authorization").starts_with("Bearer "));
    assert!(
        orders[0].body.contains(r#""value":"149.00""#),
        "{}",
        orders[0].body
    );

    // Prometheus scraped the academy: its per-route series and the payment breakers.
    prom.wait_for(
        r#"pulsecheck_route_window_requests{job="academy",window="1m",route=~".*/api/courses"}"#,
        Duration::from_secs(30),
        |r| {
            r.iter().any(|s| {
                s["value"][1]
                    .as_str()
                    .and_then(|v| v.parse::<f64>().ok())
                    .is_some_and(|v| v >= got as f64)
            })
        },
    )
    .await;
    prom.wait_for(
        r#"pulsecheck_circuit_breaker_state{job="academy",state="closed"} == 1"#,
        Duration::from_secs(20),
        |r| {
            let mut names: Vec<&str> = r
                .iter()
                .filter_map(|s| s["metric"]["breaker"].as_str())
                .collect();
            names.sort_unstable();
            names.contains(&"stripe") && names.contains(&"paypal")
        },
    )
    .await;

    // Spans: the Stripe CLIENT span is a child of the enrollment's SERVER span, in its trace,
    // and is the parent the stand-in was told about.
    let traceparent = intents[0].header("traceparent").to_owned();
    let client = wait_for("the Stripe CLIENT span", Duration::from_secs(20), || {
        rx.store.spans().into_iter().find(|s| {
            s.kind == SpanKind::Client as i32
                && attr_str(&s.attributes, "url.full")
                    .is_some_and(|u| u.ends_with("/v1/payment_intents"))
                && traceparent.contains(&hex(&s.span_id))
        })
    })
    .await;
    assert_eq!(
        traceparent,
        format!("00-{}-{}-01", hex(&client.trace_id), hex(&client.span_id))
    );
    assert_eq!(client.name, "POST");
    assert_eq!(
        attr_str(&client.attributes, "http.request.method"),
        Some("POST")
    );
    assert_eq!(
        attr_str(&client.attributes, "server.address"),
        Some("127.0.0.1")
    );
    assert_eq!(
        attr_int(&client.attributes, "http.response.status_code"),
        Some(200)
    );
    let server = wait_for(
        "the enrollment SERVER span",
        Duration::from_secs(10),
        || by_id(&rx.store.spans(), &client.parent_span_id).cloned(),
    )
    .await;
    assert_eq!(server.kind, SpanKind::Server as i32);
    assert_eq!(server.name, "POST /api/enrollments");
    assert_eq!(server.trace_id, client.trace_id);

    // The PayPal trace: token and order, both CLIENT children of one SERVER span.
    let spans = wait_for("the PayPal CLIENT spans", Duration::from_secs(10), || {
        let spans = rx.store.spans();
        let paypal: Vec<Span> = spans
            .iter()
            .filter(|s| {
                s.kind == SpanKind::Client as i32
                    && attr_str(&s.attributes, "url.full").is_some_and(|u| {
                        u.ends_with("/v1/oauth2/token") || u.ends_with("/v2/checkout/orders")
                    })
                    && by_id(&spans, &s.parent_span_id)
                        .is_some_and(|p| p.name == "POST /api/enrollments")
            })
            .cloned()
            .collect();
        (paypal.len() >= 2).then_some(paypal)
    })
    .await;
    assert!(
        spans
            .iter()
            .all(|s| s.trace_id == spans[0].trace_id && s.parent_span_id == spans[0].parent_span_id),
        "token and order calls belong to one enrollment"
    );
    // The declined charge is an errored CLIENT span with error.type 402.
    let declined_span = rx
        .store
        .spans()
        .into_iter()
        .find(|s| attr_str(&s.attributes, "error.type") == Some("402"))
        .expect("the declined call's span");
    assert_eq!(declined_span.kind, SpanKind::Client as i32);

    // Cache, database and email work is traced too: hits and misses as attributes.
    let spans = rx.store.spans();
    let cache_hits: Vec<bool> = spans
        .iter()
        .filter(|s| s.name == format!("GET {CACHE_KEY}"))
        .filter_map(|s| match attr(&s.attributes, "cache.hit") {
            Some(opentelemetry_proto::tonic::common::v1::any_value::Value::BoolValue(b)) => {
                Some(*b)
            }
            _ => None,
        })
        .collect();
    assert!(
        cache_hits.contains(&true),
        "no cache hit among {cache_hits:?}"
    );
    assert!(
        cache_hits.contains(&false),
        "no cache miss among {cache_hits:?}"
    );
    for name in [
        "INSERT academy_enrollments",
        "UPDATE academy_enrollments",
        "smtp send",
        &format!("DEL {CACHE_KEY}"),
        &format!("SET {CACHE_KEY}"),
    ] {
        assert!(spans.iter().any(|s| s.name == name), "no `{name}` span");
    }

    // No credential reached the log.
    let logs = app.lines.lock().unwrap().join("\n");
    for secret in [STRIPE_KEY, PAYPAL_SECRET, "A21AAbody-token-secret"] {
        assert!(!logs.contains(secret), "{secret} leaked into the log");
    }
    let (status, _) = app.terminate();
    assert!(status.success());
    drop(prom);
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_provider_opens_the_shared_breaker_and_redis_outages_degrade_to_the_database() {
    let stand_in = stand_in::StandIn::start().await;
    stand_in.respond_at("/v1/payment_intents", 500);
    let dead_redis = format!("redis://127.0.0.1:{}/0", procs::free_port());
    let app = Academy::spawn(&[
        ("REDIS_URL", dead_redis.as_str()),
        ("STRIPE_API_KEY", STRIPE_KEY),
        ("STRIPE_API_BASE", &stand_in.base),
    ]);

    // Redis is down: the course list still comes from the database, quickly.
    for _ in 0..3 {
        let started = std::time::Instant::now();
        let courses = reqwest::get(app.url("/api/courses")).await.unwrap();
        assert_eq!(courses.status(), 200);
        let list: Value = courses.json().await.unwrap();
        assert_eq!(list.as_array().map(Vec::len), Some(5));
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    // Provider failures are 502s until the breaker has seen enough (5 calls, 50 % failed;
    // the health probe's calls count too, as it shares the breaker), then 503 at once.
    let body = json!({ "course_id": 4, "email": "ops@example.com" });
    let mut failures = 0;
    let resp = loop {
        let resp = reqwest::Client::new()
            .post(app.url("/api/enrollments"))
            .json(&body)
            .send()
            .await
            .unwrap();
        if resp.status() != 502 {
            break resp;
        }
        let reply: Value = resp.json().await.unwrap();
        assert_eq!(reply["code"], "payment_provider_error", "{reply}");
        failures += 1;
        assert!(failures <= 5, "the breaker never opened");
    };
    assert!(failures >= 3, "opened after {failures} failures");
    assert_eq!(resp.status(), 503);
    let retry_after: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .expect("Retry-After in seconds");
    assert!((1..=30).contains(&retry_after), "{retry_after}");
    let reply: Value = resp.json().await.unwrap();
    assert_eq!(reply["code"], "payment_unavailable");
    // Refused at once: the provider was not called a sixth time.
    let calls = stand_in
        .seen()
        .iter()
        .filter(|s| s.path_and_query == "/v1/payment_intents")
        .count();
    assert_eq!(calls, failures);
    // No place was taken by the failed enrollments.
    let course = app.get_json("/api/courses/4").await;
    assert_eq!(course["enrolled"], 0, "{course}");

    // /health shows the breaker the requests tripped: the check shares it.
    let health = app.get_json("/health").await;
    assert_eq!(health["checks"]["stripe"]["circuit"], "open", "{health}");
    assert_eq!(health["status"], "degraded", "{health}");
}
