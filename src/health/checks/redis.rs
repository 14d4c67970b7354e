//! Redis: PING and the memory figure of INFO over one reused connection.

use std::borrow::Cow;
use std::fmt;
use std::sync::{Mutex, MutexGuard, PoisonError};

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, InfoDict};

use crate::config::ConfigError;
use crate::health::{Check, CheckError, ComponentKind, Observation};

/// Redis: `PING`, then `INFO memory`; `redis:memory` reports `used_memory` in bytes.
///
/// The check keeps one multiplexed connection between probes. A probe that fails on it, or
/// that the runner cancels half-way (a timeout), throws it away, and the next probe connects
/// afresh: a restarted or failed-over server is seen again on the next probe, and a silently
/// dead TCP connection cannot keep the check failing forever. The driver's own timeouts are
/// off; the runner's timeout bounds each probe.
///
/// Name `redis`, kind `datastore`, non-critical by default (a cache that is down usually
/// degrades a service rather than stopping it).
///
/// ```no_run
/// use pulsecheck::health::checks::RedisCheck;
/// use pulsecheck::health::Check;
///
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let check = RedisCheck::from_url("redis://127.0.0.1:6379/0")?;
/// let observation = check.check().await.map_err(|e| e.to_string())?;
/// assert_eq!(observation.measurements()[0].name, "memory");
/// # Ok(()) }
/// ```
pub struct RedisCheck {
    client: Client,
    /// The connection reused across probes, tagged with a generation so that a late
    /// cancellation only discards the connection it was using.
    slot: Mutex<Slot>,
}

#[derive(Default)]
struct Slot {
    generation: u64,
    conn: Option<MultiplexedConnection>,
}

impl RedisCheck {
    /// Probes the server `client` points at (the service's own client, typically).
    pub fn new(client: Client) -> Self {
        Self {
            client,
            slot: Mutex::new(Slot::default()),
        }
    }

    /// Probes the server at `url` (`redis://[:password@]host[:port][/db]`, as in `REDIS_URL`).
    /// The error never contains the URL.
    pub fn from_url(url: &str) -> Result<Self, ConfigError> {
        Client::open(url)
            .map(Self::new)
            .map_err(|e| ConfigError::InvalidUrl(CheckError::from(e).message().to_owned()))
    }

    fn slot(&self) -> MutexGuard<'_, Slot> {
        // The guard is never held across an await or a panic point that matters: a poisoned
        // lock still holds a consistent slot.
        self.slot.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The reused connection, or a new one.
    async fn connection(&self) -> Result<(u64, MultiplexedConnection), CheckError> {
        if let Some((generation, conn)) = {
            let slot = self.slot();
            slot.conn.clone().map(|c| (slot.generation, c))
        } {
            return Ok((generation, conn));
        }
        // Timeouts are the runner's job: a driver timeout shorter than the registration's
        // would fail a slow server the runner is still willing to wait for.
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(None)
            .set_response_timeout(None);
        let conn = self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        let mut slot = self.slot();
        slot.generation += 1;
        slot.conn = Some(conn.clone());
        tracing::debug!(target: "pulsecheck::health", addr = %self.client.get_connection_info().addr(), "redis check connected");
        Ok((slot.generation, conn))
    }

    async fn probe(&self, conn: &mut MultiplexedConnection) -> Result<Observation, CheckError> {
        let pong: String = redis::cmd("PING").query_async(conn).await?;
        if pong != "PONG" {
            return Err(CheckError::new(format!("PING answered {pong:?}")));
        }
        let info: InfoDict = redis::cmd("INFO").arg("memory").query_async(conn).await?;
        let used: u64 = info
            .get("used_memory")
            .ok_or_else(|| CheckError::new("INFO memory has no used_memory"))?;
        let mut obs = Observation::pass().measured("memory", used, Some("bytes"));
        if let Some(max) = info.get::<u64>("maxmemory").filter(|m| *m > 0) {
            obs = obs.detail("maxmemory", max);
        }
        Ok(obs)
    }
}

/// Discards the connection of generation `generation` unless disarmed: a probe that failed
/// or was dropped mid-command leaves the connection in an unknown state.
struct DiscardOnDrop<'a> {
    check: &'a RedisCheck,
    generation: u64,
    armed: bool,
}

impl Drop for DiscardOnDrop<'_> {
    fn drop(&mut self) {
        if self.armed {
            let mut slot = self.check.slot();
            if slot.generation == self.generation {
                slot.conn = None;
            }
        }
    }
}

impl Check for RedisCheck {
    async fn check(&self) -> Result<Observation, CheckError> {
        let (generation, mut conn) = self.connection().await?;
        let mut guard = DiscardOnDrop {
            check: self,
            generation,
            armed: true,
        };
        let result = self.probe(&mut conn).await;
        // Keep the connection after a success; a failure drops it (guard stays armed).
        guard.armed = result.is_err();
        result
    }

    fn name(&self) -> Cow<'static, str> {
        "redis".into()
    }

    fn kind(&self) -> ComponentKind {
        ComponentKind::Datastore
    }
}

impl fmt::Debug for RedisCheck {
    // Not derived: the client's connection info holds the password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let info = self.client.get_connection_info();
        f.debug_struct("RedisCheck")
            .field("addr", &info.addr().to_string())
            .field("connected", &self.slot().conn.is_some())
            .finish_non_exhaustive()
    }
}
