//! Duplicates and poison published straight to the services' queues, as a
//! buggy or hostile client could: a duplicate is one order; garbage, wrong
//! types, unknown patterns and oversized bodies are dead-lettered with a
//! reason; the services keep serving and the invariants hold.

use std::time::Duration;

use lapin::BasicProperties;
use serde_json::json;
use system_tests::{Options, System};

#[tokio::test]
async fn duplicates_run_once_and_poison_is_dead_lettered_with_a_reason() {
    let system = System::start(Options::default()).await;
    let initial = system.stock().await;
    let user = system.user_with_credit(100_000).await;

    // The same create_order twice, one message id (a publisher retrying
    // after a lost confirm): one order.
    let id = uuid::Uuid::new_v4().to_string();
    let request = json!({
        "pattern": "create_order",
        "data": {"user_id": user, "items": [{"sku": "STICKER-PACK", "quantity": 1}]},
        "id": id,
    });
    // Named for its user, as the gateway does.
    let mut caller = lapin::types::FieldTable::default();
    for (key, value) in [
        ("x-caller-id", user.clone()),
        ("x-caller-role", "customer".into()),
    ] {
        caller.insert(
            key.into(),
            lapin::types::AMQPValue::LongString(value.into()),
        );
    }
    let properties = BasicProperties::default()
        .with_message_id(id.as_str().into())
        .with_headers(caller);
    for _ in 0..2 {
        system
            .publish_raw(
                &system.orders_queue,
                request.to_string().as_bytes(),
                properties.clone(),
            )
            .await;
    }

    let oversized = json!({"pattern": "create_order", "data": {"pad": "x".repeat(300 * 1024)}});
    let orders_poison: Vec<Vec<u8>> = vec![
        b"\xff this is not JSON".to_vec(),
        json!({"pattern": "create_order", "data": {"user_id": 42, "items": "many"}})
            .to_string()
            .into(),
        json!({"pattern": "drop_table_orders", "data": {}})
            .to_string()
            .into(),
        oversized.to_string().into(),
    ];
    let notifications_poison: Vec<Vec<u8>> = vec![
        b"{\"pattern\": ".to_vec(),
        json!({"pattern": "get_notifications", "data": {"user_id": []}})
            .to_string()
            .into(),
        json!({"pattern": "no_such_event", "data": {}})
            .to_string()
            .into(),
        oversized.to_string().into(),
    ];
    for body in &orders_poison {
        system
            .publish_raw(&system.orders_queue, body, BasicProperties::default())
            .await;
    }
    for body in &notifications_poison {
        system
            .publish_raw(
                &system.notifications_queue,
                body,
                BasicProperties::default(),
            )
            .await;
    }

    // Still serving, through the same queues.
    let (status, body) = system.place_order(&user, "STICKER-PACK", 1).await;
    assert_eq!(status, 201, "{body}");
    system.wait_healthy(Duration::from_secs(5)).await;

    system.wait_settled(Duration::from_secs(15)).await;
    let orders = system.db("orders").await;
    let duplicates: i64 =
        sqlx::query_scalar("SELECT count(*) FROM orders WHERE idempotency_key = $1")
            .bind(format!("msg:{id}"))
            .fetch_one(&orders)
            .await
            .unwrap();
    assert_eq!(
        duplicates, 1,
        "the duplicated message placed {duplicates} orders"
    );
    let placed: i64 = sqlx::query_scalar("SELECT count(*) FROM orders")
        .fetch_one(&orders)
        .await
        .unwrap();
    assert_eq!(placed, 2, "the duplicate's order and the one placed after");

    // Each poison message dead-lettered once, saying why.
    for (queue, expected) in [
        (
            format!("{}.dead-letter", system.orders_queue),
            [
                "not a NestJS envelope",
                "invalid type",
                "no handler for pattern",
                "exceeds the limit",
            ],
        ),
        (
            format!("{}.dead-letter", system.notifications_queue),
            [
                "not a NestJS envelope",
                "invalid type",
                "no handler for pattern",
                "exceeds the limit",
            ],
        ),
    ] {
        let reasons = system.dead_letter_reasons(&queue).await;
        assert_eq!(reasons.len(), expected.len(), "{queue}: {reasons:?}");
        // Deliveries are handled concurrently: in any order.
        for expected in expected {
            let matching = reasons.iter().filter(|r| r.contains(expected)).count();
            assert_eq!(matching, 1, "{queue}: {expected:?} in {reasons:?}");
        }
    }
    system.assert_invariants(&initial, (4, 4)).await;
}
