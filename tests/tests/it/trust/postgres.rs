//! In Postgres: each service connects as a role that owns its database and
//! nothing else.

use std::time::Duration;

use system_tests::{Options, System};

#[tokio::test]
async fn each_service_connects_as_a_role_that_owns_only_its_own_database() {
    let system = System::start(Options::default()).await;
    // Work that touched every database: sign-up, an order, notifications.
    let user = system.user_with_credit(10_000).await;
    let (status, body) = system.place_order(&user, "STICKER-PACK", 1).await;
    assert_eq!(status, 201, "{body}");
    system.wait_settled(Duration::from_secs(15)).await;

    for (name, role) in [
        ("users", "user_service"),
        ("orders", "order_service"),
        ("notifications", "notification_service"),
    ] {
        let admin = system.db(name).await;
        // The database, and every table its migrations made, are the role's.
        let owners: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT tableowner::text FROM pg_tables WHERE schemaname = 'public'
             UNION SELECT pg_get_userbyid(datdba)::text FROM pg_database
             WHERE datname = current_database()",
        )
        .fetch_all(&admin)
        .await
        .unwrap();
        assert_eq!(owners, [role], "{name}");
        // The service is connected as that role (the test itself is the
        // superuser), which holds no power beyond its database.
        let connected: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT usename::text FROM pg_stat_activity
             WHERE datname = current_database() AND usename <> current_user",
        )
        .fetch_all(&admin)
        .await
        .unwrap();
        assert_eq!(connected, [role], "{name}: who is connected");
        let (superuser, create_db, create_role): (bool, bool, bool) = sqlx::query_as(
            "SELECT rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = $1",
        )
        .bind(role)
        .fetch_one(&admin)
        .await
        .unwrap();
        assert_eq!(
            (superuser, create_db, create_role),
            (false, false, false),
            "{role}"
        );
    }

    // order-service's role cannot even connect to user-service's database.
    let orders_url = system.service_database_url("orders");
    let into_users = orders_url.replace(
        &format!("/{}?", system.database_name("orders")),
        &format!("/{}?", system.database_name("users")),
    );
    assert_ne!(into_users, orders_url);
    let refused = sqlx::PgPool::connect(&into_users).await.unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("permission denied for database"),
        "{refused}"
    );
}
