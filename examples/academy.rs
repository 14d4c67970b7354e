//! The academy course-catalog API, instrumented with pulsecheck.
//!
//! Run with: `cargo run --release --example academy` (embedded SQLite, no other server needed).
//!
//! | variable | default |
//! |---|---|
//! | `PORT` | `8080` (`0` picks a free port; the chosen address is logged) |
//! | `HOST` | `0.0.0.0` |
//! | `DATABASE_URL` | `sqlite::memory:`; `postgres://...` for PostgreSQL |
//! | `OTEL_EXPORTER_OTLP_ENDPOINT` | unset: no export |
//! | `REDIS_URL`, `SMTP_URL` | unset: no check; else a Redis / SMTP health check |
//! | `STRIPE_API_KEY` (+ `STRIPE_API_BASE`) | unset: no check; else the Stripe balance check |
//! | `PAYPAL_CLIENT_ID`, `PAYPAL_CLIENT_SECRET` (+ `PAYPAL_API_BASE`) | unset: no check; else the PayPal token check |
//! | `GRPC_PORT` | unset: no gRPC; else `grpc.health.v1` on that port (`0` picks one) |
//! | `PULSE_DRAIN_DELAY` | `5s`: readiness is 503 this long after SIGTERM before the server stops |
//!
//! Routes: `GET /api/courses`, `GET /api/courses/{id}`, `POST /api/enrollments`
//! (`{"course_id":1,"email":"a@b.c"}`), `GET /api/simulate?latency_ms=&status=&panic=`, and
//! pulsecheck's `/health`, `/health/live`, `/health/ready`, `/health/detailed`,
//! `/health/metrics` and `/health/budget`.

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use pulsecheck::Pulse;
use pulsecheck::health::checks::{HttpCheck, PostgresCheck, RedisCheck, SmtpCheck, SystemCheck};
use pulsecheck::health::{CheckExt as _, Registration};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;
use sqlx::postgres::PgPoolOptions;
use tracing::instrument;

/// Longest delay `/api/simulate` accepts, so a demo cannot tie up a connection forever.
const MAX_SIMULATED_LATENCY_MS: u64 = 30_000;

#[derive(Clone)]
struct AppState {
    db: AnyPool,
    backend: Backend,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    fn system(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgresql",
        }
    }
}

#[derive(Serialize)]
struct Course {
    id: i64,
    title: String,
    description: String,
    price_cents: i64,
    seats: i64,
}

type CourseRow = (i64, String, String, i64, i64);

impl From<CourseRow> for Course {
    fn from((id, title, description, price_cents, seats): CourseRow) -> Self {
        Self {
            id,
            title,
            description,
            price_cents,
            seats,
        }
    }
}

#[derive(Deserialize)]
struct NewEnrollment {
    course_id: i64,
    email: String,
}

/// Failures a handler can answer with; internal detail goes to the log, never to the body.
enum ApiError {
    NotFound(&'static str),
    Invalid(String),
    Internal(sqlx::Error),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            Self::NotFound(what) => (StatusCode::NOT_FOUND, format!("{what} not found")),
            Self::Invalid(why) => (StatusCode::UNPROCESSABLE_ENTITY, why),
            Self::Internal(e) => {
                tracing::error!(error = %e, "database error");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal error".into())
            }
        };
        (status, Json(json!({ "error": message }))).into_response()
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        Self::Internal(e)
    }
}

#[instrument(name = "SELECT academy_courses", skip_all, fields(db.system.name = state.backend.system(), db.operation.name = "SELECT"))]
async fn list_courses_db(state: &AppState) -> Result<Vec<Course>, sqlx::Error> {
    let rows: Vec<CourseRow> = sqlx::query_as(
        "SELECT id, title, description, price_cents, seats FROM academy_courses ORDER BY id",
    )
    .fetch_all(&state.db)
    .await?;
    Ok(rows.into_iter().map(Course::from).collect())
}

#[instrument(name = "SELECT academy_courses", skip(state), fields(db.system.name = state.backend.system(), db.operation.name = "SELECT"))]
async fn find_course_db(state: &AppState, id: i64) -> Result<Option<Course>, sqlx::Error> {
    let row: Option<CourseRow> = sqlx::query_as(
        "SELECT id, title, description, price_cents, seats FROM academy_courses WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&state.db)
    .await?;
    Ok(row.map(Course::from))
}

async fn list_courses(State(state): State<AppState>) -> Result<Json<Vec<Course>>, ApiError> {
    let courses = list_courses_db(&state).await?;
    tracing::debug!(count = courses.len(), "listed courses");
    Ok(Json(courses))
}

async fn get_course(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<Course>, ApiError> {
    find_course_db(&state, id)
        .await?
        .map(Json)
        .ok_or(ApiError::NotFound("course"))
}

async fn create_enrollment(
    State(state): State<AppState>,
    Json(body): Json<NewEnrollment>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let email = body.email.trim();
    if email.len() > 254 || !email.contains('@') || email.starts_with('@') || email.ends_with('@') {
        return Err(ApiError::Invalid("email must be an address".into()));
    }
    if find_course_db(&state, body.course_id).await?.is_none() {
        return Err(ApiError::NotFound("course"));
    }
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO academy_enrollments (course_id, email) VALUES ($1, $2) RETURNING id",
    )
    .bind(body.course_id)
    .bind(email)
    .fetch_one(&state.db)
    .instrument_db("INSERT academy_enrollments", state.backend)
    .await?;
    tracing::info!(
        enrollment_id = id,
        course_id = body.course_id,
        "enrollment created"
    );
    Ok((
        StatusCode::CREATED,
        Json(json!({ "id": id, "course_id": body.course_id, "status": "confirmed" })),
    ))
}

#[derive(Deserialize)]
struct Simulate {
    latency_ms: Option<u64>,
    status: Option<u16>,
    panic: Option<bool>,
}

/// Drives budgets and alerts in demos: answers with the given status after the given delay.
async fn simulate(Query(q): Query<Simulate>) -> Response {
    let latency = q.latency_ms.unwrap_or(0);
    if latency > MAX_SIMULATED_LATENCY_MS {
        return ApiError::Invalid(format!(
            "latency_ms must be at most {MAX_SIMULATED_LATENCY_MS}"
        ))
        .into_response();
    }
    let Ok(status) = StatusCode::from_u16(q.status.unwrap_or(200)) else {
        return ApiError::Invalid("status must be 100..=599".into()).into_response();
    };
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    if q.panic == Some(true) {
        panic!("simulated panic");
    }
    if status.is_server_error() {
        tracing::warn!(status = status.as_u16(), "simulated failure");
    }
    (
        status,
        Json(json!({ "simulated": { "latency_ms": latency, "status": status.as_u16() } })),
    )
        .into_response()
}

trait InstrumentDb: Sized + std::future::Future {
    fn instrument_db(
        self,
        name: &'static str,
        backend: Backend,
    ) -> tracing::instrument::Instrumented<Self>;
}

impl<F: std::future::Future> InstrumentDb for F {
    fn instrument_db(
        self,
        name: &'static str,
        backend: Backend,
    ) -> tracing::instrument::Instrumented<Self> {
        use tracing::Instrument;
        self.instrument(tracing::info_span!(
            "db",
            otel.name = name,
            otel.kind = "client",
            db.system.name = backend.system()
        ))
    }
}

/// The routes, without the layer: tests and `main` add it.
fn app(state: AppState) -> Router {
    Router::new()
        .route("/api/courses", get(list_courses))
        .route("/api/courses/{id}", get(get_course))
        .route("/api/enrollments", post(create_enrollment))
        .route("/api/simulate", get(simulate))
        .with_state(state)
}

async fn connect(url: &str) -> Result<AppState, sqlx::Error> {
    sqlx::any::install_default_drivers();
    let backend = if url.starts_with("postgres") {
        Backend::Postgres
    } else {
        Backend::Sqlite
    };
    let options = AnyPoolOptions::new().acquire_timeout(Duration::from_secs(5));
    let options = match backend {
        // Every connection to `sqlite::memory:` is its own database: keep exactly one, forever.
        Backend::Sqlite => options
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None),
        Backend::Postgres => options.max_connections(10),
    };
    let db = options.connect(url).await?;
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS academy_courses (
            id BIGINT PRIMARY KEY, title TEXT NOT NULL, description TEXT NOT NULL,
            price_cents BIGINT NOT NULL, seats BIGINT NOT NULL)",
    )
    .execute(&db)
    .await?;
    let enrollments = match backend {
        Backend::Sqlite => {
            "CREATE TABLE IF NOT EXISTS academy_enrollments (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                course_id BIGINT NOT NULL REFERENCES academy_courses(id), email TEXT NOT NULL)"
        }
        Backend::Postgres => {
            "CREATE TABLE IF NOT EXISTS academy_enrollments (
                id BIGSERIAL PRIMARY KEY,
                course_id BIGINT NOT NULL REFERENCES academy_courses(id), email TEXT NOT NULL)"
        }
    };
    sqlx::query(enrollments).execute(&db).await?;
    let seed = [
        (
            1,
            "Rust for Backend Engineers",
            "Ownership to production services",
            19900,
            40,
        ),
        (
            2,
            "Observability with OpenTelemetry",
            "Traces, metrics and logs end to end",
            14900,
            30,
        ),
        (
            3,
            "SLOs in Practice",
            "Error budgets and burn-rate alerts",
            9900,
            25,
        ),
        (
            4,
            "PostgreSQL Performance",
            "Indexes, plans and pools",
            12900,
            35,
        ),
        (
            5,
            "Incident Response",
            "On-call that does not burn people out",
            7900,
            50,
        ),
    ];
    for (id, title, description, price, seats) in seed {
        sqlx::query(
            "INSERT INTO academy_courses (id, title, description, price_cents, seats)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING",
        )
        .bind(id as i64)
        .bind(title)
        .bind(description)
        .bind(price as i64)
        .bind(seats as i64)
        .execute(&db)
        .await?;
    }
    Ok(AppState { db, backend })
}

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

/// The dependency checks whose configuration is present.
fn checks(
    config: &pulsecheck::budget::PulseConfig,
    database_url: &str,
) -> Result<Vec<Registration>, Box<dyn std::error::Error>> {
    let mut checks = vec![
        SystemCheck::memory((config.budgets.memory_mib * 1024.0 * 1024.0) as u64).into(),
        SystemCheck::disk(std::env::temp_dir(), 64 * 1024 * 1024).into(),
    ];
    if database_url.starts_with("postgres") {
        // The app talks through sqlx's Any driver; the check keeps its own small pool.
        let pool = PgPoolOptions::new()
            .max_connections(2)
            .connect_lazy(database_url)
            .map_err(|_| "DATABASE_URL is not a valid PostgreSQL URL")?;
        checks.push(
            PostgresCheck::new(pool)
                .table("academy_courses")?
                .critical(),
        );
    }
    if let Some(url) = env("REDIS_URL") {
        checks.push(RedisCheck::from_url(&url)?.into());
    }
    if let Some(url) = env("SMTP_URL") {
        checks.push(SmtpCheck::from_url(&url)?.into());
    }
    if let Some(key) = env("STRIPE_API_KEY") {
        let mut stripe = HttpCheck::stripe(key);
        if let Some(base) = env("STRIPE_API_BASE") {
            stripe = stripe.base_url(&base)?;
        }
        checks.push(stripe.into());
    }
    if let (Some(id), Some(secret)) = (env("PAYPAL_CLIENT_ID"), env("PAYPAL_CLIENT_SECRET")) {
        let mut paypal = HttpCheck::paypal(id, secret);
        if let Some(base) = env("PAYPAL_API_BASE") {
            paypal = paypal.base_url(&base)?;
        }
        checks.push(paypal.into());
    }
    Ok(checks)
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| "sqlite::memory:".into());
    let config = pulsecheck::budget::PulseConfig::load()?;
    // Tables first, so the first health probe of the database finds them.
    let state = connect(&url).await.map_err(|e| {
        // sqlx errors can quote the URL: keep the credentials out.
        format!(
            "cannot open the database: {}",
            pulsecheck::health::redact_url(&e.to_string())
        )
    })?;
    let mut builder = Pulse::builder()
        .service_name("academy-api")
        .service_version(env!("CARGO_PKG_VERSION"));
    for check in checks(&config, &url)? {
        builder = builder.check(check);
    }
    let pulse = builder.config(config).build()?;

    tracing::info!(db = state.backend.system(), "database ready");

    // The health endpoints go through the layer too (their access logs are off by default).
    let app = app(state).merge(pulse.routes()).layer(pulse.layer());
    let host = std::env::var("HOST").unwrap_or_else(|_| "0.0.0.0".into());
    let port: u16 = match std::env::var("PORT") {
        Ok(p) => p
            .parse()
            .map_err(|_| format!("PORT must be a port number, got `{p}`"))?,
        Err(_) => 8080,
    };
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
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(pulse.shutdown_signal())
    .await?;
    if let Err(e) = pulse.shutdown().await {
        tracing::warn!(error = %e, "telemetry shutdown");
    }
    Ok(())
}
