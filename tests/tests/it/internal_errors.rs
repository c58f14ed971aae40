//! The error contract's last line: when a service fails in a way that is
//! its own fault (here: a table gone from under it, an error no retry
//! fixes), the HTTP client gets a 500 problem that says nothing of the
//! cause — no SQL, no table, no driver message — whichever service and
//! transport it came through (gRPC from user-service, RabbitMQ from
//! order-service and notification-service).

use reqwest::StatusCode;
use serde_json::Value;
use system_tests::{Options, System};

/// What a client may see of an internal error: the generic detail.
const GENERIC: &str = "an unexpected error occurred";

#[tokio::test]
async fn an_internal_database_error_is_a_bare_500_through_every_service() {
    let system = System::start(Options::default()).await;
    let me: Value = system
        .http
        .get(system.url("/users/me"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = me["id"].as_str().unwrap().to_owned();

    // (database, table taken away, route that reads it)
    let cases = [
        ("users", "users", "/users/me".to_owned()),
        ("orders", "orders", format!("/users/{id}/orders")),
        (
            "notifications",
            "notifications",
            format!("/users/{id}/notifications"),
        ),
    ];
    for (database, table, route) in cases {
        let db = system.db(database).await;
        sqlx::query(&format!("ALTER TABLE {table} RENAME TO {table}_taken_away"))
            .execute(&db)
            .await
            .unwrap();

        let response = system.http.get(system.url(&route)).send().await.unwrap();
        let status = response.status();
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        let body = response.text().await.unwrap();
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{route}: {body}");
        assert_eq!(content_type, "application/problem+json", "{route}");
        let problem: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(problem["detail"], GENERIC, "{route}: {body}");
        for leak in ["relation", "taken_away", "sql", "database", "postgres"] {
            assert!(
                !body.to_lowercase().contains(leak),
                "{route} leaks {leak:?}: {body}"
            );
        }
        db.close().await;
    }
}
