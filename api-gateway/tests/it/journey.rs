//! The README's walk-through as a test, on all four services: create a user,
//! top up credit, place an order (confirmed), place one too expensive
//! (rejected, with the reason), and find one notification per event.

use std::time::Duration;

use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::{TestApp, assert_problem};

#[sqlx::test(migrator = "order_service::MIGRATOR")]
async fn a_newcomers_journey_ends_with_one_notification_per_event(pool: PgPool) {
    let app = TestApp::spawn_everything(pool).await;
    let post = |path: String, body: Value| app.http.post(app.url(&path)).json(&body).send();

    let user: Value = post(
        "/users".into(),
        json!({"name": "Grace", "email": "grace@example.com"}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let id = user["id"].as_str().unwrap().to_owned();
    let balance: Value = post(
        format!("/users/{id}/credit"),
        json!({"amount_cents": 3_000}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(balance["balance_cents"], 3_000);

    let confirmed = post(
        "/orders".into(),
        json!({"user_id": id, "items": [{"sku": "MUG-STEEL", "quantity": 1}]}),
    )
    .await
    .unwrap();
    assert_eq!(confirmed.status(), 201);
    let rejected = post(
        "/orders".into(),
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
        let list: Value = app.get_json(&format!("/users/{id}/notifications")).await;
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
    let user: Value = app.get_json(&format!("/users/{id}")).await;
    assert_eq!(user["balance_cents"], 3_000 - 1_250);
}
