//! Requests over TCP (`TRANSPORTS=tcp`) are mutual TLS with the services'
//! certificates, and order-service takes them from the gateway only: a
//! client without a certificate is refused at the handshake, another
//! service's certificate gets `PERMISSION_DENIED` whoever it names as the
//! caller, the gateway's places the order. And order-service gone is a fast
//! 503, not a wait for the deadline.

use std::time::Duration;

use contracts::identity::{Caller, Role};
use messaging::{Client, RpcError, Transport};
use platform::tls::GrpcTls;
use serde_json::json;
use system_tests::{Options, System};

/// A TCP client of order-service holding `service`'s certificate (or none).
fn client_as(system: &System, service: Option<&str>) -> Client {
    let addr = system.order_service_tcp.expect("requests over TCP");
    let timeout = Duration::from_secs(5);
    let Some(service) = service else {
        return Client::tcp(addr.to_string(), timeout);
    };
    let read = |file: String| std::fs::read_to_string(system.certs.join(file)).unwrap();
    let tls = GrpcTls::from_pem(
        read("ca.pem".into()),
        read(format!("{service}.pem")),
        read(format!("{service}.key")).into(),
    );
    Client::tcp_tls(
        addr.to_string(),
        timeout,
        tls.stream_client().unwrap(),
        "order-service",
    )
    .unwrap()
}

#[tokio::test]
async fn over_tcp_only_the_gateways_certificate_may_send_requests() {
    let system = System::start(Options {
        requests: Transport::Tcp,
        ..Options::default()
    })
    .await;
    let user = system.user_with_credit(10_000).await;
    let order = json!({"user_id": user, "items": [{"sku": "MUG-STEEL", "quantity": 1}]});
    let caller = Caller {
        user_id: user.parse().unwrap(),
        role: Role::Customer,
    };
    let place = |client: Client| {
        let order = order.clone();
        async move {
            let client = client.on_behalf_of(caller);
            client
                .send_value_within("create_order", order, client.timeout())
                .await
        }
    };

    // Plain TCP: the server wants a certificate; the handshake never starts.
    let plain = place(client_as(&system, None)).await;
    assert!(
        !matches!(plain, Ok(_) | Err(RpcError::Remote(_))),
        "order-service answered plain TCP: {plain:?}"
    );
    // notification-service's certificate: signed by the CA, not allowed.
    match place(client_as(&system, Some("notification-service"))).await {
        Err(RpcError::Remote(err)) => assert_eq!(err["code"], "PERMISSION_DENIED", "{err}"),
        other => panic!("expected PERMISSION_DENIED, got {other:?}"),
    }
    // The gateway's: the order is placed, for the customer it names.
    let placed = place(client_as(&system, Some("api-gateway")))
        .await
        .unwrap();
    assert_eq!(placed["status"], "confirmed", "{placed}");

    let orders = system
        .get_json_as(&user, &format!("/users/{user}/orders"))
        .await;
    assert_eq!(
        orders["orders"].as_array().map(Vec::len),
        Some(1),
        "only the gateway's certificate placed an order: {orders}"
    );
}

#[tokio::test]
async fn order_service_gone_is_a_fast_503_over_tcp() {
    let mut system = System::start(Options {
        requests: Transport::Tcp,
        ..Options::default()
    })
    .await;
    let user = system.user_with_credit(10_000).await;
    assert_eq!(system.place_order(&user, "MUG-STEEL", 1).await.0, 201);

    system.order_services[0].kill();
    let started = std::time::Instant::now();
    let (status, problem) = system.place_order(&user, "MUG-STEEL", 1).await;

    assert_eq!(status, 503, "{problem}");
    // Refused at connect, not a wait for the 5 s deadline.
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "took {:?}",
        started.elapsed()
    );
}
