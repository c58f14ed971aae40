//! Postgres start-up shared by every service that owns a database: create the
//! database when it is missing (database-per-service: a fresh Postgres needs
//! no init script), connect a bounded pool, apply the service's migrations.

use std::time::Duration;

use crate::env::{ConfigError, duration_or, invalid, parse_or, url_or};
use anyhow::Context;
use secrecy::{ExposeSecret, SecretString};
use sqlx::{
    Connection, PgPool, Postgres,
    migrate::{MigrateDatabase, Migrator},
    postgres::PgPoolOptions,
};

/// Pool settings every service exposes as configuration.
#[derive(Debug, Clone)]
pub struct DbConfig {
    /// `DATABASE_URL`: the service's own database. Secret: it may hold a
    /// password, and `SecretString` never prints it.
    pub url: SecretString,
    /// `DATABASE_MAX_CONNECTIONS`.
    pub max_connections: u32,
    /// `DATABASE_ACQUIRE_TIMEOUT`: how long a request waits for a pooled
    /// connection; bounds the answer when the database is down.
    pub acquire_timeout: Duration,
}

impl DbConfig {
    /// Reads `DATABASE_URL`, `DATABASE_MAX_CONNECTIONS` and
    /// `DATABASE_ACQUIRE_TIMEOUT`, with `default_url` for the first.
    pub fn from_env(default_url: &str) -> Result<Self, ConfigError> {
        let url = url_or(
            "DATABASE_URL",
            default_url,
            ["postgres://", "postgresql://"],
        )?;
        let max_connections = parse_or("DATABASE_MAX_CONNECTIONS", DEFAULT_MAX_CONNECTIONS)?;
        if max_connections == 0 {
            return Err(invalid("DATABASE_MAX_CONNECTIONS", 0, "must be at least 1"));
        }
        Ok(Self {
            url,
            max_connections,
            acquire_timeout: duration_or("DATABASE_ACQUIRE_TIMEOUT", DEFAULT_ACQUIRE_TIMEOUT)?,
        })
    }

    /// Defaults around `url`; for tests and embedding.
    pub fn new(url: &str) -> Self {
        Self {
            url: url.to_owned().into(),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            acquire_timeout: DEFAULT_ACQUIRE_TIMEOUT,
        }
    }
}

pub const DEFAULT_MAX_CONNECTIONS: u32 = 10;
/// Shorter than the deadlines of the callers waiting on a query (the
/// gateway gives user-service 3 s, order-service 5 s): while Postgres is down
/// (sqlx keeps retrying a refused connection until this passes), the service
/// that knows what failed answers UNAVAILABLE — a 503 — before its caller
/// gives up with a 504 that says less.
pub const DEFAULT_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);

/// A pooled connection used this recently is handed out without a ping
/// first (HikariCP's `aliveBypassWindowMs`, same value). sqlx pings every
/// connection it hands out by default: a round trip to Postgres before every
/// statement or transaction, which under load was a third of Postgres's
/// wake-ups per order for nothing (docs/benchmarks.md). A connection idle
/// longer (the database may have restarted meanwhile) is still pinged, and
/// replaced when the ping fails; one that died within the window fails its
/// statement, which callers already treat as transient (retried in place).
pub const PING_IF_IDLE_FOR: Duration = Duration::from_millis(500);

pub async fn connect_and_migrate(config: &DbConfig, migrator: &Migrator) -> anyhow::Result<PgPool> {
    let url = config.url.expose_secret();
    create_if_missing(url).await?;
    let pool = pool_options(config)
        .connect(url)
        .await
        .context("connecting to the database (is Postgres running? see README)")?;
    migrator
        .run(&pool)
        .await
        .context("applying database migrations")?;
    Ok(pool)
}

/// The pool every service runs on: bounded, failing fast when Postgres is
/// away, and pinging a connection before handing it out only when it has
/// been idle [`PING_IF_IDLE_FOR`] or longer.
pub fn pool_options(config: &DbConfig) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(config.max_connections)
        .acquire_timeout(config.acquire_timeout)
        .test_before_acquire(false)
        .before_acquire(|connection, meta| {
            Box::pin(async move {
                if meta.idle_for >= PING_IF_IDLE_FOR {
                    connection.ping().await?;
                }
                Ok(true)
            })
        })
}

async fn create_if_missing(url: &str) -> anyhow::Result<()> {
    let exists = Postgres::database_exists(url)
        .await
        .context("checking whether the database exists (is Postgres running? see README)")?;
    if exists {
        return Ok(());
    }
    tracing::info!("database does not exist; creating it");
    if let Err(e) = Postgres::create_database(url).await {
        // Another replica may have created it between our check and our
        // create; only a database that is still missing is an error.
        if !Postgres::database_exists(url).await.unwrap_or(false) {
            return Err(e).context("creating the database");
        }
    }
    Ok(())
}

/// A readiness check that passes while the database answers `SELECT 1`.
pub fn readiness_check(pool: &PgPool) -> crate::admin::Check {
    let pool = pool.clone();
    crate::admin::Check::new("database", move || {
        let pool = pool.clone();
        async move {
            sqlx::query("SELECT 1")
                .execute(&pool)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
    })
}

/// Pool usage on `/metrics`: `db_pool_connections{state="idle"|"in_use"}`
/// and `db_pool_max_connections`. A pool always at its maximum with requests
/// waiting is the first sign the database (or the pool size) is the limit.
pub fn pool_sampler(pool: &PgPool) -> crate::admin::Sampler {
    let pool = pool.clone();
    crate::admin::Sampler::new(move || {
        let (size, idle) = (pool.size(), pool.num_idle());
        let max = pool.options().get_max_connections();
        async move {
            let idle = u32::try_from(idle).unwrap_or(u32::MAX);
            metrics::gauge!("db_pool_connections", "state" => "idle").set(f64::from(idle));
            metrics::gauge!("db_pool_connections", "state" => "in_use")
                .set(f64::from(size.saturating_sub(idle)));
            metrics::gauge!("db_pool_max_connections").set(f64::from(max));
        }
    })
}

/// Whether a database error means "Postgres is away or overloaded, try
/// again later" (a 503 for a client, a retry for a consumer) rather than a
/// bug: the connection or pool failed, or Postgres refused or dropped us —
/// SQLSTATE class 08 (connection exception), 53 (insufficient resources, e.g.
/// too many connections), 57 (operator intervention: shutting down,
/// starting up, connection terminated) and 55000 as sent for a database
/// that does not accept connections (`ALLOW_CONNECTIONS false`, maintenance).
pub fn is_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            code.starts_with("08")
                || code.starts_with("53")
                || code.starts_with("57")
                || code == "55000"
        }),
        _ => false,
    }
}

/// Whether retrying the same work may succeed: the database is
/// [unavailable](is_unavailable), or it aborted this transaction to let a
/// concurrent one through — a deadlock (40P01) or a serialization failure
/// (40001). Postgres expects the client to run such a transaction again;
/// answering it as a bug would turn a moment's contention into a 500.
pub fn is_transient(e: &sqlx::Error) -> bool {
    is_unavailable(e)
        || matches!(e, sqlx::Error::Database(db)
            if db.code().is_some_and(|code| code == "40P01" || code == "40001"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test_url() -> String {
        std::env::var("DATABASE_URL").unwrap_or_else(|_| {
            "postgres://postgres:postgres@127.0.0.1:5432/postgres?sslmode=disable".into()
        })
    }

    /// The error Postgres sends for `sqlstate`, raised for real.
    async fn raised(sqlstate: &str) -> sqlx::Error {
        let pool = sqlx::PgPool::connect(&test_url()).await.unwrap();
        let raise = format!("DO $$ BEGIN RAISE EXCEPTION USING ERRCODE = '{sqlstate}'; END $$");
        sqlx::query(&raise).execute(&pool).await.unwrap_err()
    }

    /// The backend serving `pool`'s one connection.
    async fn backend(pool: &PgPool) -> Result<i32, sqlx::Error> {
        sqlx::query_scalar("SELECT pg_backend_pid()")
            .fetch_one(pool)
            .await
    }

    #[tokio::test]
    async fn a_connection_that_died_while_idle_is_replaced_not_handed_out() {
        let mut config = DbConfig::new(&test_url());
        config.max_connections = 1;
        let pool = pool_options(&config).connect(&test_url()).await.unwrap();
        let admin = sqlx::PgPool::connect(&test_url()).await.unwrap();
        let first = backend(&pool).await.unwrap();
        sqlx::query("SELECT pg_terminate_backend($1)")
            .bind(first)
            .execute(&admin)
            .await
            .unwrap();
        // Idle past the window: pinged on acquire, found dead, replaced, so
        // the caller never sees the dead connection.
        tokio::time::sleep(PING_IF_IDLE_FOR + Duration::from_millis(200)).await;
        let second = backend(&pool).await.expect("a fresh connection");
        assert_ne!(first, second);

        // Within the window it is handed out unpinged: the statement fails
        // as unavailable (which callers retry), and the pool replaces it.
        // (First let the pool's own ping on release finish, or that ping
        // would be what finds the connection dead.)
        tokio::time::sleep(Duration::from_millis(100)).await;
        sqlx::query("SELECT pg_terminate_backend($1)")
            .bind(second)
            .execute(&admin)
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        let e = backend(&pool)
            .await
            .expect_err("the dead connection, unpinged");
        assert!(is_unavailable(&e), "{e}");
        let third = backend(&pool).await.expect("replaced after failing");
        assert_ne!(third, second);
    }

    #[tokio::test]
    async fn deadlocks_and_serialization_failures_are_transient_not_unavailable() {
        for sqlstate in ["40P01", "40001"] {
            let e = raised(sqlstate).await;
            assert!(is_transient(&e), "{sqlstate}: {e}");
            assert!(!is_unavailable(&e), "{sqlstate}: {e}");
        }
        for sqlstate in ["57P01", "08006"] {
            let e = raised(sqlstate).await;
            assert!(is_transient(&e) && is_unavailable(&e), "{sqlstate}: {e}");
        }
        let e = raised("23505").await;
        assert!(!is_transient(&e), "a unique violation is not retried: {e}");
    }

    #[test]
    fn connection_failures_are_unavailable_and_query_errors_are_not() {
        let io = sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert!(is_unavailable(&io));
        assert!(is_unavailable(&sqlx::Error::PoolTimedOut));
        assert!(!is_unavailable(&sqlx::Error::RowNotFound));
        assert!(!is_unavailable(&sqlx::Error::ColumnNotFound("x".into())));
    }
}
