//! user_created goes through the transactional outbox: written with the user,
//! published by the relay to the events exchange in the NestJS envelope,
//! held back while the broker is away and published when it returns.

use std::{collections::HashSet, time::Duration};

use contracts::events::UserCreated;
use contracts::user as pb;
use lapin::{
    Channel, Connection, ConnectionProperties, ExchangeKind,
    message::BasicGetMessage,
    options::{
        BasicGetOptions, ExchangeDeclareOptions, ExchangeDeleteOptions, QueueBindOptions,
        QueueDeclareOptions, QueueDeleteOptions,
    },
    types::FieldTable,
};
use messaging::{
    AmqpConfig, EventPublisher,
    outbox::{Outbox, Relay},
};
use serde_json::Value;
use sqlx::PgPool;
use test_support::amqp_url;

use crate::helpers::TestApp;

async fn pending(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        .fetch_one(pool)
        .await
        .unwrap()
}

/// This test's own events exchange, and an exclusive queue bound to it that
/// the test reads from.
struct Tap {
    exchange: String,
    queue: String,
    channel: Channel,
    _connection: Connection,
}

impl Tap {
    async fn new(routing_key: &str) -> Self {
        let exchange = format!("test.events.{}", uuid::Uuid::new_v4());
        let connection = Connection::connect(&amqp_url(), ConnectionProperties::default())
            .await
            .unwrap();
        let channel = connection.create_channel().await.unwrap();
        let durable = ExchangeDeclareOptions {
            durable: true,
            ..ExchangeDeclareOptions::default()
        };
        channel
            .exchange_declare(
                exchange.as_str().into(),
                ExchangeKind::Topic,
                durable,
                FieldTable::default(),
            )
            .await
            .unwrap();
        let exclusive = QueueDeclareOptions {
            exclusive: true,
            ..QueueDeclareOptions::default()
        };
        let queue = channel
            .queue_declare("".into(), exclusive, FieldTable::default())
            .await
            .unwrap()
            .name()
            .as_str()
            .to_owned();
        channel
            .queue_bind(
                queue.as_str().into(),
                exchange.as_str().into(),
                routing_key.into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .unwrap();
        Self {
            exchange,
            queue,
            channel,
            _connection: connection,
        }
    }

    fn publisher(&self, url: String) -> EventPublisher {
        EventPublisher::start(AmqpConfig::new(url), &self.exchange, Duration::from_secs(5))
    }

    async fn next(&self) -> Option<BasicGetMessage> {
        self.channel
            .basic_get(self.queue.as_str().into(), BasicGetOptions { no_ack: true })
            .await
            .unwrap()
    }

    async fn delete(self) {
        let _ = self
            .channel
            .queue_delete(self.queue.as_str().into(), QueueDeleteOptions::default())
            .await;
        delete_exchange(&self.exchange).await;
    }
}

async fn delete_exchange(exchange: &str) {
    let connection = Connection::connect(&amqp_url(), ConnectionProperties::default())
        .await
        .unwrap();
    let channel = connection.create_channel().await.unwrap();
    let _ = channel
        .exchange_delete(exchange.into(), ExchangeDeleteOptions::default())
        .await;
}

fn create(name: &str, email: &str) -> pb::CreateUser {
    pb::CreateUser {
        name: name.into(),
        email: email.into(),
        password: crate::helpers::PASSWORD.into(),
    }
}

#[sqlx::test(migrator = "user_service::MIGRATOR")]
async fn user_created_is_published_once_the_broker_is_back(pool: PgPool) {
    let mut app = TestApp::spawn(pool.clone()).await;
    let tap = Tap::new("user_created").await;

    // The user commits with its event; nobody publishes it yet.
    let user = app
        .users
        .create(create("Ada", "ada@example.com"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(pending(&pool).await, 1);

    // The broker is unreachable: the event waits in the outbox.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead_url = format!("amqp://guest:guest@{}/%2f", closed.local_addr().unwrap());
    drop(closed);
    let down = Relay::new(
        pool.clone(),
        tap.publisher(dead_url),
        Duration::from_secs(1),
        Default::default(),
    );
    assert!(down.publish_pending().await.is_err());
    assert_eq!(pending(&pool).await, 1);

    // The broker is back: published once, marked, and delivered.
    let publisher = tap.publisher(amqp_url());
    assert!(publisher.wait_connected(Duration::from_secs(5)).await);
    let up = Relay::new(
        pool.clone(),
        publisher,
        Duration::from_secs(1),
        Default::default(),
    );
    assert_eq!(up.publish_pending().await.unwrap(), 1);
    assert_eq!(
        up.publish_pending().await.unwrap(),
        0,
        "nothing published twice"
    );
    assert_eq!(pending(&pool).await, 0);

    let message = tap.next().await.expect("the event reached the bound queue");
    let body: Value = serde_json::from_slice(&message.delivery.data).unwrap();
    assert_eq!(body["pattern"], "user_created");
    assert_eq!(body["data"]["user_id"], user.id);
    assert_eq!(body["data"]["email"], "ada@example.com");
    assert_eq!(body["data"]["schema_version"], 1);
    let event_id = body["data"]["event_id"].as_str().unwrap();
    let message_id = message
        .delivery
        .properties
        .message_id()
        .as_ref()
        .unwrap()
        .as_str()
        .to_owned();
    assert_eq!(message_id, event_id);
    tap.delete().await;
}

#[sqlx::test(migrator = "user_service::MIGRATOR")]
async fn a_user_that_is_not_created_emits_no_event(pool: PgPool) {
    let mut app = TestApp::spawn(pool.clone()).await;
    app.users
        .create(create("Ada", "ada@example.com"))
        .await
        .unwrap();

    let duplicate = app.users.create(create("Ada", "ADA@example.com")).await;

    assert!(duplicate.is_err());
    assert_eq!(
        pending(&pool).await,
        1,
        "the refused sign-up rolled its event back"
    );
}

#[sqlx::test(migrator = "user_service::MIGRATOR")]
async fn a_nestjs_event_pattern_handler_receives_user_created(pool: PgPool) {
    // A NestJS microservice consuming our events: its own queue bound to the
    // exchange, an @EventPattern('user_created') handler.
    let exchange = format!("test.events.{}", uuid::Uuid::new_v4());
    let queue = format!("test.nestjs.{}", uuid::Uuid::new_v4());
    let mut listener =
        test_support::nestjs::Server::start(&queue, "user_created", Some(&exchange)).await;
    let mut config = user_service::Config::new("127.0.0.1:0".parse().unwrap());
    config.amqp.url = amqp_url().into();
    config.events_exchange = Some(exchange.clone());
    let mut app = TestApp::spawn_config(pool, config).await;

    let user = app
        .users
        .create(create("Grace", "grace@example.com"))
        .await
        .unwrap()
        .into_inner();
    let event = listener.next_event().await;

    assert_eq!(event["pattern"], "user_created");
    assert_eq!(event["data"]["user_id"], user.id);
    assert_eq!(event["data"]["email"], "grace@example.com");
    listener.stop().await;
    let connection = Connection::connect(&amqp_url(), ConnectionProperties::default())
        .await
        .unwrap();
    let channel = connection.create_channel().await.unwrap();
    let _ = channel
        .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
        .await;
    delete_exchange(&exchange).await;
}

#[sqlx::test(migrator = "user_service::MIGRATOR")]
async fn two_relays_share_the_outbox_and_publish_each_event_once(pool: PgPool) {
    const EVENTS: usize = 150;
    let tap = Tap::new("#").await;
    let mut tx = Outbox::new().begin(&pool).await.unwrap();
    for i in 0..EVENTS {
        let event = UserCreated {
            user_id: uuid::Uuid::now_v7(),
            name: format!("user {i}"),
            email: format!("user{i}@example.com"),
        };
        tx.record(event).await.unwrap();
    }
    tx.commit().await.unwrap();

    // Two replicas' relays drain the same table at the same time.
    let relay = || async {
        let publisher = tap.publisher(amqp_url());
        assert!(publisher.wait_connected(Duration::from_secs(5)).await);
        let relay = Relay::new(
            pool.clone(),
            publisher,
            Duration::from_secs(1),
            Default::default(),
        );
        let mut published = 0;
        loop {
            match relay.publish_pending().await.unwrap() {
                0 => return published,
                n => published += n,
            }
        }
    };
    let (a, b) = tokio::join!(relay(), relay());

    assert_eq!(a + b, EVENTS);
    assert_eq!(pending(&pool).await, 0);
    let mut ids = HashSet::new();
    while let Some(message) = tap.next().await {
        let id = message
            .delivery
            .properties
            .message_id()
            .as_ref()
            .unwrap()
            .as_str()
            .to_owned();
        assert!(ids.insert(id), "an event was published twice");
    }
    assert_eq!(ids.len(), EVENTS);
    tap.delete().await;
}
