//! One database per service, in the crates' tests as in production.
//!
//! `#[sqlx::test]` gives a test one fresh database, migrated by the
//! migrator the test names. The other services a test starts in-process
//! each get a database of their own beside it, migrated by their own
//! migrator alone: no service's migrations run where another's have, so
//! none of them can come to depend on sharing a database.

use sqlx::{PgPool, migrate::Migrator, postgres::PgConnectOptions};

/// A database made for one service of one test, dropped with it (even when
/// the test panicked: databases are not free, and a server should not
/// collect one per test run).
#[derive(Debug)]
pub struct OwnDatabase {
    pub pool: PgPool,
    name: String,
    server: PgConnectOptions,
}

impl OwnDatabase {
    /// `service`'s database for the test whose database is `beside`,
    /// migrated by `migrator`.
    pub async fn create(beside: &PgPool, service: &str, migrator: &Migrator) -> Self {
        let server = (*beside.connect_options()).clone();
        // Not derived from the test's database name: sqlx's names already
        // take Postgres's 63 bytes.
        let name = format!("_test_{service}_{}", uuid::Uuid::new_v4().simple());
        sqlx::query(&format!("CREATE DATABASE \"{name}\""))
            .execute(beside)
            .await
            .unwrap();
        let pool = PgPool::connect_with(server.clone().database(&name))
            .await
            .unwrap();
        migrator.run(&pool).await.unwrap();
        Self { pool, name, server }
    }
}

impl Drop for OwnDatabase {
    fn drop(&mut self) {
        drop_databases(self.server.clone(), vec![self.name.clone()]);
    }
}

/// Drops the databases `names` on the server `server` reaches, from a
/// `Drop` (which cannot await: a short-lived thread with its own runtime
/// can), `WITH (FORCE)`: the services that used them may still hold
/// connections. Errors are ignored: cleanup must not turn a passing test
/// into a failing one.
pub fn drop_databases(server: PgConnectOptions, names: Vec<String>) {
    let cleanup = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            if let Ok(pool) = PgPool::connect_with(server).await {
                for name in names {
                    let drop = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                    let _ = sqlx::query(&drop).execute(&pool).await;
                }
                pool.close().await;
            }
        });
    });
    let _ = cleanup.join();
}
