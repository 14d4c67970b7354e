//! The course list in Redis, cache-aside: read the key, on a miss load from the database and
//! store it with a TTL; every enrollment deletes it (the list shows places taken).
//!
//! Redis is an optimisation, never a dependency of a request: every error or slow answer
//! (bounded by a short timeout) is logged, recorded on the span as `error.type`, and the
//! request goes on to the database.

use std::time::Duration;

use redis::AsyncCommands as _;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tracing::Instrument as _;
use tracing::field::Empty;

use crate::db::Course;

/// The one key this cache uses.
pub(crate) const COURSES_KEY: &str = "academy:courses:v1";
/// Longest wait for Redis before the request falls back to the database.
const REDIS_TIMEOUT: Duration = Duration::from_millis(250);

pub(crate) struct CourseCache {
    conn: ConnectionManager,
    ttl_secs: u64,
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
        })
    }

    /// The cached list; `None` on a miss or any Redis trouble.
    pub(crate) async fn courses(&self) -> Option<Vec<Course>> {
        let span = redis_span("GET");
        let mut conn = self.conn.clone();
        let got = bounded(conn.get::<_, Option<String>>(COURSES_KEY))
            .instrument(span.clone())
            .await;
        let cached = match got {
            Ok(Some(json)) => match serde_json::from_str(&json) {
                Ok(courses) => Some(courses),
                Err(e) => {
                    // A list from an older version of the example: treat as a miss.
                    tracing::warn!(parent: &span, error = %e, "unreadable cached course list");
                    None
                }
            },
            Ok(None) => None,
            Err(kind) => {
                degrade(&span, "GET", kind);
                None
            }
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
        let set = bounded(conn.set_ex::<_, _, ()>(COURSES_KEY, json, self.ttl_secs))
            .instrument(span.clone())
            .await;
        if let Err(kind) = set {
            degrade(&span, "SET", kind);
        }
    }

    /// Drops the list after a write. A failed delete leaves a list at most one TTL stale.
    pub(crate) async fn invalidate(&self) {
        let span = redis_span("DEL");
        let mut conn = self.conn.clone();
        let del = bounded(conn.del::<_, ()>(COURSES_KEY))
            .instrument(span.clone())
            .await;
        if let Err(kind) = del {
            degrade(&span, "DEL", kind);
        }
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
