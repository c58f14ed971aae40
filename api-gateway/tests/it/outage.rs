//! Orders placed while the broker is unreachable for the outbox relay: their
//! events wait in the outbox and all arrive once it is back — none lost —
//! and publishing them all a second time adds no notification — none
//! duplicated.

use std::time::Duration;

use contracts::orders::{CreateOrder, OrderLine, OrderStatus};
use messaging::{AmqpConfig, EventPublisher, outbox::Relay};
use order_service::{new_order::NewOrder, placing, saga::Saga, users::UserClient};
use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::TestApp;

const ORDERS: usize = 5;

#[sqlx::test(migrator = "order_service::MIGRATOR")]
async fn events_recorded_during_a_broker_outage_all_arrive_exactly_once(pool: PgPool) {
    // notification-service consumes this test's exchange; the relays of
    // user-service and order-service are replaced by the ones below.
    let app = TestApp::builder(pool.clone())
        .with_orders()
        .with_notifications()
        .without_relays()
        .start()
        .await;
    let user = Uuid::now_v7();
    sqlx::query("INSERT INTO users (id, name, email, balance_cents) VALUES ($1, 'Ada', 'ada@example.com', 100000)")
        .bind(user)
        .execute(app.users_db())
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO credit_entries (id, user_id, kind, amount_cents, idempotency_key) VALUES ($1, $2, 'top_up', 100000, 'seed')",
    )
    .bind(Uuid::now_v7())
    .bind(user)
    .execute(app.users_db())
    .await
    .unwrap();

    // Orders are placed and settled; their events land in the outbox.
    let mut config = order_service::Config::new("postgres://unused", test_support::amqp_url());
    config.user_service_url = app.config.user_service_url.clone();
    config.tls = crate::helpers::pki().tls(contracts::identity::ORDER_SERVICE);
    let saga = Saga {
        pool: pool.clone(),
        users: UserClient::connect_lazy(&config).await.unwrap(),
        attempts: 2,
        retry_delay: Duration::from_millis(10),
        outbox: Default::default(),
    };
    for _ in 0..ORDERS {
        let request = CreateOrder {
            user_id: user,
            items: vec![OrderLine {
                sku: "STICKER-PACK".into(),
                quantity: 1,
            }],
            idempotency_key: None,
        };
        let new = NewOrder::parse(request, &Uuid::now_v7().to_string()).unwrap();
        let order = placing::place(&pool, &saga.outbox, new).await.unwrap();
        let order = saga.drive(order.id).await.unwrap();
        assert_eq!(order.status, OrderStatus::Confirmed);
    }

    // The broker is unreachable: nothing is published, nothing is lost.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead = format!("amqp://guest:guest@{}/%2f", closed.local_addr().unwrap());
    drop(closed);
    let exchange = app.events_exchange.clone().unwrap();
    let down = Relay::new(
        pool.clone(),
        EventPublisher::start(AmqpConfig::new(dead), &exchange, Duration::from_secs(1)),
        Duration::from_secs(1),
        Default::default(),
    );
    assert!(down.publish_pending().await.is_err());
    let pending: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(pending, ORDERS as i64);

    // The broker is back: every event goes, once.
    let publisher = EventPublisher::start(
        AmqpConfig::new(test_support::amqp_url()),
        &exchange,
        Duration::from_secs(5),
    );
    assert!(publisher.wait_connected(Duration::from_secs(5)).await);
    let up = Relay::new(
        pool.clone(),
        publisher,
        Duration::from_secs(1),
        Default::default(),
    );
    assert_eq!(up.publish_pending().await.unwrap(), ORDERS);
    let count = |expected: usize| {
        let app = &app;
        async move {
            for _ in 0..250 {
                let list: serde_json::Value =
                    app.get_json(&format!("/users/{user}/notifications")).await;
                let n = list["notifications"].as_array().unwrap().len();
                if n >= expected {
                    return n;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            0
        }
    };
    assert_eq!(count(ORDERS).await, ORDERS);

    // Every event published a second time (as after a relay crash between
    // the broker's confirm and marking the rows): the inbox drops them all.
    sqlx::query("UPDATE outbox SET published_at = NULL")
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(up.publish_pending().await.unwrap(), ORDERS);
    // notification-service takes one delivery at a time here, so once a
    // request sent after the duplicates is answered, they were all handled.
    let probe = app.url(&format!("/users/{}/notifications", Uuid::now_v7()));
    assert_eq!(app.http.get(probe).send().await.unwrap().status(), 200);
    let processed: i64 = sqlx::query_scalar("SELECT count(*) FROM processed_events")
        .fetch_one(app.notifications_db())
        .await
        .unwrap();
    assert_eq!(processed, ORDERS as i64);
    assert_eq!(
        count(ORDERS).await,
        ORDERS,
        "a duplicate event made a second notification"
    );
}
