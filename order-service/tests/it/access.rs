//! Who may ask order-service what: every pattern but `list_products` needs a
//! caller in the `x-caller-*` headers; a customer places, reads and lists
//! only their own orders. The gateway checks the same first; this is the
//! second check, for whatever reaches the queue without passing it.

use contracts::identity::{Caller, Role};
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::{TestApp, error_code};

fn customer(user_id: Uuid) -> Caller {
    Caller {
        user_id,
        role: Role::Customer,
    }
}

#[sqlx::test(migrator = "order_service::MIGRATOR")]
async fn a_customer_orders_and_reads_only_for_themselves(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let (ada, bob) = (app.user().await, app.user().await);
    let order = app
        .create_order(bob, json!([{"sku": "MUG-STEEL", "quantity": 1}]))
        .await
        .unwrap();
    let as_ada = app.client.on_behalf_of(customer(ada));
    let items = json!([{"sku": "MUG-STEEL", "quantity": 1}]);

    let for_bob = as_ada
        .send_value("create_order", json!({"user_id": bob, "items": items}))
        .await;
    let bobs_order = as_ada
        .send_value("get_order", json!({"id": order["id"]}))
        .await;
    let bobs_list = as_ada
        .send_value("list_orders", json!({"user_id": bob}))
        .await;
    let own = as_ada
        .send_value("create_order", json!({"user_id": ada, "items": items}))
        .await;

    assert_eq!(error_code(for_bob), "PERMISSION_DENIED");
    assert_eq!(error_code(bobs_order), "NOT_FOUND");
    assert_eq!(error_code(bobs_list), "NOT_FOUND");
    assert_eq!(own.unwrap()["status"], "confirmed");
    assert_eq!(app.balance(bob).await, 100_000 - 1250, "bob paid once");
    app.cleanup().await;
}

#[sqlx::test(migrator = "order_service::MIGRATOR")]
async fn without_a_caller_only_the_catalogue_answers(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let user = app.user().await;
    let anonymous = messaging::Client::amqp(
        &messaging::Link::start(messaging::AmqpConfig::new(crate::helpers::amqp_url())),
        &app.queue,
        std::time::Duration::from_secs(10),
    );
    assert!(
        anonymous
            .wait_connected(std::time::Duration::from_secs(5))
            .await
    );
    let items = json!([{"sku": "MUG-STEEL", "quantity": 1}]);

    let placed = anonymous
        .send_value("create_order", json!({"user_id": user, "items": items}))
        .await;
    let listed = anonymous
        .send_value("list_orders", json!({"user_id": user}))
        .await;
    let products = anonymous.send_value("list_products", json!({})).await;

    assert_eq!(error_code(placed), "UNAUTHENTICATED");
    assert_eq!(error_code(listed), "UNAUTHENTICATED");
    assert!(products.unwrap()["products"].is_array());
    assert_eq!(app.balance(user).await, 100_000, "nothing was charged");
    app.cleanup().await;
}
