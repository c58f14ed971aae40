//! user-service's database: its migrations, applied at start-up by
//! `platform::db::connect_and_migrate`.

use sqlx::migrate::Migrator;

/// This service's migrations, embedded at compile time. Tests hand it to
/// `#[sqlx::test(migrator = "user_service::MIGRATOR")]` so every test gets a
/// fresh database with the real schema.
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");
