//! The pools against a real Postgres.

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

#[tokio::test]
async fn the_generic_plan_pool_plans_each_statement_once_on_the_same_server() {
    let pool = pool_options(&DbConfig::new(&test_url()))
        .connect(&test_url())
        .await
        .unwrap();
    let generic = generic_plan_pool(&pool, 1);
    let mode = |pool: sqlx::PgPool| async move {
        sqlx::query_scalar::<_, String>("SELECT current_setting('plan_cache_mode')")
            .fetch_one(&pool)
            .await
            .unwrap()
    };
    assert_eq!(mode(generic.clone()).await, "force_generic_plan");
    assert_eq!(
        mode(pool.clone()).await,
        "auto",
        "the main pool is untouched"
    );
    let database = |pool: sqlx::PgPool| async move {
        sqlx::query_scalar::<_, String>("SELECT current_database()")
            .fetch_one(&pool)
            .await
            .unwrap()
    };
    assert_eq!(database(generic).await, database(pool).await);
}
