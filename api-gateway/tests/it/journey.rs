//! The README's walk-through as a test, on all four services: sign up, log
//! in, an admin tops up the credit, place an order (confirmed), place one
//! too expensive (rejected, with the reason), and find one notification per
//! event.

use std::time::Duration;

use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::{PASSWORD, TestApp, assert_problem, client};

#[sqlx::test(migrator = "order_service::MIGRATOR")]
async fn a_newcomers_journey_ends_with_one_notification_per_event(pool: PgPool) {
    let app = TestApp::builder(pool)
        .with_orders()
        .with_notifications()
        .start()
        .await;
    let admin = app.http.clone();

    let user: Value = app
        .anonymous
        .post(app.url("/users"))
        .json(&json!({"name": "Grace", "email": "grace@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = user["id"].as_str().unwrap().to_owned();
    assert_eq!(user["role"], "customer");
    let grace = client(Some(&app.token("grace@example.com", PASSWORD).await));
    let balance: Value = admin
        .post(app.url(&format!("/users/{id}/credit")))
        .json(&json!({"amount_cents": 3_000}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(balance["balance_cents"], 3_000);
    let post = |path: &str, body: Value| grace.post(app.url(path)).json(&body).send();

    let confirmed = post(
        "/orders",
        json!({"items": [{"sku": "MUG-STEEL", "quantity": 1}]}),
    )
    .await
    .unwrap();
    assert_eq!(confirmed.status(), 201);
    let rejected = post(
        "/orders",
        json!({"user_id": id, "items": [{"sku": "HOODIE-GREY-L", "quantity": 1}]}),
    )
    .await
    .unwrap();
    let problem = assert_problem(rejected, 409).await;
    assert!(
        problem["reason"]
            .as_str()
            .unwrap()
            .contains("insufficient credit"),
        "{problem}"
    );

    // Events travel outbox → relay → exchange → notification-service.
    let mut events = Vec::new();
    for _ in 0..250 {
        let list = app
            .get_json_as(&grace, &format!("/users/{id}/notifications"))
            .await;
        events = list["notifications"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["event"].as_str().unwrap().to_owned())
            .collect();
        if events.len() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    events.sort_unstable();
    assert_eq!(
        events,
        ["order_confirmed", "order_rejected", "user_created"]
    );
    let user = app.get_json_as(&grace, &format!("/users/{id}")).await;
    assert_eq!(user["balance_cents"], 3_000 - 1_250);
}
