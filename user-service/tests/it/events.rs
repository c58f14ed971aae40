//! user_created goes through the transactional outbox: written with the user,
//! published by the relay to the events exchange in the NestJS envelope,
//! held back while the broker is away and published when it returns.

use std::time::Duration;

use contracts::user as pb;
use lapin::{
    Connection, ConnectionProperties, ExchangeKind,
    options::{
        BasicGetOptions, ExchangeDeclareOptions, ExchangeDeleteOptions, QueueBindOptions,
        QueueDeclareOptions, QueueDeleteOptions,
    },
    types::FieldTable,
};
use messaging::{AmqpConfig, RpcClient, outbox::Relay};
use serde_json::Value;
use sqlx::PgPool;

use crate::helpers::TestApp;

fn amqp_url() -> String {
    std::env::var("AMQP_URL").unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

async fn pending(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        .fetch_one(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrator = "user_service::MIGRATOR")]
async fn user_created_is_published_once_the_broker_is_back(pool: PgPool) {
    let mut app = TestApp::spawn(pool.clone()).await;
    // This test's own exchange, bound to a queue it reads from.
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
    let queue = channel
        .queue_declare(
            "".into(),
            QueueDeclareOptions {
                exclusive: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
    let queue = queue.name().as_str().to_owned();
    channel
        .queue_bind(
            queue.as_str().into(),
            exchange.as_str().into(),
            "user_created".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();

    // The user commits with its event; nobody publishes it yet.
    let user = app
        .users
        .create(pb::CreateUser {
            name: "Ada".into(),
            email: "ada@example.com".into(),
        })
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
        RpcClient::publisher(AmqpConfig::new(dead_url), &exchange, Duration::from_secs(1)),
        Duration::from_secs(1),
        Default::default(),
    );
    assert!(down.publish_pending().await.is_err());
    assert_eq!(pending(&pool).await, 1);

    // The broker is back: published once, marked, and delivered.
    let publisher = RpcClient::publisher(
        AmqpConfig::new(amqp_url()),
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
    assert_eq!(up.publish_pending().await.unwrap(), 1);
    assert_eq!(
        up.publish_pending().await.unwrap(),
        0,
        "nothing published twice"
    );
    assert_eq!(pending(&pool).await, 0);

    let message = channel
        .basic_get(queue.as_str().into(), BasicGetOptions { no_ack: true })
        .await
        .unwrap()
        .expect("the event reached the bound queue");
    let body: Value = serde_json::from_slice(&message.delivery.data).unwrap();
    assert_eq!(body["pattern"], "user_created");
    assert_eq!(body["data"]["user_id"], user.id);
    assert_eq!(body["data"]["email"], "ada@example.com");
    assert_eq!(body["data"]["schema_version"], 1);
    let event_id = body["data"]["event_id"].as_str().unwrap();
    assert_eq!(
        message
            .delivery
            .properties
            .message_id()
            .as_ref()
            .unwrap()
            .as_str(),
        event_id
    );

    let _ = channel
        .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
        .await;
    let _ = channel
        .exchange_delete(exchange.as_str().into(), ExchangeDeleteOptions::default())
        .await;
}

#[sqlx::test(migrator = "user_service::MIGRATOR")]
async fn a_user_that_is_not_created_emits_no_event(pool: PgPool) {
    let mut app = TestApp::spawn(pool.clone()).await;
    app.users
        .create(pb::CreateUser {
            name: "Ada".into(),
            email: "ada@example.com".into(),
        })
        .await
        .unwrap();

    let duplicate = app
        .users
        .create(pb::CreateUser {
            name: "Ada".into(),
            email: "ADA@example.com".into(),
        })
        .await;

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
    config.amqp_url = amqp_url();
    config.events_exchange = Some(exchange.clone());
    let mut app = TestApp::spawn_config(pool, config).await;

    let user = app
        .users
        .create(pb::CreateUser {
            name: "Grace".into(),
            email: "grace@example.com".into(),
        })
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
    let _ = channel
        .exchange_delete(exchange.as_str().into(), ExchangeDeleteOptions::default())
        .await;
}

#[sqlx::test(migrator = "user_service::MIGRATOR")]
async fn two_relays_share_the_outbox_and_publish_each_event_once(pool: PgPool) {
    const EVENTS: usize = 150;
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
    let queue = channel
        .queue_declare(
            "".into(),
            QueueDeclareOptions {
                exclusive: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap()
        .name()
        .as_str()
        .to_owned();
    channel
        .queue_bind(
            queue.as_str().into(),
            exchange.as_str().into(),
            "#".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    let mut tx = pool.begin().await.unwrap();
    for i in 0..EVENTS {
        messaging::outbox::enqueue(&mut tx, "user_created", serde_json::json!({"n": i}))
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();

    // Two replicas' relays drain the same table at the same time.
    let relay = || async {
        let publisher = RpcClient::publisher(
            AmqpConfig::new(amqp_url()),
            &exchange,
            Duration::from_secs(5),
        );
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
    let mut ids = std::collections::HashSet::new();
    while let Some(message) = channel
        .basic_get(queue.as_str().into(), BasicGetOptions { no_ack: true })
        .await
        .unwrap()
    {
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
    let _ = channel
        .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
        .await;
    let _ = channel
        .exchange_delete(exchange.as_str().into(), ExchangeDeleteOptions::default())
        .await;
}
