//! Scaling out: calls to user-service are spread over every instance and
//! keep succeeding when one dies; order-service replicas share their queue
//! as competing consumers and no order is handled twice.

use std::time::Duration;

use system_tests::{Options, System, invariants::scalar, process::counter};

#[tokio::test]
async fn calls_spread_over_user_services_and_survive_one_dying() {
    let system = System::start(Options {
        user_services: 2,
        ..Options::default()
    })
    .await;
    let user = system.user_with_credit(100_000).await;

    for _ in 0..20 {
        assert_eq!(system.get_user(&user).await.0, 200);
    }
    for instance in &system.user_services {
        let served = counter(
            &instance.metrics().await,
            "grpc_server_requests_total",
            &[
                r#"grpc_service="user.UserService""#,
                r#"grpc_method="FindOne""#,
                r#"grpc_code="OK""#,
            ],
        );
        // Round-robin: 10 each, give or take the odd health check.
        assert!(served >= 5.0, "{} served {served} of 20", instance.name);
    }

    let mut system = system;
    system.user_services[0].kill();

    // Reads and orders (whose saga debits through user-service) go on.
    for i in 0..20 {
        assert_eq!(
            system.get_user(&user).await.0,
            200,
            "read {i} after the kill"
        );
    }
    for i in 0..5 {
        let (status, body) = system.place_order(&user, "MUG-STEEL", 1).await;
        assert_eq!(status, 201, "order {i} after the kill: {body}");
    }
    // /health still reports user-service up: one instance serves.
    system.wait_healthy(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn order_service_replicas_compete_for_orders_and_handle_each_once() {
    let system = System::start(Options {
        order_services: 2,
        ..Options::default()
    })
    .await;
    let users = [
        system.user_with_credit(100_000).await,
        system.user_with_credit(100_000).await,
    ];

    // Concurrent requests, so both replicas have deliveries to take.
    let orders = 40;
    let mut placed = tokio::task::JoinSet::new();
    for i in 0..orders {
        let (gateway, user) = (system.client(), users[i % 2].clone());
        placed.spawn(async move { gateway.place_order(&user, "MUG-STEEL", 1).await });
    }
    for (status, body) in placed.join_all().await {
        assert_eq!(status, 201, "{body}");
    }

    let mut handled = 0.0;
    for replica in &system.order_services {
        let count = counter(
            &replica.metrics().await,
            "message_handling_duration_seconds_count",
            &[r#"pattern="create_order""#],
        );
        assert!(count > 0.0, "{} handled no order", replica.name);
        handled += count;
    }
    // Each order handled by exactly one replica, exactly once.
    assert_eq!(handled, f64::from(u32::try_from(orders).unwrap()));
    let orders_db = system.db("orders").await;
    let confirmed = scalar(
        &orders_db,
        "SELECT count(*) FROM orders WHERE status = 'confirmed'",
    )
    .await;
    assert_eq!(confirmed, i64::try_from(orders).unwrap());
    let users_db = system.db("users").await;
    let debits = scalar(
        &users_db,
        "SELECT count(*) FROM credit_entries WHERE kind = 'debit'",
    )
    .await;
    assert_eq!(
        debits,
        i64::try_from(orders).unwrap(),
        "one debit per order"
    );
}
