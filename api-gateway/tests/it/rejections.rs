//! Bad requests the gateway rejects itself: each a 4xx problem+json, never a
//! 500 or a plain-text body, and nothing written.

use reqwest::header::{ALLOW, CONTENT_TYPE};
use sqlx::PgPool;

use crate::helpers::{TestApp, assert_problem, count_users};

async fn post_raw(
    app: &TestApp,
    content_type: &str,
    body: impl Into<reqwest::Body>,
) -> reqwest::Response {
    app.http
        .post(app.url("/users"))
        .header(CONTENT_TYPE, content_type)
        .body(body)
        .send()
        .await
        .unwrap()
}

#[sqlx::test(migrator = "user_service::MIGRATOR")]
async fn malformed_json_is_400(pool: PgPool) {
    let app = TestApp::builder(pool.clone()).start().await;

    let response = post_raw(&app, "application/json", r#"{"name": "Ada", "email": "#).await;

    assert_problem(response, 400).await;
    assert_eq!(count_users(&pool).await, 0);
}

#[sqlx::test(migrator = "user_service::MIGRATOR")]
async fn a_body_that_is_not_declared_json_is_415(pool: PgPool) {
    let app = TestApp::builder(pool.clone()).start().await;

    let response = post_raw(
        &app,
        "text/plain",
        r#"{"name":"Ada","email":"ada@example.com"}"#,
    )
    .await;

    let body = assert_problem(response, 415).await;
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("application/json"),
        "{body}"
    );
    assert_eq!(count_users(&pool).await, 0);
}

#[sqlx::test(migrator = "user_service::MIGRATOR")]
async fn wrong_missing_or_unknown_fields_are_422(pool: PgPool) {
    let app = TestApp::builder(pool.clone()).start().await;

    for body in [
        r#"{"name": 42, "email": "ada@example.com"}"#,
        r#"{"name": "Ada"}"#,
        r#"{"name": "Ada", "emial": "ada@example.com"}"#,
        r#"["Ada", "ada@example.com"]"#,
    ] {
        let response = post_raw(&app, "application/json", body).await;
        let problem = assert_problem(response, 422).await;
        assert!(problem["detail"].as_str().unwrap().len() > 10, "{problem}");
    }
    assert_eq!(count_users(&pool).await, 0);
}

#[sqlx::test(migrator = "user_service::MIGRATOR")]
async fn an_oversized_body_is_413(pool: PgPool) {
    let app = TestApp::builder(pool.clone()).start().await;
    let huge = format!(
        r#"{{"name": "{}", "email": "a@b.co"}}"#,
        "x".repeat(100 * 1024)
    );

    let response = post_raw(&app, "application/json", huge).await;

    assert_problem(response, 413).await;
    assert_eq!(count_users(&pool).await, 0);
}

#[sqlx::test(migrator = "user_service::MIGRATOR")]
async fn unknown_routes_and_methods_are_problems_too(pool: PgPool) {
    let app = TestApp::builder(pool).start().await;

    let response = app.http.get(app.url("/nope")).send().await.unwrap();
    assert_problem(response, 404).await;

    let response = app.http.delete(app.url("/users")).send().await.unwrap();
    assert!(response.headers().contains_key(ALLOW));
    assert_problem(response, 405).await;
}
