//! The whole order flow with the gateway's requests to order-service and
//! notification-service over NATS, over Redis and over TCP (their
//! `TRANSPORTS`: RabbitMQ carries only the events); for NATS and Redis on a
//! server of the system's own running the shipped configuration
//! (`deploy/nats/nats.conf`, `deploy/redis/users.acl`), with who that
//! configuration lets in and an outage: a fast 503, then every client
//! reconnects and resubscribes. (Who may call over TCP: tcp.rs.)

use std::time::Duration;

use messaging::{
    Client, RpcError, Transport,
    nats::NatsConfig,
    redis::{RedisConfig, RedisLink},
};
use serde_json::{Value, json};
use system_tests::{Options, System};

mod tcp {
    #[tokio::test]
    async fn the_order_flow_runs_with_requests_over() {
        super::the_order_flow_runs_with_requests_over(messaging::Transport::Tcp).await;
    }
}

test_support::tests_on_nats_and_redis!(
    the_order_flow_runs_with_requests_over,
    only_the_gateway_may_send_requests_over,
    an_outage_is_a_clear_503_and_requests_flow_again_when_it_is_back,
);

async fn the_order_flow_runs_with_requests_over(transport: Transport) {
    let system = System::start(Options {
        requests: transport,
        ..Options::default()
    })
    .await;

    // The gateway reaches both services over this transport only (TCP has
    // no broker to report on: the services' own checks travel over it).
    let health = wait_for_health(&system, 200).await;
    let name = transport.name();
    if transport != Transport::Tcp {
        assert_eq!(health["dependencies"][name]["status"], "up", "{health}");
    }
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
    // come back over the transport: the welcome, the confirmation, the
    // rejection.
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

async fn only_the_gateway_may_send_requests_over(transport: Transport) {
    let system = System::start(Options {
        requests: transport,
        ..Options::default()
    })
    .await;
    let server = system.pubsub.as_ref().unwrap();
    let user = system.user_with_credit(10_000).await;
    let order = json!({"user_id": user, "items": [{"sku": "MUG-STEEL", "quantity": 1}]});

    // No account: the server refuses the connection (NATS) or every
    // command on it (Redis: `default` is off).
    let anonymous = client(transport, server.anonymous_url(), Duration::from_secs(2)).await;
    let reached = anonymous
        .send_value_within("create_order", order.clone(), anonymous.timeout())
        .await;
    assert!(
        !matches!(reached, Ok(_) | Err(RpcError::Remote(_))),
        "order-service answered an anonymous request: {reached:?}"
    );

    // notification-service's account may answer its own requests, not send
    // any: the server drops the publish (NATS) or refuses the channel
    // (Redis), nothing runs — though it names the customer as the gateway
    // would.
    let caller = contracts::identity::Caller {
        user_id: user.parse().unwrap(),
        role: contracts::identity::Role::Customer,
    };
    let impostor = client(
        transport,
        server.url("notification-service"),
        Duration::from_secs(2),
    )
    .await;
    assert!(wait_connected(&impostor).await);
    let forged = impostor
        .on_behalf_of(caller)
        .send_value_within("create_order", order.clone(), impostor.timeout())
        .await;
    assert!(
        !matches!(forged, Ok(_) | Err(RpcError::Remote(_))),
        "order-service answered a request from notification-service's account: {forged:?}"
    );

    // The gateway's account may (its own client, as the gateway sends it).
    let gateway = client(transport, server.url("api-gateway"), Duration::from_secs(5)).await;
    assert!(wait_connected(&gateway).await);
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

async fn an_outage_is_a_clear_503_and_requests_flow_again_when_it_is_back(transport: Transport) {
    let mut system = System::start(Options {
        requests: transport,
        ..Options::default()
    })
    .await;
    let user = system.user_with_credit(10_000).await;
    assert_eq!(system.place_order(&user, "MUG-STEEL", 1).await.0, 201);

    system.pubsub.as_mut().unwrap().stop();
    // The gateway sees its connection drop and says so (the services'
    // checks, which travel over it, may fail a moment before).
    let name = transport.name();
    let health = wait_for(&system, |code, health| {
        code == 503 && health["dependencies"][name]["status"] == "down"
    })
    .await;
    assert_eq!(health["dependencies"][name]["status"], "down", "{health}");
    let started = std::time::Instant::now();
    let (status, problem) = system.place_order(&user, "MUG-STEEL", 1).await;
    assert_eq!(status, 503, "{problem}");
    // Not a wait for the 5 s deadline: the client knows it is not connected.
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "an outage must be a fast answer, took {:?}",
        started.elapsed()
    );

    system.pubsub.as_mut().unwrap().restart().await;
    // Every client reconnects, and the services subscribe again.
    wait_for_health(&system, 200).await;
    let (status, order) = system.place_order(&user, "MUG-STEEL", 1).await;
    assert_eq!(status, 201, "{order}");
    assert_eq!(order["status"], "confirmed", "{order}");
}

/// A client of order-service over `transport`, logged in with `url`.
async fn client(transport: Transport, url: String, timeout: Duration) -> Client {
    match transport {
        Transport::Nats => {
            let connection = messaging::nats::connect(&NatsConfig::new(url, "test"))
                .await
                .unwrap();
            Client::nats(&connection, "orders_queue", timeout)
        }
        Transport::Redis => {
            let link = RedisLink::start(&RedisConfig::new(url)).unwrap();
            Client::redis(&link, "orders_queue", timeout)
        }
        Transport::Amqp | Transport::Tcp => unreachable!("tested in security.rs, tcp.rs"),
    }
}

/// Waits (bounded) until `client` is connected.
async fn wait_connected(client: &Client) -> bool {
    for _ in 0..250 {
        if client.is_connected() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

/// Polls `/health` (bounded) until it answers `status`; its body.
async fn wait_for_health(system: &System, status: u16) -> Value {
    wait_for(system, |code, _| code == status).await
}

/// Polls `/health` (bounded) until its status and body satisfy `done`; that
/// body.
async fn wait_for(system: &System, done: impl Fn(u16, &Value) -> bool) -> Value {
    let mut last = Value::Null;
    for _ in 0..300 {
        let response = system.http.get(system.url("/health")).send().await.unwrap();
        let code = response.status().as_u16();
        last = response.json().await.unwrap_or(Value::Null);
        if done(code, &last) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("/health never got there: {last}\n{}", system.logs_hint());
}
