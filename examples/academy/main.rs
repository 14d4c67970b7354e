//! The academy course-catalog API, instrumented with pulsecheck: every feature in one service.
//!
//! Run with: `cargo run --release --example academy` (embedded SQLite, no other server needed).
//!
//! | variable | default |
//! |---|---|
//! | `PORT` | `8080` (`0` picks a free port; the chosen address is logged) |
//! | `HOST` | `0.0.0.0` |
//! | `DATABASE_URL` | `sqlite::memory:`; `postgres://...` for PostgreSQL (migrated at start) |
//! | `OTEL_EXPORTER_OTLP_ENDPOINT` | unset: no export |
//! | `REDIS_URL` | unset: no cache; else the course list is cached there (behind a circuit breaker the Redis check shares), and a Redis check |
//! | `CACHE_TTL_SECS` | `30`: lifetime of the cached course list |
//! | `SMTP_URL` (+ `MAIL_FROM`) | unset: no email; else confirmation emails, and an SMTP check |
//! | `STRIPE_API_KEY` (+ `STRIPE_API_BASE`) | unset: no Stripe; else payments and the Stripe check |
//! | `PAYPAL_CLIENT_ID`, `PAYPAL_CLIENT_SECRET` (+ `PAYPAL_API_BASE`) | unset: no PayPal; else payments and the PayPal check |
//! | `GRPC_PORT` | unset: no gRPC; else `grpc.health.v1` on that port (`0` picks one) |
//! | `PULSE_DRAIN_DELAY` | `5s`: readiness is 503 this long after SIGTERM before the server stops |
//! | `PULSE_SHUTDOWN_DEADLINE` | `10s`: then connections still open are closed and telemetry flushed |
//!
//! Routes: `GET /api/courses`, `GET /api/courses/{id}`, `POST /api/enrollments`
//! (`{"course_id":1,"email":"a@b.c","provider":"stripe"|"paypal","payment_method":"pm_card_visa"}`),
//! `GET /api/simulate?latency_ms=&status=&panic=`, and pulsecheck's `/health`, `/health/live`,
//! `/health/ready`, `/health/detailed`, `/health/metrics`, `/health/budget` and `/metrics`.
//!
//! Without a payment provider an enrollment is free and confirmed at once. Errors: 400 bad
//! input, 404 unknown course, 409 course full, 402 payment declined, 502 provider failure,
//! 503 with `Retry-After` while the provider's circuit breaker is open.

mod api;
mod cache;
mod db;
mod mail;
mod payments;

use std::sync::Arc;
use std::time::Duration;

use pulsecheck::Pulse;
use pulsecheck::health::checks::{HttpCheck, PostgresCheck, RedisCheck, SmtpCheck, SystemCheck};
use pulsecheck::health::{CheckExt as _, Registration};

use api::AppState;
use cache::CourseCache;
use db::Db;
use mail::Mailer;
use payments::{Payments, Paypal, Stripe};

const CACHE_TTL_DEFAULT: Duration = Duration::from_secs(30);
const MAIL_FROM_DEFAULT: &str = "Academy <academy@example.com>";

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("academy: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// A variable that is set and not blank.
fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn payments() -> Result<Payments, Box<dyn std::error::Error>> {
    let stripe = env("STRIPE_API_KEY").map(|key| Stripe::new(key, env("STRIPE_API_BASE")));
    let paypal = match (env("PAYPAL_CLIENT_ID"), env("PAYPAL_CLIENT_SECRET")) {
        (Some(id), Some(secret)) => Some(Paypal::new(id, secret, env("PAYPAL_API_BASE"))),
        _ => None,
    };
    Ok(Payments::new(stripe, paypal)?)
}

/// The dependency checks whose configuration is present, sharing the application's pool and
/// payment breakers.
fn checks(
    config: &pulsecheck::config::PulseConfig,
    state: &AppState,
) -> Result<Vec<Registration>, Box<dyn std::error::Error>> {
    let mut checks = vec![
        SystemCheck::memory((config.budgets.memory_mib * 1024.0 * 1024.0) as u64).into(),
        SystemCheck::disk(std::env::temp_dir(), 64 * 1024 * 1024).into(),
    ];
    if let Some(pool) = state.db.postgres() {
        checks.push(
            PostgresCheck::new(pool.clone())
                .table("academy_courses")?
                .critical(),
        );
    }
    if let (Some(url), Some(cache)) = (env("REDIS_URL"), &state.cache) {
        // The cache's breaker: the requests' failures and the probes' count together.
        checks.push(RedisCheck::from_url(&url)?.breaker(cache.breaker().clone()));
    }
    if let Some(url) = env("SMTP_URL") {
        checks.push(SmtpCheck::from_url(&url)?.into());
    }
    if let Some(stripe) = state.payments.stripe() {
        let mut check = HttpCheck::stripe(env("STRIPE_API_KEY").unwrap_or_default());
        if let Some(base) = env("STRIPE_API_BASE") {
            check = check.base_url(&base)?;
        }
        checks.push(check.breaker(stripe.breaker.clone()));
    }
    if let Some(paypal) = state.payments.paypal() {
        let id = env("PAYPAL_CLIENT_ID").unwrap_or_default();
        let secret = env("PAYPAL_CLIENT_SECRET").unwrap_or_default();
        let mut check = HttpCheck::paypal(id, secret);
        if let Some(base) = env("PAYPAL_API_BASE") {
            check = check.base_url(&base)?;
        }
        checks.push(check.breaker(paypal.breaker.clone()));
    }
    Ok(checks)
}

async fn state() -> Result<AppState, Box<dyn std::error::Error>> {
    let url = env("DATABASE_URL").unwrap_or_else(|| "sqlite::memory:".into());
    // Schema first, so the first health probe of the database finds its table.
    let db = Db::connect(&url).await.map_err(|e| {
        // sqlx errors can quote the URL: keep the credentials out.
        format!(
            "cannot open the database: {}",
            pulsecheck::health::redact_url(&e.to_string())
        )
    })?;
    let cache = match env("REDIS_URL") {
        Some(url) => {
            let ttl = match env("CACHE_TTL_SECS") {
                Some(s) => Duration::from_secs(s.trim().parse().map_err(|_| {
                    format!("CACHE_TTL_SECS must be a number of seconds, got `{s}`")
                })?),
                None => CACHE_TTL_DEFAULT,
            };
            let cache =
                CourseCache::new(&url, ttl).map_err(|_| "REDIS_URL is not a valid redis:// URL")?;
            Some(Arc::new(cache))
        }
        None => None,
    };
    let mailer = match env("SMTP_URL") {
        Some(url) => {
            let from = env("MAIL_FROM").unwrap_or_else(|| MAIL_FROM_DEFAULT.into());
            Some(Arc::new(Mailer::from_url(&url, &from)?))
        }
        None => None,
    };
    Ok(AppState {
        db,
        cache,
        payments: Arc::new(payments()?),
        mailer,
    })
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let config = pulsecheck::config::PulseConfig::load()?;
    let host = std::env::var("HOST").unwrap_or_else(|_| "0.0.0.0".into());
    let port: u16 = match std::env::var("PORT") {
        Ok(p) => p
            .parse()
            .map_err(|_| format!("PORT must be a port number, got `{p}`"))?,
        Err(_) => 8080,
    };
    let state = state().await?;
    let mut builder = Pulse::builder()
        .service_name("academy-api")
        .service_version(env!("CARGO_PKG_VERSION"));
    for check in checks(&config, &state)? {
        builder = builder.check(check);
    }
    let pulse = builder.config(config).build()?;
    state.db.report_to(pulse.health());

    tracing::info!(
        db = state.db.system(),
        cache = state.cache.is_some(),
        email = state.mailer.is_some(),
        stripe = state.payments.stripe().is_some(),
        paypal = state.payments.paypal().is_some(),
        "database ready"
    );

    // The health endpoints go through the layer too (their access logs are off by default).
    let app = api::app(state).merge(pulse.routes()).layer(pulse.layer());
    if let Ok(grpc_port) = std::env::var("GRPC_PORT") {
        let grpc_port: u16 = grpc_port
            .parse()
            .map_err(|_| format!("GRPC_PORT must be a port number, got `{grpc_port}`"))?;
        let listener = tokio::net::TcpListener::bind((host.as_str(), grpc_port)).await?;
        tracing::info!(addr = %listener.local_addr()?, "grpc health listening");
        let service = pulsecheck::grpc::HealthService::from(&pulse);
        let stop = pulse.shutdown_signal();
        tokio::spawn(async move {
            if let Err(e) = service.serve_with_listener(listener, stop).await {
                tracing::error!(error = %e, "grpc health server failed");
            }
        });
    }
    let listener = tokio::net::TcpListener::bind((host.as_str(), port)).await?;
    tracing::info!(addr = %listener.local_addr()?, "academy listening");
    // Until SIGTERM: drain, close what is left after the deadline, flush telemetry.
    if let Err(e) = pulse.serve(listener, app).await {
        tracing::warn!(error = %e, "telemetry shutdown");
    }
    Ok(())
}
