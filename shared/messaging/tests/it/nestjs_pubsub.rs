//! Interoperability with real NestJS peers on `Transport.NATS` and
//! `Transport.REDIS` (`@nestjs/microservices` 11 with `nats` 2 and
//! `ioredis` 5, pinned in interop/nestjs/package-lock.json): a NestJS
//! client calls and emits to our server, our client calls and emits to a
//! NestJS server. Each test runs on both.

use std::time::Duration;

use contracts::{ErrorCode, ServiceError};
use messaging::{HandlerError, Router, Transport};
use serde_json::{Value, json};
use test_support::nestjs;
use tokio::sync::mpsc;

use crate::bus::Bus;

test_support::tests_on_nats_and_redis!(
    a_nestjs_client_gets_replies_and_errors,
    an_event_a_nestjs_client_emits_reaches_our_handler,
    our_client_sends_to_and_emits_events_at_a_nestjs_server,
);

/// The NestJS peer's transport at the local server.
fn peer(transport: Transport) -> nestjs::Transport {
    match transport {
        Transport::Nats => nestjs::Transport::nats(),
        Transport::Redis => nestjs::Transport::redis(),
        Transport::Amqp | Transport::Tcp => unreachable!("NATS and Redis only"),
    }
}

async fn a_nestjs_client_gets_replies_and_errors(transport: Transport) {
    let mut bus = Bus::new(transport).await;
    let (sum, find, whoami) = (bus.pattern("sum"), bus.pattern("find"), bus.pattern("who"));
    let router = Router::new()
        .route(&sum, |m| async move {
            let numbers: Vec<i64> =
                serde_json::from_value(m.data).map_err(|e| HandlerError::Poison(e.to_string()))?;
            Ok(json!(numbers.iter().sum::<i64>()))
        })
        .route(&find, |_| async {
            Err::<Value, _>(HandlerError::Reply(ServiceError::new(
                ErrorCode::NotFound,
                "no such thing",
            )))
        })
        .route(&whoami, |m| async move {
            Ok(json!(m.caller.map(|c| c.role.as_str().to_owned())))
        });
    bus.start_server(router).await;
    let (nestjs, group) = (peer(transport), bus.config.queue.clone());

    let ok = nestjs::send_over(&nestjs, &group, &sum, json!([1, 2, 3]), None).await;
    let business = nestjs::send_over(&nestjs, &group, &find, json!({}), None).await;

    assert_eq!(ok, json!({"response": 6}));
    assert_eq!(
        business,
        json!({"err": {"code": "NOT_FOUND", "message": "no such thing"}})
    );
    // A NatsRecord's headers carry the caller a NestJS gateway verified;
    // NestJS's Redis envelope has no headers, so a NestJS client there
    // calls for nobody.
    let caller = json!({"x-caller-id": uuid::Uuid::now_v7(), "x-caller-role": "admin"});
    let expected = match transport {
        Transport::Nats => json!({"response": "admin"}),
        _ => json!({"response": null}),
    };
    let headers = (transport == Transport::Nats).then_some(caller);
    let me = nestjs::send_over(&nestjs, &group, &whoami, json!({}), headers).await;
    assert_eq!(me, expected);
    bus.stop().await;
}

async fn an_event_a_nestjs_client_emits_reaches_our_handler(transport: Transport) {
    let mut bus = Bus::new(transport).await;
    let pattern = bus.pattern("order_placed");
    let (seen, mut events) = mpsc::unbounded_channel();
    let router = Router::new().route(&pattern, move |m| {
        let seen = seen.clone();
        async move {
            let _ = seen.send(m.data);
            Ok(Value::Null)
        }
    });
    bus.start_server(router).await;

    let data = json!({"order_id": "o-1", "total_cents": 2500});
    nestjs::emit_over(&peer(transport), &bus.config.queue, &pattern, data.clone()).await;
    let received = tokio::time::timeout(Duration::from_secs(10), events.recv())
        .await
        .expect("the event never arrived");

    assert_eq!(received, Some(data));
    bus.stop().await;
}

async fn our_client_sends_to_and_emits_events_at_a_nestjs_server(transport: Transport) {
    let bus = Bus::new(transport).await;
    let (sum, event) = (bus.pattern("sum"), bus.pattern("order_placed"));
    let mut server =
        nestjs::Server::start_over(&peer(transport), &bus.config.queue, &sum, &event, None).await;
    let client = bus.rpc();

    let nine = client
        .send_value_within(&sum, json!([4, 5]), client.timeout())
        .await
        .unwrap();
    let data = json!({"order_id": "o-1", "total_cents": 2500});
    client.emit(&event, &data).await.unwrap();
    let received = server.next_event().await;

    assert_eq!(nine, json!(9));
    assert_eq!(received, json!({"pattern": event, "data": data}));
    server.stop().await;
    bus.stop().await;
}
