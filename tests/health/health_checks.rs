//! The built-in health checks against real services: PostgreSQL and Redis on localhost (as on
//! CI; a missing one fails the test), private redis-server processes, a real SMTP server
//! (Python aiosmtpd) and a local HTTP server standing in for Stripe and PayPal. No mocks.
//!
//! Every check that holds a credential is also asserted to keep it out of its error, its
//! `Debug` output and everything logged while it ran.

use support::procs;
use support::smtp as smtp_server;
use support::stand_in;

use std::sync::{Arc, Mutex};

use pulsecheck::health::{Check, CheckError, ComponentKind, Observation};

const PG_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
const REDIS_URL: &str = "redis://127.0.0.1:6379/0";

/// Fails with every secret that shows up in `text`.
fn assert_no_secret(text: &str, secrets: &[&str]) {
    for secret in secrets {
        assert!(
            !text.contains(secret),
            "secret {secret:?} leaked in: {text}"
        );
    }
}

fn measurement(obs: &Observation, name: &str) -> serde_json::Value {
    obs.measurements()
        .iter()
        .find(|m| m.name == name)
        .unwrap_or_else(|| panic!("no {name} measurement in {obs:?}"))
        .value
        .clone()
}

fn pass<T: std::fmt::Debug>(result: Result<Observation, CheckError>, check: &T) -> Observation {
    result.unwrap_or_else(|e| panic!("{check:?} failed: {e}"))
}

fn fail<T: std::fmt::Debug>(result: Result<Observation, CheckError>, check: &T) -> CheckError {
    match result {
        Ok(obs) => panic!("{check:?} passed but should fail: {obs:?}"),
        Err(e) => e,
    }
}

/// Everything logged (at TRACE, every target) on this thread while `f` runs.
async fn logged<F: std::future::Future>(f: F) -> (F::Output, String) {
    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buf = Buf::default();
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let guard = tracing::subscriber::set_default(subscriber);
    let out = f.await;
    drop(guard);
    let text = String::from_utf8_lossy(&buf.0.lock().unwrap()).into_owned();
    (out, text)
}

#[cfg(feature = "postgres")]
mod postgres {
    use super::*;
    use pulsecheck::config::ConfigError;
    use pulsecheck::health::checks::PostgresCheck;
    use sqlx::postgres::PgPoolOptions;
    use std::time::Duration;

    async fn pool(max: u32) -> sqlx::PgPool {
        PgPoolOptions::new()
            .max_connections(max)
            .acquire_timeout(Duration::from_secs(5))
            .connect(PG_URL)
            .await
            .unwrap_or_else(|e| {
                panic!("PostgreSQL must run on 127.0.0.1:5432 with database test: {e}")
            })
    }

    #[tokio::test]
    async fn passes_and_reports_the_pool_without_counting_its_own_connection() {
        let pool = pool(5).await;
        // The application holds one connection while the probe runs.
        let held = pool.acquire().await.unwrap();
        let check = PostgresCheck::new(pool.clone());
        assert_eq!(check.name(), "postgres");
        assert_eq!(check.kind(), ComponentKind::Datastore);
        assert!(check.critical_by_default());

        let obs = pass(check.check().await, &check);
        assert_eq!(measurement(&obs, "connections"), 1, "{obs:?}");
        let d = obs.details();
        assert_eq!(d["pool_size"], 5);
        assert_eq!(d["in_use"], 1);
        assert!(d["open"].as_u64().unwrap() >= 2, "{d:?}");
        assert_eq!(
            d["open"].as_u64().unwrap(),
            d["idle"].as_u64().unwrap() + 1 + 1,
            "open = idle + in use + the probe's own: {d:?}"
        );
        drop(held);
    }

    #[tokio::test]
    async fn table_access_passes_and_a_missing_table_fails() {
        let pool = pool(2).await;
        sqlx::query("CREATE TABLE IF NOT EXISTS health_check_courses (id int)")
            .execute(&pool)
            .await
            .unwrap();

        for table in ["health_check_courses", "public.health_check_courses"] {
            let check = PostgresCheck::new(pool.clone()).table(table).unwrap();
            let obs = pass(check.check().await, &check);
            assert_eq!(obs.details()["table"], table);
        }

        let check = PostgresCheck::new(pool.clone())
            .table("no_such_table_for_health")
            .unwrap();
        let err = fail(check.check().await, &check);
        assert!(
            err.message().contains("no_such_table_for_health")
                && err.message().contains("does not exist"),
            "{err}"
        );
        // The pool is fine afterwards: the failure was the table, not the connection.
        let plain = PostgresCheck::new(pool);
        pass(plain.check().await, &plain);
    }

    #[tokio::test]
    async fn table_names_that_are_not_plain_identifiers_are_refused() {
        let pool = PgPoolOptions::new().connect_lazy(PG_URL).unwrap();
        for bad in [
            "courses; DROP TABLE x",
            "a\"b",
            "a.b.c",
            "",
            "1courses",
            "x y",
        ] {
            let err = PostgresCheck::new(pool.clone()).table(bad).unwrap_err();
            assert!(matches!(err, ConfigError::InvalidIdentifier(_)), "{bad}");
        }
    }

    #[tokio::test]
    async fn failures_never_show_the_password() {
        let secret = "pg-S3cret-pw";
        // Nothing listens on port 1: connection refused until the pool gives up.
        let dead = PgPoolOptions::new()
            .acquire_timeout(Duration::from_secs(1))
            .connect_lazy(&format!("postgres://postgres:{secret}@127.0.0.1:1/test"))
            .unwrap();
        let check = PostgresCheck::new(dead);
        let (result, logs) = logged(check.check()).await;
        let err = fail(result, &check);
        assert_no_secret(&format!("{err} {err:?} {check:?} {logs}"), &[secret]);

        // A real server answering with an error: the database does not exist.
        let wrong_db = PgPoolOptions::new()
            .acquire_timeout(Duration::from_secs(5))
            .connect_lazy(&format!(
                "postgres://postgres:{secret}@127.0.0.1:5432/no_such_db_for_health"
            ))
            .unwrap();
        let check = PostgresCheck::new(wrong_db);
        let (result, logs) = logged(check.check()).await;
        let err = fail(result, &check);
        assert!(err.message().contains("does not exist"), "{err}");
        assert_no_secret(&format!("{err} {err:?} {check:?} {logs}"), &[secret]);
    }
}

#[cfg(feature = "redis")]
mod redis {
    use super::procs::{RedisServer, free_port};
    use super::*;
    use pulsecheck::health::checks::RedisCheck;

    #[tokio::test]
    async fn passes_with_used_memory() {
        let check = RedisCheck::from_url(REDIS_URL).unwrap();
        assert_eq!(check.name(), "redis");
        assert_eq!(check.kind(), ComponentKind::Datastore);
        let obs = check
            .check()
            .await
            .unwrap_or_else(|e| panic!("Redis must run on 127.0.0.1:6379: {e}"));
        let used = measurement(&obs, "memory").as_u64().unwrap();
        assert!(used > 0, "{obs:?}");
        assert_eq!(obs.measurements()[0].unit.as_deref(), Some("bytes"));
        // The connection is reused: a second probe passes too.
        pass(check.check().await, &check);
    }

    #[tokio::test]
    async fn a_dead_port_fails() {
        let check = RedisCheck::from_url(&format!("redis://127.0.0.1:{}/0", free_port())).unwrap();
        let err = fail(check.check().await, &check);
        assert!(err.message().to_lowercase().contains("refused"), "{err}");
    }

    #[tokio::test]
    async fn a_killed_server_fails_and_a_restarted_one_passes_again() {
        let mut server = RedisServer::start();
        let check = RedisCheck::from_url(&server.url()).unwrap();
        pass(check.check().await, &check);
        pass(check.check().await, &check);

        server.kill();
        let err = fail(check.check().await, &check);
        assert!(!err.message().is_empty());
        // Still down: the next probe tries to reconnect and fails too.
        fail(check.check().await, &check);

        server.restart();
        let obs = pass(check.check().await, &check);
        assert!(measurement(&obs, "memory").as_u64().unwrap() > 0);
    }

    #[tokio::test]
    async fn a_probe_cancelled_mid_command_does_not_poison_later_probes() {
        let server = RedisServer::start();
        let check = RedisCheck::from_url(&server.url()).unwrap();
        pass(check.check().await, &check);
        // Freeze the server, time the probe out as the runner does (dropping it), thaw.
        let pause = std::process::Command::new("redis-cli")
            .args([
                "-p",
                &server.port.to_string(),
                "CLIENT",
                "PAUSE",
                "700",
                "ALL",
            ])
            .status()
            .expect("redis-cli");
        assert!(pause.success());
        let timed_out =
            tokio::time::timeout(std::time::Duration::from_millis(200), check.check()).await;
        assert!(timed_out.is_err(), "the paused server answered");
        // The cancelled probe threw its connection away (its state is unknown)...
        assert!(
            format!("{check:?}").contains("connected: false"),
            "{check:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(700)).await;
        // ...and the next probe connects afresh.
        pass(check.check().await, &check);
        assert!(
            format!("{check:?}").contains("connected: true"),
            "{check:?}"
        );
    }

    #[tokio::test]
    async fn credentials_stay_out_of_errors_debug_and_logs() {
        // The server has no password, so AUTH with one is refused.
        let secret = "rd-S3cret-pw";
        let check = RedisCheck::from_url(&format!("redis://:{secret}@127.0.0.1:6379/0")).unwrap();
        let (result, logs) = logged(check.check()).await;
        let err = fail(result, &check);
        assert_no_secret(&format!("{err} {err:?} {check:?} {logs}"), &[secret]);
        assert!(format!("{check:?}").contains("127.0.0.1:6379"));
    }
}

#[cfg(feature = "http")]
mod http {
    use super::stand_in::StandIn;
    use super::*;
    use ::http::{HeaderName, HeaderValue, Method, StatusCode};
    use pulsecheck::health::checks::HttpCheck;

    const STRIPE_KEY: &str = "sk_test_St3ipeKey";
    const PAYPAL_ID: &str = "pp-client-id";
    const PAYPAL_SECRET: &str = "pp-S3cret-secret";

    #[tokio::test]
    async fn stripe_sends_an_authenticated_balance_request() {
        let api = StandIn::start().await;
        let check = HttpCheck::stripe(STRIPE_KEY).base_url(&api.base).unwrap();
        assert_eq!(check.name(), "stripe");
        let (result, logs) = logged(check.check()).await;
        let obs = pass(result, &check);
        assert_eq!(obs.details()["status"], 200);

        let seen = api.seen();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].method, Method::GET);
        assert_eq!(seen[0].path_and_query, "/v1/balance");
        assert_eq!(
            seen[0].header("authorization"),
            format!("Bearer {STRIPE_KEY}")
        );
        assert_no_secret(
            &format!("{obs:?} {check:?} {logs}"),
            &[STRIPE_KEY, "St3ipeKey", "body-token-secret"],
        );
    }

    #[tokio::test]
    async fn paypal_sends_a_client_credentials_token_request() {
        let api = StandIn::start().await;
        let check = HttpCheck::paypal(PAYPAL_ID, PAYPAL_SECRET)
            .base_url(&api.base)
            .unwrap();
        assert_eq!(check.name(), "paypal");
        let (result, logs) = logged(check.check()).await;
        let obs = pass(result, &check);

        let seen = api.seen();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].method, Method::POST);
        assert_eq!(seen[0].path_and_query, "/v1/oauth2/token");
        // base64("pp-client-id:pp-S3cret-secret")
        assert_eq!(
            seen[0].header("authorization"),
            "Basic cHAtY2xpZW50LWlkOnBwLVMzY3JldC1zZWNyZXQ="
        );
        assert_eq!(
            seen[0].header("content-type"),
            "application/x-www-form-urlencoded"
        );
        assert_eq!(seen[0].body, "grant_type=client_credentials");
        // The token in the answer is read and dropped, never shown.
        assert_no_secret(
            &format!("{obs:?} {check:?} {logs}"),
            &[PAYPAL_ID, PAYPAL_SECRET, "cHAtY2xp", "body-token-secret"],
        );
    }

    #[tokio::test]
    async fn error_statuses_fail_with_the_status_and_no_secret() {
        let api = StandIn::start().await;
        for (status, word) in [
            (401, "401 Unauthorized"),
            (500, "500 Internal Server Error"),
        ] {
            api.respond_with(status);
            for check in [
                HttpCheck::stripe(STRIPE_KEY).base_url(&api.base).unwrap(),
                HttpCheck::paypal(PAYPAL_ID, PAYPAL_SECRET)
                    .base_url(&api.base)
                    .unwrap(),
            ] {
                let (result, logs) = logged(check.check()).await;
                let err = fail(result, &check);
                assert!(err.message().contains(word), "{err}");
                assert_no_secret(
                    &format!("{err} {err:?} {check:?} {logs}"),
                    &[STRIPE_KEY, PAYPAL_ID, PAYPAL_SECRET, "body-token-secret"],
                );
            }
        }
    }

    #[tokio::test]
    async fn generic_requests_keep_url_credentials_and_query_private() {
        let api = StandIn::start().await;
        let url = format!(
            "{}/internal/health?api_token=qS3cretQuery",
            api.base
                .replace("http://", "http://hc-user:hc-S3cret-pass@")
        );
        let check = HttpCheck::new(Method::HEAD, &url)
            .unwrap()
            .header(
                HeaderName::from_static("x-api-key"),
                HeaderValue::from_static("hdr-S3cret"),
            )
            .expect_status(StatusCode::NO_CONTENT);
        assert_eq!(check.name(), "127.0.0.1");
        // The stand-in answers 200, not the expected 204.
        let (result, logs) = logged(check.check()).await;
        let err = fail(result, &check);
        assert!(err.message().contains("200 OK"), "{err}");
        assert!(err.message().contains("HEAD http://127.0.0.1:"), "{err}");
        let secrets = ["hc-user", "hc-S3cret-pass", "qS3cretQuery", "hdr-S3cret"];
        assert_no_secret(&format!("{err} {err:?} {check:?} {logs}"), &secrets);

        let seen = api.seen();
        assert_eq!(seen[0].method, Method::HEAD);
        assert_eq!(
            seen[0].path_and_query,
            "/internal/health?api_token=qS3cretQuery"
        );
        assert_eq!(
            seen[0].header("authorization"),
            "Basic aGMtdXNlcjpoYy1TM2NyZXQtcGFzcw=="
        );
        assert_eq!(seen[0].header("x-api-key"), "hdr-S3cret");

        api.respond_with(204);
        pass(check.check().await, &check);
    }

    #[tokio::test]
    async fn an_unreachable_api_fails_without_the_key() {
        let port = super::procs::free_port();
        let check = HttpCheck::stripe(STRIPE_KEY)
            .base_url(&format!("http://127.0.0.1:{port}"))
            .unwrap();
        let (result, logs) = logged(check.check()).await;
        let err = fail(result, &check);
        assert!(err.message().contains("GET http://127.0.0.1:"), "{err}");
        assert!(err.message().to_lowercase().contains("connect"), "{err}");
        assert_no_secret(&format!("{err} {err:?} {check:?} {logs}"), &[STRIPE_KEY]);
    }
}

#[cfg(feature = "smtp")]
mod smtp {
    use super::smtp_server::{SmtpOptions, SmtpServer, TestPki};
    use super::*;
    use pulsecheck::health::checks::{SmtpCheck, SmtpTls};

    const USER: &str = "probe-user";
    const PASSWORD: &str = "sm-S3cret-pw";

    fn assert_no_mail(events: &[String]) {
        for cmd in ["MAIL", "RCPT", "DATA"] {
            assert!(!events.iter().any(|e| e == cmd), "{cmd} sent: {events:?}");
        }
    }

    #[tokio::test]
    async fn passes_against_a_server_without_auth_and_sends_no_mail() {
        let server = SmtpServer::start(SmtpOptions::default());
        let check = SmtpCheck::new("127.0.0.1", server.port);
        assert_eq!(check.name(), "smtp");
        let obs = pass(check.check().await, &check);
        assert_eq!(obs.details()["tls"], "none");
        let events = server.events();
        assert_eq!(events, ["EHLO", "QUIT"], "{events:?}");
    }

    #[tokio::test]
    async fn authenticates_when_credentials_are_given() {
        let server = SmtpServer::start(SmtpOptions {
            auth: Some((USER, PASSWORD)),
            ..SmtpOptions::default()
        });
        let check = SmtpCheck::from_url(&format!(
            "smtp://{USER}:{PASSWORD}@127.0.0.1:{}?tls=none",
            server.port
        ))
        .unwrap();
        let (result, logs) = logged(check.check()).await;
        let obs = pass(result, &check);
        assert_eq!(obs.details()["auth"], true);
        let events = server.events();
        assert_eq!(events.len(), 3, "{events:?}");
        assert_eq!(events[0], "EHLO");
        assert!(
            events[1].starts_with("AUTH ") && events[1].ends_with(" ok"),
            "{events:?}"
        );
        assert_eq!(events[2], "QUIT");
        assert_no_mail(&events);
        assert_no_secret(&format!("{obs:?} {check:?} {logs}"), &[PASSWORD]);
    }

    #[tokio::test]
    async fn bad_credentials_fail_without_leaking_them() {
        let server = SmtpServer::start(SmtpOptions {
            auth: Some((USER, PASSWORD)),
            ..SmtpOptions::default()
        });
        let wrong = "sm-Wr0ng-pw";
        let check = SmtpCheck::new("127.0.0.1", server.port)
            .tls(SmtpTls::None)
            .credentials(USER, wrong);
        let (result, logs) = logged(check.check()).await;
        let err = fail(result, &check);
        assert!(err.message().contains("AUTH"), "{err}");
        assert!(err.message().contains("535"), "{err}");
        assert_no_secret(
            &format!("{err} {err:?} {check:?} {logs}"),
            &[wrong, PASSWORD],
        );
        let events = server.events();
        assert!(events.iter().any(|e| e.ends_with(" fail")), "{events:?}");
        assert_no_mail(&events);
    }

    #[tokio::test]
    async fn credentials_are_not_sent_in_clear_unless_asked() {
        let server = SmtpServer::start(SmtpOptions {
            auth: Some((USER, PASSWORD)),
            ..SmtpOptions::default()
        });
        // Plain `smtp://`: STARTTLS when offered, and this server offers none.
        let check = SmtpCheck::from_url(&format!(
            "smtp://{USER}:{PASSWORD}@127.0.0.1:{}",
            server.port
        ))
        .unwrap();
        let err = fail(check.check().await, &check);
        assert!(err.message().contains("STARTTLS"), "{err}");
        assert_no_secret(&format!("{err} {check:?}"), &[PASSWORD]);
        let events = server.events();
        assert!(!events.iter().any(|e| e.starts_with("AUTH")), "{events:?}");

        let required = SmtpCheck::new("127.0.0.1", server.port).tls(SmtpTls::Required);
        let err = fail(required.check().await, &required);
        assert!(err.message().contains("STARTTLS"), "{err}");
    }

    #[tokio::test]
    async fn upgrades_with_starttls_then_authenticates() {
        let pki = TestPki::generate();
        let (cert, key) = (pki.cert(), pki.key());
        let server = SmtpServer::start(SmtpOptions {
            auth: Some((USER, PASSWORD)),
            starttls: Some((&cert, &key)),
        });
        let check = SmtpCheck::new("127.0.0.1", server.port)
            .tls(SmtpTls::Required)
            .credentials(USER, PASSWORD)
            .root_certificate(&pki.ca_pem)
            .unwrap();
        let (result, logs) = logged(check.check()).await;
        let obs = pass(result, &check);
        assert_eq!(obs.details()["tls"], "starttls");
        let events = server.events();
        assert_eq!(events[0], "EHLO");
        assert_eq!(events[1], "STARTTLS");
        assert_eq!(events[2], "EHLO");
        assert!(events[3].ends_with(" ok"), "{events:?}");
        assert_eq!(events[4], "QUIT");
        assert_no_mail(&events);
        assert_no_secret(&format!("{obs:?} {check:?} {logs}"), &[PASSWORD]);

        // Without the test CA the certificate is rejected.
        let untrusted = SmtpCheck::new("127.0.0.1", server.port).tls(SmtpTls::Opportunistic);
        let err = fail(untrusted.check().await, &untrusted);
        assert!(err.message().contains("STARTTLS"), "{err}");
    }

    #[tokio::test]
    async fn a_dead_port_fails() {
        let check = SmtpCheck::new("127.0.0.1", super::procs::free_port());
        let err = fail(check.check().await, &check);
        assert!(err.message().starts_with("connect"), "{err}");
    }
}

mod system {
    use super::*;
    use pulsecheck::health::checks::SystemCheck;

    fn rss() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let kb: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .unwrap()
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .unwrap();
        kb * 1024
    }

    #[tokio::test]
    async fn memory_passes_warns_and_fails_against_the_budget() {
        let huge = SystemCheck::memory(1 << 40);
        assert_eq!(huge.kind(), ComponentKind::System);
        let obs = pass(huge.check().await, &huge);
        assert!(!obs.is_warn());
        assert_eq!(obs.measurements()[0].name, "utilization");
        assert_eq!(obs.measurements()[0].unit.as_deref(), Some("percent"));

        // RSS at about 90 % of the budget: between the 80 % warning and the limit.
        let near = SystemCheck::memory(rss() * 10 / 9);
        let obs = pass(near.check().await, &near);
        assert!(obs.is_warn(), "{obs:?}");
        let used = measurement(&obs, "utilization").as_f64().unwrap();
        assert!((80.0..=100.0).contains(&used), "{used}");

        // The same budget with the warning moved to 95 %: a pass.
        let later = SystemCheck::memory(rss() * 10 / 8).warn_at(95.0);
        assert!(!pass(later.check().await, &later).is_warn());

        let tiny = SystemCheck::memory(1024 * 1024);
        let err = fail(tiny.check().await, &tiny);
        assert!(err.message().contains("budget"), "{err}");
        assert!(err.measurements()[0].value.as_f64().unwrap() > 100.0);
    }

    #[tokio::test]
    async fn disk_fails_below_the_minimum() {
        let dir = std::env::temp_dir();
        let ok = SystemCheck::disk(&dir, 1);
        let obs = pass(ok.check().await, &ok);
        assert!(measurement(&obs, "free").as_u64().unwrap() > 0);
        assert_eq!(ok.name(), "disk");

        let full = SystemCheck::disk(&dir, u64::MAX);
        let err = fail(full.check().await, &full);
        assert!(err.message().contains("below"), "{err}");

        let missing = SystemCheck::disk("/no/such/path/for/health", 1);
        let err = fail(missing.check().await, &missing);
        assert!(err.message().contains("No such file"), "{err}");
    }
}
