//! Duplicates and poison: a request delivered twice places one order; data
//! that can never be valid is dead-lettered while the service keeps serving.

use std::time::Duration;

use lapin::{
    BasicProperties,
    options::{BasicConsumeOptions, BasicPublishOptions},
    types::FieldTable,
};
use messaging::wire::DIRECT_REPLY_TO;
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio_stream::StreamExt;

use crate::helpers::{TestApp, error_code};

#[sqlx::test(migrator = "order_service::MIGRATOR")]
async fn the_same_idempotency_key_returns_the_original_order(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let user = app.user().await;
    let request = json!({"user_id": user, "items": [{"sku": "TEE-BLACK-M", "quantity": 1}], "idempotency_key": "checkout-42"});

    let first = app
        .client
        .send_value("create_order", request.clone())
        .await
        .unwrap();
    let retry = app
        .client
        .send_value("create_order", request)
        .await
        .unwrap();

    assert_eq!(retry, first);
    assert_eq!(app.order_count().await, 1);
    assert_eq!(app.stock("TEE-BLACK-M").await, 99);

    let reused = app
        .client
        .send_value(
            "create_order",
            json!({"user_id": user, "items": [{"sku": "MUG-STEEL", "quantity": 1}], "idempotency_key": "checkout-42"}),
        )
        .await;
    assert_eq!(error_code(reused), "FAILED_PRECONDITION");
    assert_eq!(app.order_count().await, 1);
    app.cleanup().await;
}

#[sqlx::test(migrator = "order_service::MIGRATOR")]
async fn a_message_delivered_twice_places_one_order(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let user = app.user().await;
    // What a redelivery looks like to the service: the same bytes and the
    // same message id, twice. Both copies ask for a reply, so the test knows
    // when both were handled; they may well be handled concurrently.
    let replies_channel = app.admin_connection.create_channel().await.unwrap();
    let mut replies = replies_channel
        .basic_consume(
            DIRECT_REPLY_TO.into(),
            "".into(),
            BasicConsumeOptions {
                no_ack: true,
                ..BasicConsumeOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
    let body = serde_json::to_vec(&json!({
        "pattern": "create_order",
        "data": {"user_id": user, "items": [{"sku": "STICKER-PACK", "quantity": 5}]},
        "id": "redelivered-1"
    }))
    .unwrap();
    // The caller, as the gateway names it.
    let mut caller = lapin::types::FieldTable::default();
    for (key, value) in [
        ("x-caller-id", user.to_string()),
        ("x-caller-role", "customer".into()),
    ] {
        caller.insert(
            key.into(),
            lapin::types::AMQPValue::LongString(value.into()),
        );
    }
    for _ in 0..2 {
        let properties = BasicProperties::default()
            .with_message_id("redelivered-1".into())
            .with_correlation_id("redelivered-1".into())
            .with_reply_to(DIRECT_REPLY_TO.into())
            // As the account allowed to call (the tests' guest).
            .with_user_id("guest".into())
            .with_headers(caller.clone());
        replies_channel
            .basic_publish(
                "".into(),
                app.queue.as_str().into(),
                BasicPublishOptions::default(),
                &body,
                properties,
            )
            .await
            .unwrap()
            .await
            .unwrap();
    }

    let mut order_ids = Vec::new();
    for _ in 0..2 {
        let reply = tokio::time::timeout(Duration::from_secs(10), replies.next())
            .await
            .expect("no reply within 10 s")
            .unwrap()
            .unwrap();
        let reply: Value = serde_json::from_slice(&reply.data).unwrap();
        order_ids.push(reply["response"]["id"].as_str().unwrap().to_owned());
    }

    assert_eq!(
        order_ids[0], order_ids[1],
        "both copies answer with the same order"
    );
    assert_eq!(app.order_count().await, 1);
    assert_eq!(app.stock("STICKER-PACK").await, 495);
    app.cleanup().await;
}

#[sqlx::test(migrator = "order_service::MIGRATOR")]
async fn data_of_the_wrong_shape_is_dead_lettered_and_service_continues(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let user = app.user().await;

    let result = app
        .client
        .send_value(
            "create_order",
            json!({"user_id": user, "items": "two mugs please"}),
        )
        .await;
    assert_eq!(error_code(result), "INVALID_ARGUMENT");

    let order = app
        .create_order(user, json!([{"sku": "MUG-STEEL", "quantity": 1}]))
        .await
        .unwrap();
    assert_eq!(order["status"], "confirmed");
    let dead = app
        .admin
        .basic_get(
            format!("{}.dead-letter", app.queue).as_str().into(),
            lapin::options::BasicGetOptions { no_ack: true },
        )
        .await
        .unwrap()
        .expect("the malformed request is in the dead-letter queue");
    assert!(String::from_utf8_lossy(&dead.delivery.data).contains("two mugs please"));
    app.cleanup().await;
}
