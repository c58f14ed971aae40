//! Graceful shutdown under load: SIGTERM to order-service in the middle of a
//! burst of orders. It stops taking deliveries, finishes and acks those in
//! flight, and exits 0; the rest wait in the queue for its successor.
//! Every order a client was told about ends confirmed or rejected, and
//! nothing is left pending or unacked.

use std::{collections::HashMap, time::Duration};

use system_tests::{Options, System};
use tokio::sync::Semaphore;

const ORDERS: usize = 150;
const CLIENTS: usize = 16;

#[tokio::test]
async fn sigterm_mid_burst_loses_no_order() {
    let mut system = System::start(Options {
        env: vec![("SHUTDOWN_GRACE_PERIOD".into(), "10s".into())],
        ..Options::default()
    })
    .await;
    let initial = system.stock().await;
    let mut users = Vec::new();
    for i in 0..10 {
        // Mixed credit: some orders are rejected, so compensation runs too.
        users.push(
            system
                .user_with_credit(if i % 3 == 0 { 2_000 } else { 1_000_000 })
                .await,
        );
    }

    let clients = std::sync::Arc::new(Semaphore::new(CLIENTS));
    let mut burst = tokio::task::JoinSet::new();
    for i in 0..ORDERS {
        let permit = clients.clone().acquire_owned().await.unwrap();
        let (gateway, user) = (system.client(), users[i % users.len()].clone());
        burst.spawn(async move {
            let _permit = permit;
            gateway.place_order(&user, "MUG-STEEL", 1).await
        });
        if i == ORDERS / 3 {
            // Mid-burst: deliveries are in flight and more are queued.
            let order_service = &mut system.order_services[0];
            order_service.signal("TERM");
            let exit = order_service.wait_exit(Duration::from_secs(15)).await;
            assert!(
                exit.success(),
                "order-service exited with {exit}; log:\n{}",
                order_service.log()
            );
            assert!(
                order_service.log().contains("order-service stopped"),
                "no clean stop in the log:\n{}",
                order_service.log()
            );
            order_service.start();
            order_service.wait_ready(Duration::from_secs(15)).await;
        }
    }
    let answers = burst.join_all().await;

    let mut by_status: HashMap<u16, usize> = HashMap::new();
    for (status, _) in &answers {
        *by_status.entry(*status).or_default() += 1;
    }
    // The restart is quick, so requests queued meanwhile are served: each
    // is confirmed (201) or rejected for credit (409), never lost.
    assert_eq!(
        by_status.get(&201).copied().unwrap_or(0) + by_status.get(&409).copied().unwrap_or(0),
        ORDERS,
        "answers: {by_status:?}; {}",
        system.logs_hint()
    );

    let orders_db = system.db("orders").await;
    for (status, body) in &answers {
        let id = body["id"]
            .as_str()
            .or_else(|| body["order_id"].as_str())
            .unwrap();
        let state: String = sqlx::query_scalar("SELECT status FROM orders WHERE id = $1::uuid")
            .bind(id)
            .fetch_one(&orders_db)
            .await
            .unwrap();
        let expected = if *status == 201 {
            "confirmed"
        } else {
            "rejected"
        };
        assert_eq!(state, expected, "order {id} answered {status}");
    }
    let in_db: i64 = sqlx::query_scalar("SELECT count(*) FROM orders")
        .fetch_one(&orders_db)
        .await
        .unwrap();
    assert_eq!(
        in_db,
        i64::try_from(ORDERS).unwrap(),
        "one order per request"
    );

    // Nothing left in the queue; settled, and the invariants hold (nothing
    // dead-lettered, money and stock match the orders).
    assert_eq!(
        system.queue_depth(&system.orders_queue).await,
        0,
        "left in the queue"
    );
    system.wait_settled(Duration::from_secs(15)).await;
    system.assert_invariants(&initial, (0, 0)).await;
}
