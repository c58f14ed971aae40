//! Interoperability with real NestJS peers (`@nestjs/microservices` 11,
//! `Transport.RMQ`, pinned in interop/nestjs/package-lock.json): a NestJS
//! client talks to our server, our client talks to a NestJS server.

use std::time::Duration;

use contracts::{ErrorCode, ServiceError};
use messaging::{HandlerError, Router, wire::NO_MESSAGE_HANDLER};
use serde_json::{Value, json};

use crate::helpers::Bus;

#[tokio::test]
async fn a_nestjs_client_gets_replies_and_errors_from_our_server() {
    let mut bus = Bus::new().await;
    bus.start_server(
        Router::new()
            .route("sum", |m| async move {
                let numbers: Vec<i64> = serde_json::from_value(m.data)
                    .map_err(|e| HandlerError::Poison(e.to_string()))?;
                Ok(json!(numbers.iter().sum::<i64>()))
            })
            .route("find", |_| async {
                Err::<Value, _>(HandlerError::Reply(ServiceError::new(
                    ErrorCode::NotFound,
                    "no such thing",
                )))
            }),
    );
    let queue = bus.config.queue.clone();

    let ok = test_support::nestjs::send(&queue, "sum", json!([1, 2, 3])).await;
    let business = test_support::nestjs::send(&queue, "find", json!({})).await;
    let unknown = test_support::nestjs::send(&queue, "multiply", json!([2, 3])).await;

    assert_eq!(ok, json!({"response": 6}));
    assert_eq!(
        business,
        json!({"err": {"code": "NOT_FOUND", "message": "no such thing"}})
    );
    assert_eq!(unknown, json!({"err": NO_MESSAGE_HANDLER}));
    bus.cleanup().await;
}

#[tokio::test]
async fn an_object_pattern_from_nestjs_is_routed_by_its_canonical_string() {
    let mut bus = Bus::new().await;
    // What `@MessagePattern({ role: 'math', cmd: 'sum' })` registers.
    bus.start_server(
        Router::new().route(r#"{"cmd":"sum","role":"math"}"#, |m| async move {
            let numbers: Vec<i64> =
                serde_json::from_value(m.data).map_err(|e| HandlerError::Poison(e.to_string()))?;
            Ok(json!(numbers.iter().sum::<i64>()))
        }),
    );

    // Keys in another order than the route: NestJS sorts them, so do we.
    let answer = test_support::nestjs::send(
        &bus.config.queue,
        r#"{"role":"math","cmd":"sum"}"#,
        json!([20, 22]),
    )
    .await;

    assert_eq!(answer, json!({"response": 42}));
    bus.cleanup().await;
}

#[tokio::test]
async fn our_client_sends_to_and_emits_events_at_a_nestjs_server() {
    let bus = Bus::new().await;
    let mut server =
        test_support::nestjs::Server::start(&bus.config.queue, "order_placed", None).await;
    let client = bus.client(Duration::from_secs(10)).await;

    let sum: i64 = client.send("sum", &[4, 5]).await.unwrap();
    client
        .emit(
            "order_placed",
            &json!({"order_id": "o-1", "total_cents": 2500}),
        )
        .await
        .unwrap();
    let event = server.next_event().await;

    assert_eq!(sum, 9);
    assert_eq!(
        event,
        json!({"pattern": "order_placed", "data": {"order_id": "o-1", "total_cents": 2500}})
    );
    server.stop().await;
    bus.cleanup().await;
}
