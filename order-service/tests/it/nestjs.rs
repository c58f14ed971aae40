//! A real NestJS client (`ClientProxy`, `Transport.RMQ`) places an order with
//! the Rust order-service: the swap-one-service-at-a-time promise. Like our
//! gateway, it names the caller in AMQP headers (an `RmqRecord`); without
//! one, the order is refused.

use serde_json::json;
use sqlx::PgPool;
use test_support::nestjs::send_with_headers;

use crate::helpers::TestApp;

#[sqlx::test(migrator = "order_service::MIGRATOR")]
async fn a_nestjs_client_places_an_order_with_the_rust_order_service(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let user = app.user().await;

    let caller = Some(json!({"x-caller-id": user, "x-caller-role": "customer"}));
    let line = |quantity| json!({"user_id": user, "items": [{"sku": "HOODIE-GREY-L", "quantity": quantity}]});

    let placed = send_with_headers(&app.queue, "create_order", line(1), caller.clone()).await;
    let refused = send_with_headers(&app.queue, "create_order", line(999), caller).await;
    let anonymous = send_with_headers(&app.queue, "create_order", line(1), None).await;

    let order = &placed["response"];
    assert_eq!(order["status"], "confirmed", "{placed}");
    assert_eq!(order["total_cents"], 4999, "{placed}");
    assert_eq!(refused["err"]["code"], "FAILED_PRECONDITION", "{refused}");
    assert_eq!(anonymous["err"]["code"], "UNAUTHENTICATED", "{anonymous}");
    assert_eq!(app.stock("HOODIE-GREY-L").await, 19);
    app.cleanup().await;
}
