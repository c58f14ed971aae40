//! Events run only when they came through the events exchange from the
//! account that owns them (`Router::event_with`): the same envelope
//! published straight to the queue, without a `user_id`, or by another
//! account is dead-lettered with the reason, and RabbitMQ itself refuses a
//! `user_id` that is not the publisher's login.

use std::time::Duration;

use lapin::{BasicProperties, options::BasicPublishOptions};
use messaging::{EventPublisher, HandlerError, Message, REASON_HEADER, wire};
use serde_json::{Value, json};

use crate::helpers::{Bus, Counter, amqp_url};

const EVENT: &str = "user_created";

async fn counted(counter: Counter, _: Message) -> Result<Value, HandlerError> {
    counter.bump();
    Ok(Value::Null)
}

/// A bus whose queue is bound to its own events exchange for [`EVENT`],
/// handled only when published by `publisher`.
async fn bus(publisher: &str, runs: &Counter) -> (Bus, String) {
    let mut bus = Bus::new().await;
    let exchange = format!("test.events.{}", uuid::Uuid::new_v4());
    bus.config.bindings = vec![(exchange.clone(), EVENT.to_owned())];
    let router = messaging::Router::new()
        .route("echo", |m| async move { Ok(m.data) })
        .event_with(EVENT, publisher, runs, counted);
    bus.start_server(router);
    // Bound once it answers: the binding is declared before consuming.
    let client = bus.client(Duration::from_secs(5)).await;
    let _: Value = client.send("echo", &json!(1)).await.unwrap();
    (bus, exchange)
}

fn body() -> Vec<u8> {
    wire::encode(
        EVENT,
        &json!({"user_id": "victim", "email": "attacker@example.com"}),
        None,
    )
    .unwrap()
}

/// Publishes [`body`] as [`EVENT`] through `exchange` the way an outbox
/// relay does: `EventPublisher::publish`, as the bus's account.
async fn publish_through(bus: &Bus, exchange: &str) {
    let publisher =
        EventPublisher::start(bus.config.amqp.clone(), exchange, Duration::from_secs(5));
    assert!(publisher.wait_connected(Duration::from_secs(5)).await);
    publisher
        .publish(EVENT, &body(), "e1", Default::default())
        .await
        .unwrap();
    publisher.close();
}

fn reason(message: &lapin::message::BasicGetMessage) -> String {
    let headers = message.delivery.properties.headers().clone().unwrap();
    match headers.inner().get(REASON_HEADER).unwrap() {
        lapin::types::AMQPValue::LongString(s) => String::from_utf8_lossy(s.as_bytes()).into(),
        other => panic!("unexpected header {other:?}"),
    }
}

#[tokio::test]
async fn an_event_from_its_publisher_through_the_exchange_runs() {
    let runs = Counter::default();
    let (bus, exchange) = bus("guest", &runs).await;
    // `publish` stamps the account of its URL (guest) as the user_id.
    publish_through(&bus, &exchange).await;

    for _ in 0..500 {
        if runs.get() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(runs.get(), 1);
    assert_eq!(bus.depth(&bus.config.dead_letter_queue).await, 0);
    bus.cleanup().await;
}

#[tokio::test]
async fn an_event_published_straight_to_the_queue_is_dead_lettered() {
    let runs = Counter::default();
    let (bus, _exchange) = bus("guest", &runs).await;

    // Anyone who may publish requests may publish to any queue through the
    // default exchange.
    bus.publish_raw(&body(), BasicProperties::default()).await;

    let dead = bus.next_dead_letter().await;
    assert!(
        reason(&dead).contains("came through the default exchange"),
        "{}",
        reason(&dead)
    );
    assert_eq!(dead.delivery.data, body(), "kept byte for byte");
    assert_eq!(runs.get(), 0);
    bus.cleanup().await;
}

#[tokio::test]
async fn an_event_from_another_account_or_none_is_dead_lettered() {
    let runs = Counter::default();
    let (bus, exchange) = bus("user-service", &runs).await;

    // Through the exchange, but published as guest…
    publish_through(&bus, &exchange).await;
    let dead = bus.next_dead_letter().await;
    assert!(
        reason(&dead).contains(r#"carries user_id "guest"; only "user-service" publishes it"#),
        "{}",
        reason(&dead)
    );

    // …or naming nobody.
    bus.admin
        .basic_publish(
            exchange.as_str().into(),
            EVENT.into(),
            BasicPublishOptions::default(),
            &body(),
            BasicProperties::default(),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    let dead = bus.next_dead_letter().await;
    assert!(
        reason(&dead).contains("carries no user_id"),
        "{}",
        reason(&dead)
    );
    assert_eq!(runs.get(), 0);
    bus.cleanup().await;
}

#[tokio::test]
async fn the_broker_refuses_a_user_id_that_is_not_the_login() {
    let connection = lapin::Connection::connect(&amqp_url(), Default::default())
        .await
        .unwrap();
    let channel = connection.create_channel().await.unwrap();
    channel.confirm_select(Default::default()).await.unwrap();
    let published = async {
        channel
            .basic_publish(
                "".into(),
                "nowhere".into(),
                BasicPublishOptions::default(),
                &body(),
                BasicProperties::default().with_user_id("user-service".into()),
            )
            .await?
            .await
    }
    .await;
    // PRECONDITION_FAILED: the broker closes the channel.
    let error = published.expect_err("a forged user_id must be refused");
    assert!(error.to_string().contains("user_id"), "{error}");
    let _ = connection.close(200, "bye".into()).await;
}

#[tokio::test]
async fn a_request_from_an_account_not_allowed_to_call_is_refused_unrun() {
    let runs = Counter::default();
    let mut bus = Bus::new().await;
    // Only the gateway's account may call; the test's client logs in as guest.
    bus.config.callers = vec!["api-gateway".to_owned()];
    bus.start_server(messaging::Router::new().route_with("place", &runs, counted));
    let client = bus.client(Duration::from_secs(5)).await;

    let refused = client
        .send_value("place", json!({"as": "admin"}))
        .await
        .expect_err("a request from guest ran");

    match refused {
        messaging::RpcError::Remote(error) => {
            assert_eq!(error["code"], "UNAUTHENTICATED", "{error}")
        }
        other => panic!("expected UNAUTHENTICATED, got {other:?}"),
    }
    let dead = bus.next_dead_letter().await;
    assert!(
        reason(&dead)
            .contains(r#"carries user_id "guest"; only ["api-gateway"] may send requests"#),
        "{}",
        reason(&dead)
    );
    assert_eq!(runs.get(), 0);
    bus.cleanup().await;
}

#[tokio::test]
async fn a_request_naming_another_queue_for_its_reply_is_refused_unrun() {
    let runs = Counter::default();
    let mut bus = Bus::new().await;
    bus.start_server(messaging::Router::new().route_with("place", &runs, counted));
    let client = bus.client(Duration::from_secs(5)).await;
    let _: Value = client.send("place", &json!({})).await.unwrap();
    // A queue the server's account could write to, named as the reply's
    // destination: the server would publish into it as itself.
    let victim = format!("test.victim.{}", uuid::Uuid::new_v4());
    bus.admin
        .queue_declare(
            victim.as_str().into(),
            Default::default(),
            Default::default(),
        )
        .await
        .unwrap();

    let properties = BasicProperties::default()
        .with_reply_to(victim.as_str().into())
        .with_correlation_id("c1".into());
    let body = wire::encode("place", &json!({}), Some("c1")).unwrap();
    bus.publish_raw(&body, properties).await;

    let dead = bus.next_dead_letter().await;
    assert!(
        reason(&dead).contains("is not a direct reply-to address"),
        "{}",
        reason(&dead)
    );
    assert_eq!(runs.get(), 1, "only the first, proper request ran");
    assert_eq!(
        bus.depth(&victim).await,
        0,
        "nothing was published to {victim}"
    );
    let _ = bus
        .admin
        .queue_delete(victim.as_str().into(), Default::default())
        .await;
    bus.cleanup().await;
}
