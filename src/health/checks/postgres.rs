//! PostgreSQL through the service's own sqlx pool.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use sqlx::{AssertSqlSafe, PgPool};

use crate::config::ConfigError;
use crate::health::{Check, CheckError, ComponentKind, Observation};

/// Longest identifier PostgreSQL keeps (NAMEDATALEN - 1).
const MAX_IDENT_BYTES: usize = 63;

/// PostgreSQL: takes a connection from the service's pool, runs `SELECT 1` and, when asked,
/// reads one row of a table to prove the service's role can still see it. Reports the pool:
/// `postgres:connections` is the number of connections the application holds (not counting
/// the probe's own), with `pool_size`, `open`, `idle` and `in_use` as details.
///
/// Name `postgres`, kind `datastore`, **critical by default**: a service that cannot reach
/// its database usually cannot serve, so it should leave the load balancer until it can
/// (register it with `.non_critical()` if it degrades gracefully).
///
/// Probing through the shared pool is deliberate: it measures what requests experience,
/// including pool exhaustion (the probe then waits like a request would, and the runner's
/// timeout fails it).
///
/// ```no_run
/// use pulsecheck::health::checks::PostgresCheck;
/// use pulsecheck::health::{Check, CheckExt};
///
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let pool = sqlx::PgPool::connect("postgres://app@127.0.0.1/academy").await?;
/// let check = PostgresCheck::new(pool).table("courses")?;
/// assert_eq!(check.name(), "postgres");
/// let observation = check.check().await.map_err(|e| e.to_string())?;
/// assert!(observation.details().contains_key("in_use"));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct PostgresCheck {
    pool: PgPool,
    table: Option<Table>,
}

#[derive(Clone)]
struct Table {
    /// As given (`courses`, `public.courses`), for outputs.
    name: Arc<str>,
    /// `SELECT 1 FROM "public"."courses" LIMIT 1`, built once from the validated name.
    sql: Arc<str>,
}

impl PostgresCheck {
    /// Probes through `pool`. The pool's own settings (acquire timeout, connection limits)
    /// apply; the runner's timeout cancels a probe that waits longer.
    pub fn new(pool: PgPool) -> Self {
        Self { pool, table: None }
    }

    /// Also reads one row of `table` (`name` or `schema.name`): a missing table or a revoked
    /// grant fails the check. Each part must be a plain identifier (ASCII letters, digits,
    /// `_`, not starting with a digit, at most 63 bytes); it is quoted, so it must be spelt
    /// as stored (lower case for tables created without quotes).
    pub fn table(mut self, table: &str) -> Result<Self, ConfigError> {
        let parts: Vec<&str> = table.split('.').collect();
        if parts.len() > 2 || !parts.iter().all(|p| is_plain_identifier(p)) {
            return Err(ConfigError::InvalidIdentifier(
                table.chars().take(80).collect::<String>(),
            ));
        }
        let quoted: Vec<String> = parts.iter().map(|p| format!("\"{p}\"")).collect();
        self.table = Some(Table {
            name: table.into(),
            sql: format!("SELECT 1 FROM {} LIMIT 1", quoted.join(".")).into(),
        });
        Ok(self)
    }
}

/// `[A-Za-z_][A-Za-z0-9_]*`, 1 to 63 bytes: nothing that could close the quotes it is put in.
fn is_plain_identifier(s: &str) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && s.len() <= MAX_IDENT_BYTES
}

impl Check for PostgresCheck {
    async fn check(&self) -> Result<Observation, CheckError> {
        let mut conn = self.pool.acquire().await?;
        sqlx::query("SELECT 1").execute(&mut *conn).await?;
        if let Some(table) = &self.table {
            // The SQL was built from an identifier that `table()` validated and quoted.
            sqlx::query(AssertSqlSafe(Arc::clone(&table.sql)))
                .execute(&mut *conn)
                .await
                .map_err(|e| {
                    CheckError::new(format!("table {}: {}", table.name, CheckError::from(e)))
                })?;
        }
        // Read while the probe still holds its connection, and leave it out of `in_use`.
        let open = self.pool.size();
        let idle = u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX);
        let in_use = open.saturating_sub(idle).saturating_sub(1);
        drop(conn);
        let max = self.pool.options().get_max_connections();
        let mut obs = Observation::pass()
            .measured("connections", in_use, None)
            .detail("pool_size", max)
            .detail("open", open)
            .detail("idle", idle)
            .detail("in_use", in_use);
        if let Some(table) = &self.table {
            obs = obs.detail("table", &*table.name);
        }
        Ok(obs)
    }

    fn name(&self) -> Cow<'static, str> {
        "postgres".into()
    }

    fn kind(&self) -> ComponentKind {
        ComponentKind::Datastore
    }

    fn critical_by_default(&self) -> bool {
        true
    }
}

impl fmt::Debug for PostgresCheck {
    // Not derived: the pool's connect options hold the password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresCheck")
            .field("pool_size", &self.pool.options().get_max_connections())
            .field("table", &self.table.as_ref().map(|t| &*t.name))
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::is_plain_identifier;

    #[test]
    fn identifiers_are_plain() {
        for ok in ["courses", "_x", "Course_2", &"a".repeat(63)] {
            assert!(is_plain_identifier(ok), "{ok}");
        }
        for bad in [
            "",
            "2x",
            "a-b",
            "a b",
            "a\"b",
            "a;drop",
            "é",
            "a'",
            &"a".repeat(64),
        ] {
            assert!(!is_plain_identifier(bad), "{bad}");
        }
    }
}
