//! The database: PostgreSQL (`DATABASE_URL=postgres://...`) or the embedded in-memory SQLite,
//! schema and seed data from `migrations/<backend>/`, and every query as a CLIENT span.
//!
//! Two typed pools rather than sqlx's `Any` driver: the PostgreSQL health check takes the
//! application's own `PgPool`, so `/health` sees the pool the requests use (its size, its
//! exhaustion). The queries are written once in the SQL both backends accept (`$1`
//! placeholders, `RETURNING`, `ON CONFLICT`) and [`on_pool!`] compiles each for both pools.
//!
//! Every PostgreSQL query's outcome is reported to the `postgres` health check
//! ([`Health::observe`]): a refused connection or an exhausted pool seen by a request re-probes
//! the check at once, instead of waiting for its next scheduled probe.

use std::sync::{Arc, OnceLock};

use std::time::Duration;

use pulsecheck::health::Health;
use serde::{Deserialize, Serialize};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqlitePool, SqlitePoolOptions};
use tracing::instrument;

#[derive(Clone)]
pub(crate) enum Db {
    Postgres(PgPool, Observer),
    Sqlite(SqlitePool),
}

/// Where query outcomes are reported, once the health state exists (it is built after the
/// database, whose pool its check shares).
pub(crate) type Observer = Arc<OnceLock<Health>>;

/// Runs `$body` with `$pool` bound to whichever typed pool `$db` holds.
macro_rules! on_pool {
    ($db:expr, |$pool:ident| $body:expr) => {
        match $db {
            Db::Postgres($pool, _) => $body,
            Db::Sqlite($pool) => $body,
        }
    };
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnectError {
    #[error("DATABASE_URL must start with postgres://, postgresql:// or sqlite:")]
    Scheme,
    #[error(transparent)]
    Sqlx(#[from] sqlx::Error),
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// A course with how many places are taken.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub(crate) struct Course {
    pub(crate) id: i64,
    pub(crate) title: String,
    pub(crate) description: String,
    pub(crate) price_cents: i64,
    pub(crate) seats: i64,
    pub(crate) enrolled: i64,
}

type CourseRow = (i64, String, String, i64, i64, i64);

impl From<CourseRow> for Course {
    fn from((id, title, description, price_cents, seats, enrolled): CourseRow) -> Self {
        Self {
            id,
            title,
            description,
            price_cents,
            seats,
            enrolled,
        }
    }
}

/// Where an enrollment stands. `pending` rows are written before the payment call, so a
/// crash between charge and update leaves a row to reconcile, never a silent charge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EnrollmentStatus {
    /// Waiting for the payment provider's answer.
    Pending,
    /// Free (no payment provider configured): confirmed at once.
    Confirmed,
    Paid,
    Declined,
    PaymentFailed,
}

impl EnrollmentStatus {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Confirmed => "confirmed",
            Self::Paid => "paid",
            Self::Declined => "declined",
            Self::PaymentFailed => "payment_failed",
        }
    }
}

const COURSES: &str = "SELECT c.id, c.title, c.description, c.price_cents, c.seats, \
     COUNT(e.id) AS enrolled \
     FROM academy_courses c \
     LEFT JOIN academy_enrollments e ON e.course_id = c.id AND e.status IN ('paid', 'confirmed')";
const GROUP: &str = " GROUP BY c.id, c.title, c.description, c.price_cents, c.seats";

impl Db {
    /// Opens the pool and brings the schema up to date.
    pub(crate) async fn connect(url: &str) -> Result<Self, ConnectError> {
        let db = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let pool = PgPoolOptions::new()
                .max_connections(10)
                .acquire_timeout(Duration::from_secs(5))
                .connect(url)
                .await?;
            // Concurrent starts against one database are safe: sqlx takes an advisory lock.
            sqlx::migrate!("examples/academy/migrations/postgres")
                .run(&pool)
                .await?;
            Self::Postgres(pool, Observer::default())
        } else if url.starts_with("sqlite:") {
            // Every connection to `sqlite::memory:` is its own database: keep exactly one.
            let pool = SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .acquire_timeout(Duration::from_secs(5))
                .connect(url)
                .await?;
            sqlx::migrate!("examples/academy/migrations/sqlite")
                .run(&pool)
                .await?;
            Self::Sqlite(pool)
        } else {
            return Err(ConnectError::Scheme);
        };
        Ok(db)
    }

    /// `db.system.name`.
    pub(crate) fn system(&self) -> &'static str {
        match self {
            Self::Postgres(..) => "postgresql",
            Self::Sqlite(_) => "sqlite",
        }
    }

    /// The PostgreSQL pool, for the health check.
    pub(crate) fn postgres(&self) -> Option<&PgPool> {
        match self {
            Self::Postgres(pool, _) => Some(pool),
            Self::Sqlite(_) => None,
        }
    }

    /// Reports query outcomes to `health` from now on (PostgreSQL only).
    pub(crate) fn report_to(&self, health: &Health) {
        if let Self::Postgres(_, observer) = self {
            let _ = observer.set(health.clone());
        }
    }

    /// Tells the `postgres` check what a query saw: a failure when the database could not be
    /// reached (I/O, TLS, protocol, pool timeout), a success when it answered (even with an
    /// error of the query's own, such as a constraint violation).
    fn seen<T>(&self, result: Result<T, sqlx::Error>) -> Result<T, sqlx::Error> {
        if let Self::Postgres(_, observer) = self
            && let Some(health) = observer.get()
        {
            let reached = match &result {
                Err(
                    sqlx::Error::Io(_)
                    | sqlx::Error::Tls(_)
                    | sqlx::Error::Protocol(_)
                    | sqlx::Error::PoolTimedOut
                    | sqlx::Error::PoolClosed
                    | sqlx::Error::WorkerCrashed,
                ) => Err(()),
                _ => Ok(()),
            };
            health.observe("postgres", &reached);
        }
        result
    }

    #[instrument(name = "SELECT academy_courses", skip_all, fields(
        otel.kind = "client", db.system.name = self.system(), db.operation.name = "SELECT",
        db.collection.name = "academy_courses", db.response.returned_rows = tracing::field::Empty))]
    pub(crate) async fn courses(&self) -> Result<Vec<Course>, sqlx::Error> {
        let sql = format!("{COURSES}{GROUP} ORDER BY c.id");
        let rows: Vec<CourseRow> = on_pool!(self, |pool| {
            self.seen(
                sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .fetch_all(pool)
                    .await,
            )?
        });
        tracing::Span::current().record("db.response.returned_rows", rows.len() as i64);
        Ok(rows.into_iter().map(Course::from).collect())
    }

    #[instrument(name = "SELECT academy_courses", skip(self), fields(
        otel.kind = "client", db.system.name = self.system(), db.operation.name = "SELECT",
        db.collection.name = "academy_courses"))]
    pub(crate) async fn course(&self, id: i64) -> Result<Option<Course>, sqlx::Error> {
        let sql = format!("{COURSES} WHERE c.id = $1{GROUP}");
        let row: Option<CourseRow> = on_pool!(self, |pool| {
            self.seen(
                sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(id)
                    .fetch_optional(pool)
                    .await,
            )?
        });
        Ok(row.map(Course::from))
    }

    #[instrument(name = "INSERT academy_enrollments", skip_all, fields(
        otel.kind = "client", db.system.name = self.system(), db.operation.name = "INSERT",
        db.collection.name = "academy_enrollments", status = status.as_str()))]
    pub(crate) async fn insert_enrollment(
        &self,
        course: &Course,
        email: &str,
        provider: Option<&str>,
        status: EnrollmentStatus,
    ) -> Result<i64, sqlx::Error> {
        const SQL: &str = "INSERT INTO academy_enrollments \
             (course_id, email, status, provider, amount_cents) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id";
        let (id,): (i64,) = on_pool!(self, |pool| {
            self.seen(
                sqlx::query_as(SQL)
                    .bind(course.id)
                    .bind(email)
                    .bind(status.as_str())
                    .bind(provider)
                    .bind(course.price_cents)
                    .fetch_one(pool)
                    .await,
            )?
        });
        Ok(id)
    }

    #[instrument(name = "UPDATE academy_enrollments", skip(self, payment_id), fields(
        otel.kind = "client", db.system.name = self.system(), db.operation.name = "UPDATE",
        db.collection.name = "academy_enrollments", status = status.as_str()))]
    pub(crate) async fn settle_enrollment(
        &self,
        id: i64,
        status: EnrollmentStatus,
        payment_id: Option<&str>,
    ) -> Result<(), sqlx::Error> {
        const SQL: &str =
            "UPDATE academy_enrollments SET status = $1, payment_id = $2 WHERE id = $3";
        on_pool!(self, |pool| {
            self.seen(
                sqlx::query(SQL)
                    .bind(status.as_str())
                    .bind(payment_id)
                    .bind(id)
                    .execute(pool)
                    .await
                    .map(|_| ()),
            )?
        });
        Ok(())
    }
}
