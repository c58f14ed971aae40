//! A real NestJS client (`ClientProxy`, `Transport.RMQ`) places an order with
//! the Rust order-service: the swap-one-service-at-a-time promise.

use serde_json::json;
use sqlx::PgPool;

use crate::helpers::TestApp;

#[sqlx::test(migrator = "order_service::MIGRATOR")]
async fn a_nestjs_client_places_an_order_with_the_rust_order_service(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let user = app.user().await;

    let placed = test_support::nestjs::send(
        &app.queue,
        "create_order",
        json!({"user_id": user, "items": [{"sku": "HOODIE-GREY-L", "quantity": 1}]}),
    )
    .await;
    let refused = test_support::nestjs::send(
        &app.queue,
        "create_order",
        json!({"user_id": user, "items": [{"sku": "HOODIE-GREY-L", "quantity": 999}]}),
    )
    .await;

    let order = &placed["response"];
    assert_eq!(order["status"], "confirmed", "{placed}");
    assert_eq!(order["total_cents"], 4999, "{placed}");
    assert_eq!(refused["err"]["code"], "FAILED_PRECONDITION", "{refused}");
    assert_eq!(app.stock("HOODIE-GREY-L").await, 19);
    app.cleanup().await;
}
