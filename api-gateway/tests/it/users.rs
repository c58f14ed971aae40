use reqwest::{StatusCode, header::LOCATION};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::{TestApp, assert_problem, count_users};

#[sqlx::test(migrator = "user_service::MIGRATOR")]
async fn post_users_creates_201_with_location_then_get_returns_it(pool: PgPool) {
    let app = TestApp::builder(pool).start().await;

    let response = app.create_user("Ada Lovelace", "ada@example.com").await;

    assert_eq!(response.status(), StatusCode::CREATED);
    let location = response.headers()[LOCATION].to_str().unwrap().to_owned();
    let created: Value = response.json().await.unwrap();
    assert_eq!(
        location,
        format!("/users/{}", created["id"].as_str().unwrap())
    );
    assert_eq!(created["name"], "Ada Lovelace");
    assert_eq!(created["email"], "ada@example.com");

    let fetched = app.http.get(app.url(&location)).send().await.unwrap();
    assert_eq!(fetched.status(), StatusCode::OK);
    assert_eq!(fetched.json::<Value>().await.unwrap(), created);
}

#[sqlx::test(migrator = "user_service::MIGRATOR")]
async fn get_unknown_user_is_404(pool: PgPool) {
    let app = TestApp::builder(pool).start().await;

    let response = app
        .http
        .get(app.url(&format!("/users/{}", uuid::Uuid::now_v7())))
        .send()
        .await
        .unwrap();

    let body = assert_problem(response, 404).await;
    assert!(
        body["detail"].as_str().unwrap().contains("no user"),
        "{body}"
    );
}

#[sqlx::test(migrator = "user_service::MIGRATOR")]
async fn get_user_with_a_non_uuid_id_is_400(pool: PgPool) {
    let app = TestApp::builder(pool).start().await;

    let response = app.http.get(app.url("/users/42")).send().await.unwrap();

    let body = assert_problem(response, 400).await;
    assert!(body["detail"].as_str().unwrap().contains("UUID"), "{body}");
}

#[sqlx::test(migrator = "user_service::MIGRATOR")]
async fn invalid_fields_are_400_listing_each_field(pool: PgPool) {
    let app = TestApp::builder(pool.clone()).start().await;

    let response = app.create_user("   ", "not-an-email").await;

    let body = assert_problem(response, 400).await;
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["name", "email"], "{body}");
    assert_eq!(count_users(&pool).await, 0);
}

#[sqlx::test(migrator = "user_service::MIGRATOR")]
async fn duplicate_email_is_409_whatever_its_case(pool: PgPool) {
    let app = TestApp::builder(pool.clone()).start().await;
    assert_eq!(
        app.create_user("Ada", "ada@example.com").await.status(),
        201
    );

    let response = app.create_user("Imposter", "ADA@EXAMPLE.com").await;

    assert_problem(response, 409).await;
    assert_eq!(count_users(&pool).await, 1);
}

#[sqlx::test(migrator = "user_service::MIGRATOR")]
async fn concurrent_sign_ups_with_one_email_give_exactly_one_201(pool: PgPool) {
    let app = TestApp::builder(pool.clone()).start().await;

    let (a, b) = tokio::join!(
        app.create_user("First", "race@example.com"),
        app.create_user("Second", "RACE@example.com"),
    );

    let mut statuses = [a.status().as_u16(), b.status().as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 409]);
    assert_eq!(count_users(&pool).await, 1);
}

#[sqlx::test(migrator = "user_service::MIGRATOR")]
async fn list_users_pages_with_limit_and_offset(pool: PgPool) {
    let app = TestApp::builder(pool).start().await;
    for i in 0..3 {
        let response = app
            .create_user(&format!("User {i}"), &format!("u{i}@example.com"))
            .await;
        assert_eq!(response.status(), 201);
    }

    let page = |query: &'static str| {
        let request = app.http.get(app.url(&format!("/users{query}")));
        async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 200);
            let body: Value = response.json().await.unwrap();
            body["users"]
                .as_array()
                .unwrap()
                .iter()
                .map(|u| u["name"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };

    // The admin the tests start with is the first user.
    assert_eq!(
        page("").await,
        ["Administrator", "User 0", "User 1", "User 2"]
    );
    assert_eq!(page("?limit=2").await, ["Administrator", "User 0"]);
    assert_eq!(page("?limit=2&offset=2").await, ["User 1", "User 2"]);
    assert_eq!(
        page("?limit=100000").await.len(),
        4,
        "limit is capped, not rejected"
    );
}

#[sqlx::test(migrator = "user_service::MIGRATOR")]
async fn list_users_with_a_malformed_query_is_400(pool: PgPool) {
    let app = TestApp::builder(pool).start().await;

    for query in ["?limit=abc", "?offset=-1", "?limit=5000000000"] {
        let response = app
            .http
            .get(app.url(&format!("/users{query}")))
            .send()
            .await
            .unwrap();
        assert_problem(response, 400).await;
    }
}

#[sqlx::test(migrator = "user_service::MIGRATOR")]
async fn credit_top_ups_show_in_the_balance_and_count_once_per_key(pool: PgPool) {
    let app = TestApp::builder(pool).start().await;
    let user: Value = app
        .create_user("Ada", "ada@example.com")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(user["balance_cents"], 0);
    let id = user["id"].as_str().unwrap();
    let top_up = |key: Option<&'static str>, body: Value| {
        let mut request = app
            .http
            .post(app.url(&format!("/users/{id}/credit")))
            .json(&body);
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        request.send()
    };

    let first = top_up(Some("gift-1"), json!({"amount_cents": 2_500}))
        .await
        .unwrap();
    let retry = top_up(Some("gift-1"), json!({"amount_cents": 2_500}))
        .await
        .unwrap();
    let another = top_up(None, json!({"amount_cents": 500})).await.unwrap();

    assert_eq!(first.status(), 200);
    assert_eq!(
        first.json::<Value>().await.unwrap(),
        json!({"user_id": id, "balance_cents": 2_500})
    );
    assert_eq!(retry.json::<Value>().await.unwrap()["balance_cents"], 2_500);
    assert_eq!(
        another.json::<Value>().await.unwrap()["balance_cents"],
        3_000
    );
    let fetched: Value = app.get_json(&format!("/users/{id}")).await;
    assert_eq!(fetched["balance_cents"], 3_000);

    // A key is visible characters and inner spaces; a tab is refused
    // rather than silently kept in a key the client cannot see.
    for key in ["a\tb", &"k".repeat(256)] {
        let response = app
            .http
            .post(app.url(&format!("/users/{id}/credit")))
            .header("Idempotency-Key", key)
            .json(&json!({"amount_cents": 100}))
            .send()
            .await
            .unwrap();
        assert_problem(response, 400).await;
    }
    let spaced = app
        .http
        .post(app.url(&format!("/users/{id}/credit")))
        .header("Idempotency-Key", "gift 2")
        .json(&json!({"amount_cents": 100}))
        .send()
        .await
        .unwrap();
    assert_eq!(spaced.status(), 200);

    for (body, status) in [
        (json!({"amount_cents": 0}), 400),
        (json!({"amount_cents": -100}), 400),
        (json!({"amount_cents": "lots"}), 422),
        (json!({}), 422),
    ] {
        assert_problem(top_up(None, body).await.unwrap(), status).await;
    }
    let unknown = app
        .http
        .post(app.url(&format!("/users/{}/credit", uuid::Uuid::now_v7())))
        .json(&json!({"amount_cents": 100}))
        .send()
        .await
        .unwrap();
    assert_problem(unknown, 404).await;
}

#[sqlx::test(migrator = "user_service::MIGRATOR")]
async fn me_is_the_signed_in_user(pool: PgPool) {
    let app = TestApp::builder(pool).start().await;
    let created: Value = app
        .create_user("Ada", "ada@example.com")
        .await
        .json()
        .await
        .unwrap();
    let ada = crate::helpers::client(Some(
        &app.token("ada@example.com", crate::helpers::PASSWORD).await,
    ));

    let me: Value = ada
        .get(app.url("/users/me"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let anonymous = app
        .anonymous
        .get(app.url("/users/me"))
        .send()
        .await
        .unwrap();

    assert_eq!(me, created);
    assert_problem(anonymous, 401).await;
}
