//! The whole order flow with the gateway's requests to order-service and
//! notification-service over NATS (their `TRANSPORTS=nats`: RabbitMQ
//! carries only the events), on a NATS server running the shipped
//! `deploy/nats/nats.conf`; who that configuration lets in; and a NATS
//! outage: a fast 503, then every client reconnects and resubscribes.

use std::time::Duration;

use messaging::{
    RpcError,
    nats::{NatsClient, NatsConfig},
};
use serde_json::{Value, json};
use system_tests::{Options, System};

#[tokio::test]
async fn the_order_flow_runs_with_requests_over_nats() {
    let system = System::start(Options {
        nats: true,
        ..Options::default()
    })
    .await;

    // The gateway reaches both services over NATS only.
    let health = wait_for_health(&system, 200).await;
    assert_eq!(health["dependencies"]["nats"]["status"], "up", "{health}");
    assert!(health["dependencies"].get("rabbitmq").is_none(), "{health}");

    let products = system
        .http
        .get(system.url("/products"))
        .send()
        .await
        .unwrap();
    assert_eq!(products.status(), 200);

    // 20.00 of credit: one mug (12.50) fits, a second one does not.
    let user = system.user_with_credit(2_000).await;
    let (status, confirmed) = system.place_order(&user, "MUG-STEEL", 1).await;
    assert_eq!(
        (status, &confirmed["status"]),
        (201, &json!("confirmed")),
        "{confirmed}"
    );
    let (status, rejected) = system.place_order(&user, "MUG-STEEL", 1).await;
    assert_eq!(status, 409, "{rejected}");
    assert_eq!(rejected["order_status"], "rejected", "{rejected}");
    assert!(
        rejected["reason"]
            .as_str()
            .is_some_and(|r| r.contains("insufficient credit")),
        "{rejected}"
    );
    let order_id = rejected["order_id"].as_str().unwrap();
    let order = system
        .get_json_as(&user, &format!("/orders/{order_id}"))
        .await;
    assert_eq!(order["status"], "rejected", "{order}");

    // The events went through the outboxes and RabbitMQ; the notifications
    // come back over NATS: the welcome, the confirmation, the rejection.
    let mut events = Vec::new();
    for _ in 0..100 {
        let list = system
            .get_json_as(&user, &format!("/users/{user}/notifications"))
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
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    events.sort();
    assert_eq!(
        events,
        ["order_confirmed", "order_rejected", "user_created"],
        "{}",
        system.logs_hint()
    );
}

#[tokio::test]
async fn on_nats_only_the_gateway_may_send_requests() {
    let system = System::start(Options {
        nats: true,
        ..Options::default()
    })
    .await;
    let nats = system.nats.as_ref().unwrap();
    let user = system.user_with_credit(10_000).await;
    let order = json!({"user_id": user, "items": [{"sku": "MUG-STEEL", "quantity": 1}]});

    // No account: the server refuses the connection.
    let anonymous = messaging::nats::connect(&NatsConfig::new(nats.anonymous_url(), "anonymous"))
        .await
        .unwrap();
    let anonymous = NatsClient::new(&anonymous, "orders_queue", Duration::from_secs(2));
    assert!(!anonymous.wait_connected(Duration::from_secs(2)).await);

    // notification-service's account may answer its own requests, not send
    // any: the server drops the publish, nothing runs — though it names
    // the customer as the gateway would.
    let caller = contracts::identity::Caller {
        user_id: user.parse().unwrap(),
        role: contracts::identity::Role::Customer,
    };
    let service = NatsConfig::new(nats.url("notification-service"), "impostor");
    let service = messaging::nats::connect(&service).await.unwrap();
    let impostor = NatsClient::new(&service, "orders_queue", Duration::from_secs(2));
    assert!(impostor.wait_connected(Duration::from_secs(5)).await);
    let forged = impostor
        .on_behalf_of(caller)
        .send_value_within("create_order", order.clone(), impostor.timeout())
        .await;
    assert!(
        !matches!(forged, Ok(_) | Err(RpcError::Remote(_))),
        "order-service answered a request from notification-service's account: {forged:?}"
    );

    // The gateway's account may (its own client, as the gateway sends it).
    let gateway = NatsConfig::new(nats.url("api-gateway"), "gateway");
    let gateway = messaging::nats::connect(&gateway).await.unwrap();
    let gateway = NatsClient::new(&gateway, "orders_queue", Duration::from_secs(5));
    assert!(gateway.wait_connected(Duration::from_secs(5)).await);
    let placed = gateway
        .on_behalf_of(caller)
        .send_value_within("create_order", order, gateway.timeout())
        .await
        .unwrap();
    assert_eq!(placed["status"], "confirmed", "{placed}");

    let orders = system
        .get_json_as(&user, &format!("/users/{user}/orders"))
        .await;
    assert_eq!(
        orders["orders"].as_array().map(Vec::len),
        Some(1),
        "only the gateway's account placed an order: {orders}"
    );
}

#[tokio::test]
async fn a_nats_outage_is_a_clear_503_and_requests_flow_again_when_it_is_back() {
    let mut system = System::start(Options {
        nats: true,
        ..Options::default()
    })
    .await;
    let user = system.user_with_credit(10_000).await;
    assert_eq!(system.place_order(&user, "MUG-STEEL", 1).await.0, 201);

    system.nats.as_mut().unwrap().stop();
    // The gateway sees its connection drop and says so.
    let health = wait_for_health(&system, 503).await;
    assert_eq!(health["dependencies"]["nats"]["status"], "down", "{health}");
    let started = std::time::Instant::now();
    let (status, problem) = system.place_order(&user, "MUG-STEEL", 1).await;
    assert_eq!(status, 503, "{problem}");
    // Not a wait for the 5 s deadline: the client knows it is not connected.
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "a NATS outage must be a fast answer, took {:?}",
        started.elapsed()
    );

    system.nats.as_mut().unwrap().restart().await;
    // Every client reconnects, and the services subscribe again.
    wait_for_health(&system, 200).await;
    let (status, order) = system.place_order(&user, "MUG-STEEL", 1).await;
    assert_eq!(status, 201, "{order}");
    assert_eq!(order["status"], "confirmed", "{order}");
}

/// Polls `/health` (bounded) until it answers `status`; its body.
async fn wait_for_health(system: &System, status: u16) -> Value {
    let mut last = Value::Null;
    for _ in 0..300 {
        let response = system.http.get(system.url("/health")).send().await.unwrap();
        let code = response.status().as_u16();
        last = response.json().await.unwrap_or(Value::Null);
        if code == status {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "/health never answered {status}: {last}\n{}",
        system.logs_hint()
    );
}
