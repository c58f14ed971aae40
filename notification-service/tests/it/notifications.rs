use contracts::identity::{Caller, Role};
use std::time::Duration;

use lapin::{
    Connection, ConnectionProperties,
    options::{BasicGetOptions, ExchangeDeleteOptions, QueueDeleteOptions},
    types::FieldTable,
};
use messaging::{AmqpConfig, Client, EventPublisher, Link, wire};
use notification_service::{App, Config};
use serde_json::{Value, json};
use sqlx::PgPool;
use test_support::amqp_url;
use tokio::sync::oneshot;
use uuid::Uuid;

struct TestApp {
    admin_addr: std::net::SocketAddr,
    events: EventPublisher,
    requests: Client,
    queue: String,
    events_queue: String,
    exchange: String,
    stop: (
        oneshot::Sender<()>,
        tokio::task::JoinHandle<anyhow::Result<()>>,
    ),
}

impl TestApp {
    async fn spawn(pool: PgPool) -> Self {
        let mut config = Config::new("postgres://unused", amqp_url());
        config.queue = format!("test.notifications.{}", Uuid::new_v4());
        config.events_queue = format!("test.notification-events.{}", Uuid::new_v4());
        config.events_exchange = format!("test.events.{}", Uuid::new_v4());
        // The tests publish events as the broker's guest.
        config.publishers.user_events = "guest".into();
        config.publishers.order_events = "guest".into();
        // …and send requests as guest too (the gateway's account in a
        // deployment).
        config.serving.callers = vec!["guest".into()];
        let (queue, events_queue, exchange) = (
            config.queue.clone(),
            config.events_queue.clone(),
            config.events_exchange.clone(),
        );
        let (tx, rx) = oneshot::channel::<()>();
        let app = App::with_pool(config, pool.clone()).await.unwrap();
        let admin_addr = app.admin_addr();
        let task = tokio::spawn(app.run_until(async {
            let _ = rx.await;
        }));
        let events = EventPublisher::start(
            AmqpConfig::new(amqp_url()),
            &exchange,
            Duration::from_secs(5),
        );
        // Requests as an admin, who may read anyone's notifications.
        let requests = Client::amqp(
            &Link::start(AmqpConfig::new(amqp_url())),
            &queue,
            Duration::from_secs(10),
        )
        .on_behalf_of(Caller {
            user_id: uuid::Uuid::now_v7(),
            role: Role::Admin,
        });
        assert!(events.wait_connected(Duration::from_secs(5)).await);
        assert!(requests.wait_connected(Duration::from_secs(5)).await);
        let app = Self {
            admin_addr,
            events,
            requests,
            queue,
            events_queue,
            exchange,
            stop: (tx, task),
        };
        // The events queue is bound once its consumer is connected: until
        // then an event would be dropped by the exchange. Ready means both
        // consumers are (bindings are declared first).
        for _ in 0..250 {
            if platform::admin::probe(admin_addr, "/readyz").await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        app.notifications(Uuid::now_v7()).await;
        app
    }

    async fn publish(&self, name: &str, data: Value) {
        let event_id = data["event_id"].as_str().unwrap().to_owned();
        let body = wire::encode(name, &data, None).unwrap();
        self.events
            .publish(name, &body, &event_id, FieldTable::default())
            .await
            .unwrap();
    }

    async fn notifications(&self, user: Uuid) -> Vec<Value> {
        let list = self
            .requests
            .send_value("get_notifications", json!({"user_id": user}))
            .await
            .unwrap();
        list["notifications"].as_array().unwrap().clone()
    }

    /// Polls (bounded) until the user has `n` notifications.
    async fn wait_for(&self, user: Uuid, n: usize) -> Vec<Value> {
        for _ in 0..200 {
            let list = self.notifications(user).await;
            if list.len() >= n {
                return list;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("{n} notifications never arrived for {user}");
    }

    async fn cleanup(self) {
        let (stop, stopped) = self.stop;
        let _ = stop.send(());
        let _ = tokio::time::timeout(Duration::from_secs(15), stopped).await;
        let connection = Connection::connect(&amqp_url(), ConnectionProperties::default())
            .await
            .unwrap();
        let channel = connection.create_channel().await.unwrap();
        let queues = [&self.queue, &self.events_queue]
            .into_iter()
            .flat_map(|q| [q.clone(), format!("{q}.dead-letter")]);
        for queue in queues {
            let _ = channel
                .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
                .await;
        }
        let _ = channel
            .exchange_delete(
                self.exchange.as_str().into(),
                ExchangeDeleteOptions::default(),
            )
            .await;
    }
}

fn event(body: Value) -> Value {
    let mut event = json!({"event_id": Uuid::now_v7(), "occurred_at": "2026-11-27T00:00:00.000Z", "schema_version": 1});
    event
        .as_object_mut()
        .unwrap()
        .extend(body.as_object().unwrap().clone());
    event
}

#[sqlx::test(migrator = "notification_service::MIGRATOR")]
async fn each_event_becomes_one_notification_addressed_to_the_user(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let user = Uuid::now_v7();
    let order = Uuid::now_v7();

    app.publish(
        "user_created",
        event(json!({"user_id": user, "name": "Ada", "email": "ada@example.com"})),
    )
    .await;
    // Events from different services may arrive in any order; the user's
    // email is known once user_created is processed (before that, orders are
    // addressed to the user id — see notifications::record).
    app.wait_for(user, 1).await;
    app.publish(
        "order_confirmed",
        event(json!({"order_id": order, "user_id": user, "total_cents": 2500})),
    )
    .await;
    app.publish("order_rejected", event(json!({"order_id": Uuid::now_v7(), "user_id": user, "total_cents": 4999, "reason": "insufficient credit"}))).await;
    let list = app.wait_for(user, 3).await;

    let mut events: Vec<&str> = list.iter().map(|n| n["event"].as_str().unwrap()).collect();
    events.sort_unstable();
    assert_eq!(
        events,
        ["order_confirmed", "order_rejected", "user_created"]
    );
    assert!(
        list.iter().all(|n| n["recipient"] == "ada@example.com"),
        "{list:?}"
    );
    let confirmed = list
        .iter()
        .find(|n| n["event"] == "order_confirmed")
        .unwrap();
    assert!(
        confirmed["body"].as_str().unwrap().contains("25.00"),
        "{confirmed}"
    );
    app.cleanup().await;
}

#[sqlx::test(migrator = "notification_service::MIGRATOR")]
async fn the_same_event_delivered_twice_makes_one_notification(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let user = Uuid::now_v7();
    let twice = event(json!({"order_id": Uuid::now_v7(), "user_id": user, "total_cents": 100}));

    app.publish("order_confirmed", twice.clone()).await;
    app.publish("order_confirmed", twice).await;
    // A later, different event: once it is recorded, both copies were seen
    // (deliveries run concurrently, so wait for the processed count).
    app.publish(
        "order_rejected",
        event(
            json!({"order_id": Uuid::now_v7(), "user_id": user, "total_cents": 1, "reason": "x"}),
        ),
    )
    .await;
    app.wait_for(user, 2).await;
    for _ in 0..200 {
        let processed: i64 = sqlx::query_scalar("SELECT count(*) FROM processed_events")
            .fetch_one(&pool)
            .await
            .unwrap();
        let acked = app.notifications(user).await.len();
        if processed == 2 && acked == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let list = app.notifications(user).await;
    assert_eq!(list.len(), 2, "{list:?}");
    let notifications: i64 = sqlx::query_scalar("SELECT count(*) FROM notifications")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(notifications, 2);
    app.cleanup().await;
}

#[sqlx::test(migrator = "notification_service::MIGRATOR")]
async fn a_malformed_event_is_dead_lettered_and_the_next_one_served(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let user = Uuid::now_v7();

    app.publish(
        "order_confirmed",
        json!({"event_id": Uuid::now_v7(), "user_id": "not-a-uuid"}),
    )
    .await;
    app.publish(
        "user_created",
        event(json!({"user_id": user, "name": "Ada", "email": "ada@example.com"})),
    )
    .await;
    app.wait_for(user, 1).await;

    let connection = Connection::connect(&amqp_url(), ConnectionProperties::default())
        .await
        .unwrap();
    let channel = connection.create_channel().await.unwrap();
    let mut dead = None;
    for _ in 0..200 {
        dead = channel
            .basic_get(
                format!("{}.dead-letter", app.events_queue).as_str().into(),
                BasicGetOptions { no_ack: true },
            )
            .await
            .unwrap();
        if dead.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let dead = dead.expect("the malformed event was dead-lettered");
    assert!(String::from_utf8_lossy(&dead.delivery.data).contains("not-a-uuid"));
    app.cleanup().await;
}

#[sqlx::test(migrator = "notification_service::MIGRATOR")]
async fn the_admin_port_reports_ready_only_while_database_and_broker_answer(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;

    // spawn() got a reply through the queue, so the consumer is connected.
    platform::admin::probe(app.admin_addr, "/livez")
        .await
        .unwrap();
    platform::admin::probe(app.admin_addr, "/readyz")
        .await
        .unwrap();
    // Prometheus metrics on the same port: the request spawn() sent through
    // this queue was counted (just after its reply went out: polled, bounded).
    let acked = format!(r#"messages_total{{queue="{}",outcome="acked"}}"#, app.queue);
    let mut metrics = String::new();
    for _ in 0..50 {
        let (status, body) = platform::admin::fetch(app.admin_addr, "/metrics")
            .await
            .unwrap();
        assert!(status.starts_with("HTTP/1.1 200"), "{status}");
        metrics = body;
        if metrics.contains(&acked) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(metrics.contains(&acked), "{acked} not in {metrics}");

    pool.close().await;
    let not_ready = platform::admin::probe(app.admin_addr, "/readyz").await;
    assert!(not_ready.unwrap_err().to_string().contains("503"));
    platform::admin::probe(app.admin_addr, "/livez")
        .await
        .unwrap();
    app.cleanup().await;
}

#[sqlx::test(migrator = "notification_service::MIGRATOR")]
async fn a_customer_reads_only_their_own_notifications(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let (ada, bob) = (Uuid::now_v7(), Uuid::now_v7());
    app.publish(
        "user_created",
        event(json!({"user_id": bob, "name": "Bob", "email": "bob@example.com"})),
    )
    .await;
    app.wait_for(bob, 1).await;
    let as_ada = app.requests.on_behalf_of(Caller {
        user_id: ada,
        role: Role::Customer,
    });
    let anonymous = Client::amqp(
        &Link::start(AmqpConfig::new(amqp_url())),
        &app.queue,
        Duration::from_secs(10),
    );
    assert!(anonymous.wait_connected(Duration::from_secs(5)).await);

    let own = as_ada
        .send_value("get_notifications", json!({"user_id": ada}))
        .await;
    let bobs = as_ada
        .send_value("get_notifications", json!({"user_id": bob}))
        .await;
    let nobodys = anonymous
        .send_value("get_notifications", json!({"user_id": bob}))
        .await;

    assert_eq!(own.unwrap(), json!({"notifications": []}));
    let code = |result: Result<Value, messaging::RpcError>| match result {
        Err(messaging::RpcError::Remote(err)) => err["code"].clone(),
        other => panic!("expected a remote error, got {other:?}"),
    };
    assert_eq!(code(bobs), "NOT_FOUND");
    assert_eq!(code(nobodys), "UNAUTHENTICATED");
    app.cleanup().await;
}
