//! The database: connecting, creating it when missing, migrating.

use anyhow::Context;
use secrecy::ExposeSecret;
use sqlx::{
    PgPool, Postgres,
    migrate::{MigrateDatabase, Migrator},
    postgres::PgPoolOptions,
};

use crate::Config;

/// This service's migrations, embedded at compile time. Tests hand it to
/// `#[sqlx::test(migrator = "user_service::MIGRATOR")]` so every test gets a
/// fresh database with the real schema.
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// Connects to the configured database, creating it first when it does not
/// exist (database-per-service: a fresh Postgres needs no init script), and
/// applies pending migrations.
pub async fn connect_and_migrate(config: &Config) -> anyhow::Result<PgPool> {
    let url = config.database_url.expose_secret();
    create_if_missing(url).await?;

    let pool = PgPoolOptions::new()
        .max_connections(config.database_max_connections)
        .acquire_timeout(config.database_acquire_timeout)
        .connect(url)
        .await
        .context("connecting to the database (is Postgres running? see README)")?;
    MIGRATOR
        .run(&pool)
        .await
        .context("applying database migrations")?;
    Ok(pool)
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
