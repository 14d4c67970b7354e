//! The course list in Redis, cache-aside: read the key, on a miss load from the database and
//! store it with a TTL; every enrollment deletes it (the list shows places taken).
//!
//! Redis is an optimisation, never a dependency of a request: every error or slow answer
//! (bounded by a short timeout) is logged, recorded on the span as `error.type`, and the
//! request goes on to the database.
//!
//! Every command goes through the circuit breaker the `redis` health check shares: a dead
//! Redis opens it after a few failed commands, then requests skip Redis at once (no
//! connection attempts, no log line per request; the breaker logs its transitions) and
//! `/health` shows the check down within a second. After [`BREAKER_OPEN_WAIT`] one trial
//! command (or the check's probe) tells whether Redis is back.

use std::time::Duration;

use pulsecheck::health::{BreakerConfig, BreakerWindow, CircuitBreaker};
use redis::AsyncCommands as _;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tracing::Instrument as _;
use tracing::field::Empty;

use crate::db::Course;

/// The one key this cache uses.
pub(crate) const COURSES_KEY: &str = "academy:courses:v1";
/// Longest wait for Redis before the request falls back to the database.
const REDIS_TIMEOUT: Duration = Duration::from_millis(250);
/// How long the breaker stays open before a trial command: the longest a recovered Redis
/// goes unused (plus the check's probe interval for `/health` when idle).
pub(crate) const BREAKER_OPEN_WAIT: Duration = Duration::from_secs(10);

pub(crate) struct CourseCache {
    conn: ConnectionManager,
    ttl_secs: u64,
    breaker: CircuitBreaker,
}

/// Opens when half of the last 20 commands (at least 5) failed.
fn breaker() -> CircuitBreaker {
    CircuitBreaker::new(
        "redis",
        BreakerConfig {
            window: BreakerWindow::Count(20),
            minimum_calls: 5,
            open_wait: BREAKER_OPEN_WAIT,
            half_open_max_wait: BREAKER_OPEN_WAIT,
            ..BreakerConfig::default()
        },
    )
}

impl CourseCache {
    /// Does not connect: the first command does, and a Redis that is down at start-up only
    /// means misses until it is back.
    pub(crate) fn new(url: &str, ttl: Duration) -> Result<Self, redis::RedisError> {
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(REDIS_TIMEOUT))
            .set_response_timeout(Some(REDIS_TIMEOUT))
            .set_number_of_retries(1);
        let conn = ConnectionManager::new_lazy_with_config(client, config)?;
        Ok(Self {
            conn,
            ttl_secs: ttl.as_secs().max(1),
            breaker: breaker(),
        })
    }

    /// The breaker every command goes through, for the `redis` health check to share.
    pub(crate) fn breaker(&self) -> &CircuitBreaker {
        &self.breaker
    }

    /// Runs `command` through the breaker, bounded by [`REDIS_TIMEOUT`]; `None` when the
    /// breaker is open (quietly: the breaker logged its opening) or the command failed
    /// (logged, and counted by the breaker).
    async fn run<T>(
        &self,
        span: &tracing::Span,
        operation: &'static str,
        command: impl Future<Output = redis::RedisResult<T>>,
    ) -> Option<T> {
        let Ok(permit) = self.breaker.try_acquire() else {
            span.record("error.type", "circuit_open");
            return None;
        };
        match bounded(command).instrument(span.clone()).await {
            Ok(v) => {
                permit.success();
                Some(v)
            }
            Err(kind) => {
                permit.failure();
                degrade(span, operation, kind);
                None
            }
        }
    }

    /// The cached list; `None` on a miss or any Redis trouble.
    pub(crate) async fn courses(&self) -> Option<Vec<Course>> {
        let span = redis_span("GET");
        let mut conn = self.conn.clone();
        let got = self
            .run(&span, "GET", conn.get::<_, Option<String>>(COURSES_KEY))
            .await;
        let cached = match got.flatten() {
            Some(json) => match serde_json::from_str(&json) {
                Ok(courses) => Some(courses),
                Err(e) => {
                    // A list from an older version of the example: treat as a miss.
                    tracing::warn!(parent: &span, error = %e, "unreadable cached course list");
                    None
                }
            },
            None => None,
        };
        span.record("cache.hit", cached.is_some());
        cached
    }

    /// Stores the list for the TTL.
    pub(crate) async fn store(&self, courses: &[Course]) {
        let Ok(json) = serde_json::to_string(courses) else {
            return;
        };
        let span = redis_span("SET");
        let mut conn = self.conn.clone();
        self.run(
            &span,
            "SET",
            conn.set_ex::<_, _, ()>(COURSES_KEY, json, self.ttl_secs),
        )
        .await;
    }

    /// Drops the list after a write. A failed delete leaves a list at most one TTL stale.
    pub(crate) async fn invalidate(&self) {
        let span = redis_span("DEL");
        let mut conn = self.conn.clone();
        self.run(&span, "DEL", conn.del::<_, ()>(COURSES_KEY)).await;
    }
}

fn redis_span(operation: &'static str) -> tracing::Span {
    tracing::info_span!(
        "cache",
        otel.name = format!("{operation} {COURSES_KEY}"),
        otel.kind = "client",
        otel.status_code = Empty,
        db.system.name = "redis",
        db.operation.name = operation,
        cache.key = COURSES_KEY,
        cache.hit = Empty,
        error.type = Empty,
    )
}

/// Why a command did not answer, as a low-cardinality `error.type`.
enum Failure {
    Timeout,
    Redis(redis::RedisError),
}

async fn bounded<T>(command: impl Future<Output = redis::RedisResult<T>>) -> Result<T, Failure> {
    match tokio::time::timeout(REDIS_TIMEOUT, command).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(Failure::Redis(e)),
        Err(_) => Err(Failure::Timeout),
    }
}

fn degrade(span: &tracing::Span, operation: &str, failure: Failure) {
    let kind = match &failure {
        Failure::Timeout => "timeout",
        Failure::Redis(e) if e.is_io_error() || e.is_connection_dropped() => "connection",
        Failure::Redis(_) => "redis",
    };
    span.record("error.type", kind);
    span.record("otel.status_code", "error");
    match failure {
        Failure::Timeout => {
            tracing::warn!(parent: span, operation, "redis timed out; using the database");
        }
        Failure::Redis(e) => {
            tracing::warn!(parent: span, operation, error = %e, "redis failed; using the database");
        }
    }
}
