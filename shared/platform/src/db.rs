//! Postgres start-up shared by every service that owns a database: create the
//! database when it is missing (database-per-service: a fresh Postgres needs
//! no init script), connect a bounded pool, apply the service's migrations.

use std::{path::PathBuf, time::Duration};

use crate::{
    config::{self, Resolve},
    env::ConfigError,
};
use anyhow::Context;
use clap::ArgMatches;
use secrecy::{ExposeSecret, SecretString};
use sqlx::{
    Connection, PgPool, Postgres,
    migrate::{MigrateDatabase, Migrator},
    postgres::PgPoolOptions,
};

/// The database variables every database-owning service declares, by
/// flattening this group; each service gives `DATABASE_URL` its own
/// default (`#[command(mut_arg("database_url", ..))]`): its own role and
/// database.
#[derive(Debug, Clone, clap::Args)]
pub struct DbConfig {
    /// The service's own database, as the service's own role; migrated at
    /// start-up. Secret: it may hold a password, and `SecretString` never
    /// prints it.
    #[arg(
        id = "database_url",
        long = "database-url",
        env = "DATABASE_URL",
        required = false,
        value_parser = config::secret,
        hide_env_values = true
    )]
    pub url: SecretString,
    /// A file holding the whole `DATABASE_URL`, read when it is unset.
    #[arg(
        id = "database_url_file",
        long = "database-url-file",
        env = "DATABASE_URL_FILE"
    )]
    url_file: Option<PathBuf>,
    /// A file holding the password of `DATABASE_URL`, which then names only
    /// its user.
    #[arg(
        id = "database_password_file",
        long = "database-password-file",
        env = "DATABASE_PASSWORD_FILE"
    )]
    password_file: Option<PathBuf>,
    /// Connection pool size.
    #[arg(
        id = "database_max_connections",
        long = "database-max-connections",
        env = "DATABASE_MAX_CONNECTIONS",
        default_value_t = 10,
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    pub max_connections: u32,
    /// How long a request waits for a pooled connection (or for a refusing
    /// Postgres to come back) before it is answered UNAVAILABLE.
    //
    // Shorter than the deadlines of the callers waiting on a query (the
    // gateway gives user-service 3 s, order-service 5 s): while Postgres is
    // down (sqlx keeps retrying a refused connection until this passes), the
    // service that knows what failed answers UNAVAILABLE — a 503 — before
    // its caller gives up with a 504 that says less.
    #[arg(
        id = "database_acquire_timeout",
        long = "database-acquire-timeout",
        env = "DATABASE_ACQUIRE_TIMEOUT",
        default_value = "2s",
        value_parser = config::duration
    )]
    pub acquire_timeout: Duration,
}

impl Resolve for DbConfig {
    fn resolve(&mut self, matches: &ArgMatches) -> Result<(), ConfigError> {
        let files = (self.url_file.as_deref(), self.password_file.as_deref());
        let id = ("DATABASE_URL", "database_url");
        let schemes = ["postgres://", "postgresql://"];
        config::resolve_url(&mut self.url, id, matches, files, schemes)
    }
}

impl DbConfig {
    /// The declared defaults around `url`; for tests and embedding.
    pub fn new(url: &str) -> Self {
        config::group_defaults(&["--database-url", url])
    }
}

/// A pooled connection used this recently is handed out without a ping
/// first (HikariCP's `aliveBypassWindowMs`, same value). sqlx pings every
/// connection it hands out by default: a round trip to Postgres before every
/// statement or transaction, which under load was a third of Postgres's
/// wake-ups per order for nothing (docs/benchmarks-log.md). A connection idle
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
    bounded(config.max_connections, config.acquire_timeout)
}

/// A pool beside `pool` — same server, credentials and acquire timeout, at
/// most `connections` — whose sessions plan each prepared statement once
/// (`plan_cache_mode = force_generic_plan`), for statements over arrays
/// such as a group commit's (`crate::batch`). Postgres re-plans a prepared
/// statement at every execution for as long as a plan made for the values
/// at hand looks cheaper than the generic one, which for arrays of a few
/// elements is always, and planning a statement of several CTEs costs more
/// than running it. Only for statements whose generic plan was checked
/// (docs/group-commit.md). Connects on first use.
pub fn generic_plan_pool(pool: &PgPool, connections: u32) -> PgPool {
    let options = (*pool.connect_options())
        .clone()
        .options([("plan_cache_mode", "force_generic_plan")]);
    bounded(connections, pool.options().get_acquire_timeout()).connect_lazy_with(options)
}

fn bounded(max_connections: u32, acquire_timeout: Duration) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(acquire_timeout)
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
            sqlx::query_scalar!("SELECT 1 AS ping")
                .fetch_one(&pool)
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
mod tests;
