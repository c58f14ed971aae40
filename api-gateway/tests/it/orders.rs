//! `/orders`, `/users/{id}/orders` and `/products` end to end: gateway →
//! RabbitMQ → order-service → gRPC → user-service, on real servers.

use std::time::{Duration, Instant};

use reqwest::{StatusCode, header::LOCATION};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::{TestApp, assert_problem};

/// A user with 1,000.00 of store credit.
async fn user(app: &TestApp) -> String {
    let response = app
        .create_user("Buyer", &format!("{}@example.com", uuid::Uuid::now_v7()))
        .await;
    assert_eq!(response.status(), 201);
    let id = response.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let top_up = app
        .http
        .post(app.url(&format!("/users/{id}/credit")))
        .json(&json!({"amount_cents": 100_000}))
        .send()
        .await
        .unwrap();
    assert_eq!(top_up.status(), 200);
    id
}

async fn post_order(app: &TestApp, body: Value, key: Option<&str>) -> reqwest::Response {
    let mut request = app.http.post(app.url("/orders")).json(&body);
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    request.send().await.unwrap()
}

#[sqlx::test(migrator = "order_service::MIGRATOR")]
async fn an_order_is_placed_then_found_and_listed(pool: PgPool) {
    let app = TestApp::builder(pool).with_orders().start().await;
    let user = user(&app).await;

    let response = post_order(
        &app,
        json!({"user_id": user, "items": [{"sku": "MUG-STEEL", "quantity": 2}]}),
        None,
    )
    .await;

    let status = response.status();
    let location = response
        .headers()
        .get(LOCATION)
        .map(|l| l.to_str().unwrap().to_owned());
    let order: Value = response.json().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{order}");
    let location = location.unwrap();
    assert_eq!(
        location,
        format!("/orders/{}", order["id"].as_str().unwrap())
    );
    assert_eq!(
        (order["status"].as_str(), order["total_cents"].as_i64()),
        (Some("confirmed"), Some(2500))
    );

    let found: Value = app.get_json(&location).await;
    assert_eq!(found, order);
    let listed: Value = app.get_json(&format!("/users/{user}/orders")).await;
    assert_eq!(listed, json!({"orders": [order]}));
}

/// JSON Schema's `integer` is a value, not a spelling: `2.0` is 2, in an
/// order's quantity and a top-up's amount alike; `2.5` is not (issue 26).
#[sqlx::test(migrator = "order_service::MIGRATOR")]
async fn an_integral_float_is_an_integer_and_a_fraction_is_not(pool: PgPool) {
    let app = TestApp::builder(pool).with_orders().start().await;
    let user = user(&app).await;

    let top_up = app
        .http
        .post(app.url(&format!("/users/{user}/credit")))
        .json(&json!({"amount_cents": 5000.0}))
        .send()
        .await
        .unwrap();
    let ordered = post_order(
        &app,
        json!({"user_id": user, "items": [{"sku": "MUG-STEEL", "quantity": 2.0}]}),
        None,
    )
    .await;
    let fraction = post_order(
        &app,
        json!({"user_id": user, "items": [{"sku": "MUG-STEEL", "quantity": 2.5}]}),
        None,
    )
    .await;

    assert_eq!(top_up.status(), StatusCode::OK);
    let balance: Value = top_up.json().await.unwrap();
    assert_eq!(balance["balance_cents"], 105_000, "{balance}");
    assert_eq!(ordered.status(), StatusCode::CREATED);
    let order: Value = ordered.json().await.unwrap();
    assert_eq!(order["items"][0]["quantity"], json!(2), "{order}");
    assert_eq!(order["total_cents"], 2500, "{order}");
    let problem = assert_problem(fraction, 422).await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("expected an integer"),
        "{problem}"
    );
}

#[sqlx::test(migrator = "order_service::MIGRATOR")]
async fn products_lists_the_catalogue_with_stock(pool: PgPool) {
    let app = TestApp::builder(pool).with_orders().start().await;

    let response = app.http.get(app.url("/products")).send().await.unwrap();

    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let mug = body["products"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["sku"] == "MUG-STEEL")
        .unwrap();
    assert_eq!(mug["price_cents"], 1250);
    assert_eq!(mug["stock"], 50);
}

#[sqlx::test(migrator = "order_service::MIGRATOR")]
async fn order_errors_are_problems_with_the_right_status(pool: PgPool) {
    let app = TestApp::builder(pool).with_orders().start().await;
    let user = user(&app).await;
    let stranger = uuid::Uuid::now_v7();

    let cases = [
        (
            json!({"user_id": stranger, "items": [{"sku": "MUG-STEEL", "quantity": 1}]}),
            404,
        ),
        (
            json!({"user_id": "nope", "items": [{"sku": "MUG-STEEL", "quantity": 1}]}),
            400,
        ),
        (json!({"user_id": user, "items": []}), 400),
        (
            json!({"user_id": user, "items": [{"sku": "NOPE", "quantity": 1}]}),
            400,
        ),
        (
            json!({"user_id": user, "items": [{"sku": "MUG-STEEL", "quantity": 0}]}),
            400,
        ),
        (
            json!({"user_id": user, "items": [{"sku": "MUG-STEEL", "quantity": -1}]}),
            400,
        ),
        (
            json!({"user_id": user, "items": [{"sku": "CAP-NAVY", "quantity": 4}]}),
            409,
        ),
        (
            json!({"user_id": user, "items": [{"sku": "MUG-STEEL", "quantity": "one"}]}),
            422,
        ),
        (json!({"user_id": user}), 422),
    ];
    for (body, status) in cases {
        let response = post_order(&app, body.clone(), None).await;
        let problem = assert_problem(response, status).await;
        assert!(
            problem["detail"].as_str().unwrap().len() > 5,
            "{body} → {problem}"
        );
    }

    let response = app
        .http
        .get(app.url(&format!("/orders/{}", uuid::Uuid::now_v7())))
        .send()
        .await
        .unwrap();
    assert_problem(response, 404).await;
    let response = app.http.get(app.url("/orders/42")).send().await.unwrap();
    assert_problem(response, 400).await;
}

#[sqlx::test(migrator = "order_service::MIGRATOR")]
async fn a_retry_with_the_same_idempotency_key_returns_the_original_order(pool: PgPool) {
    let app = TestApp::builder(pool.clone()).with_orders().start().await;
    let user = user(&app).await;
    let body = json!({"user_id": user, "items": [{"sku": "TEE-BLACK-M", "quantity": 1}]});

    let first = post_order(&app, body.clone(), Some("checkout-7")).await;
    let retry = post_order(&app, body, Some("checkout-7")).await;

    assert_eq!(
        (first.status(), retry.status()),
        (StatusCode::CREATED, StatusCode::CREATED)
    );
    assert_eq!(
        first.json::<Value>().await.unwrap(),
        retry.json::<Value>().await.unwrap()
    );
    let orders: i64 = sqlx::query_scalar("SELECT count(*) FROM orders")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(orders, 1);

    let bad_key = post_order(
        &app,
        json!({"user_id": user, "items": [{"sku": "MUG-STEEL", "quantity": 1}]}),
        Some(""),
    )
    .await;
    assert_problem(bad_key, 400).await;
}

#[tokio::test]
async fn order_service_never_started_is_503_at_once_and_down_is_504_near_the_deadline() {
    let app = TestApp::gateway_only("https://127.0.0.1:1")
        .gateway(|gateway| gateway.order_service_timeout = Duration::from_millis(500))
        .start()
        .await;

    // Its queue was never declared: the broker returns the request, and the
    // answer is 503 at once, not the deadline's 504.
    let response = app.http.get(app.url("/products")).send().await.unwrap();
    assert_problem(response, 503).await;

    // It ran before and is down now: the request waits in its queue.
    let amqp_url = secrecy::ExposeSecret::expose_secret(&app.config.amqp.url).to_owned();
    crate::queues::declare_as_its_service_would(&amqp_url, &app.config.orders_queue).await;
    let started = Instant::now();
    let response = app.http.get(app.url("/products")).send().await.unwrap();

    let problem = assert_problem(response, 504).await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("order-service"),
        "{problem}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "took {:?}",
        started.elapsed()
    );
}

#[sqlx::test(migrator = "order_service::MIGRATOR")]
async fn an_order_that_timed_out_in_the_queue_is_never_placed_later(pool: PgPool) {
    // The gateway and user-service run; order-service does not, yet.
    let mut app = TestApp::builder(pool.clone())
        .with_orders_later()
        .gateway(|gateway| gateway.order_service_timeout = Duration::from_millis(300))
        .start()
        .await;
    let user = user(&app).await;
    // order-service ran before (its queue exists) and is down now.
    let amqp_url = secrecy::ExposeSecret::expose_secret(&app.config.amqp.url).to_owned();
    crate::queues::declare_as_its_service_would(&amqp_url, &app.config.orders_queue).await;

    let response = post_order(
        &app,
        json!({"user_id": user, "items": [{"sku": "MUG-STEEL", "quantity": 1}]}),
        None,
    )
    .await;
    assert_problem(response, 504).await;

    // order-service starts after the deadline passed, one delivery at a
    // time, so the queue is handled in order: by the time a later request
    // is answered, the expired one had its chance to run.
    tokio::time::sleep(Duration::from_millis(400)).await;
    app.start_order_service(pool.clone(), 1).await;
    // A second gateway on the same queue, with time to wait for the answer.
    let later = TestApp::gateway_only(&app.config.user_service_url)
        .gateway(|later| {
            later.orders_queue.clone_from(&app.config.orders_queue);
            later.order_service_timeout = Duration::from_secs(10);
        })
        .start()
        .await;
    let products = later.http.get(later.url("/products")).send().await.unwrap();
    assert_eq!(products.status(), 200);

    let orders: i64 = sqlx::query_scalar("SELECT count(*) FROM orders")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(orders, 0, "an expired request was executed");
    let mug: i32 = sqlx::query_scalar("SELECT stock FROM products WHERE sku = 'MUG-STEEL'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(mug, 50);
}

#[tokio::test]
async fn rabbitmq_unreachable_is_503_at_once_and_reported_by_health() {
    let app = TestApp::gateway_only("https://127.0.0.1:1")
        .without_broker()
        .start()
        .await;

    let response = app.http.get(app.url("/products")).send().await.unwrap();
    assert_problem(response, 503).await;

    let health = app.http.get(app.url("/health")).send().await.unwrap();
    let report = assert_problem(health, 503).await;
    assert_eq!(
        report["dependencies"]["rabbitmq"]["status"], "down",
        "{report}"
    );
}

#[sqlx::test(migrator = "order_service::MIGRATOR")]
async fn a_rejected_order_answers_with_its_id_and_reason(pool: PgPool) {
    let app = TestApp::builder(pool).with_orders().start().await;
    let user = user(&app).await; // 1,000.00 of credit

    let too_expensive = post_order(
        &app,
        json!({"user_id": user, "items": [{"sku": "HOODIE-GREY-L", "quantity": 21}]}),
        None,
    )
    .await;
    let stock_problem = assert_problem(too_expensive, 409).await;
    let broke = post_order(
        &app,
        json!({"user_id": user, "items": [{"sku": "TEE-BLACK-M", "quantity": 60}]}),
        None,
    )
    .await;
    let credit_problem = assert_problem(broke, 409).await;

    assert!(
        stock_problem["reason"]
            .as_str()
            .unwrap()
            .contains("insufficient stock"),
        "{stock_problem}"
    );
    assert!(
        credit_problem["reason"]
            .as_str()
            .unwrap()
            .contains("insufficient credit"),
        "{credit_problem}"
    );
    let id = credit_problem["order_id"].as_str().unwrap();
    assert_eq!(credit_problem["order_status"], "rejected");
    let order: Value = app.get_json(&format!("/orders/{id}")).await;
    assert_eq!(order["status"], "rejected");
    assert!(
        order["reason"]
            .as_str()
            .unwrap()
            .contains("insufficient credit"),
        "{order}"
    );
}
