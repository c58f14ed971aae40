//! On the broker: every service logs in with its own account, permitted
//! only what it does. Tried as a holder of the gateway's credentials — the
//! internet-facing service — would: the broker refuses what the account may
//! not do, and a forged event that gets through to a queue is dead-lettered,
//! never run. A request from any account but the gateway's — another
//! service's credentials naming an admin as the caller — is refused and
//! dead-lettered, unrun. A NestJS client holding the gateway's account
//! still works.

use std::time::Duration;

use lapin::{
    BasicProperties,
    options::{BasicConsumeOptions, BasicPublishOptions},
};
use serde_json::json;
use system_tests::{Options, System};

/// Publishes `body` to `exchange` with `routing_key` on `channel` (confirm
/// mode) and returns the broker's refusal, if it refused.
async fn publish(
    channel: &lapin::Channel,
    exchange: &str,
    routing_key: &str,
    properties: BasicProperties,
) -> Result<(), lapin::Error> {
    let body = json!({"pattern": routing_key, "data": {}}).to_string();
    channel
        .basic_publish(
            exchange.into(),
            routing_key.into(),
            BasicPublishOptions::default(),
            body.as_bytes(),
            properties,
        )
        .await?
        .await?;
    Ok(())
}

fn refused(result: Result<(), lapin::Error>, what: &str) {
    let error = result.expect_err(what);
    let text = error.to_string();
    assert!(
        text.contains("ACCESS_REFUSED") || text.contains("access to") || text.contains("403"),
        "{what}: {text}"
    );
}

#[tokio::test]
async fn each_account_may_do_only_what_its_service_does() {
    let system = System::start(Options::default()).await;
    let events = system.events_exchange.clone();

    // The gateway publishes no events…
    let (_c, gateway) = system.connect_as("api-gateway").await;
    refused(
        publish(
            &gateway,
            &events,
            "user_created",
            BasicProperties::default(),
        )
        .await,
        "the gateway's account published to the events exchange",
    );
    // …and consumes no service's queue: orders_queue is order-service's.
    let (_c, gateway) = system.connect_as("api-gateway").await;
    let consumed = gateway
        .basic_consume(
            system.orders_queue.as_str().into(),
            "".into(),
            BasicConsumeOptions::default(),
            Default::default(),
        )
        .await
        .map(|_| ());
    refused(consumed, "the gateway's account consumed orders_queue");
    // …and declares, deletes and purges none: the queues are the services'.
    let queue = system.orders_queue.as_str();
    let (_c, gateway) = system.connect_as("api-gateway").await;
    let declared = gateway
        .queue_declare(queue.into(), Default::default(), Default::default())
        .await
        .map(|_| ());
    refused(declared, "the gateway's account declared orders_queue");
    let (_c, gateway) = system.connect_as("api-gateway").await;
    let deleted = gateway
        .queue_delete(queue.into(), Default::default())
        .await
        .map(|_| ());
    refused(deleted, "the gateway's account deleted orders_queue");
    let (_c, gateway) = system.connect_as("api-gateway").await;
    let purged = gateway
        .queue_purge(queue.into(), Default::default())
        .await
        .map(|_| ());
    refused(purged, "the gateway's account purged orders_queue");

    // order-service publishes its own events, not user-service's.
    let (_c, orders) = system.connect_as("order-service").await;
    refused(
        publish(&orders, &events, "user_created", BasicProperties::default()).await,
        "order-service's account published user_created",
    );
    // notification-service publishes no events at all.
    let (_c, notifications) = system.connect_as("notification-service").await;
    refused(
        publish(
            &notifications,
            &events,
            "order_confirmed",
            BasicProperties::default(),
        )
        .await,
        "notification-service's account published an event",
    );
    // Nor does anyone pass for user-service: RabbitMQ checks the user_id.
    let (_c, gateway) = system.connect_as("api-gateway").await;
    let forged = BasicProperties::default().with_user_id("user-service".into());
    let error = publish(&gateway, "", &system.orders_queue, forged)
        .await
        .expect_err("a user_id other than the login was accepted");
    assert!(error.to_string().contains("user_id"), "{error}");

    // Everything the system does still works with these accounts.
    let user = system.user_with_credit(100_000).await;
    let (status, body) = system.place_order(&user, "STICKER-PACK", 1).await;
    assert_eq!(status, 201, "{body}");
}

#[tokio::test]
async fn a_forged_user_created_changes_no_recipient_and_is_dead_lettered() {
    let system = System::start(Options::default()).await;
    let victim = system.customer().await;
    let notifications = system.db("notifications").await;
    let recipient = || async {
        sqlx::query_scalar::<_, String>("SELECT email FROM recipients WHERE user_id = $1::uuid")
            .bind(&victim)
            .fetch_optional(&notifications)
            .await
            .unwrap()
    };
    // The genuine user_created arrives through the outbox and the exchange.
    let mut email = None;
    for _ in 0..100 {
        email = recipient().await;
        if email.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let email = email.expect("the victim's user_created was never handled");

    // With the gateway's credentials, straight into notification-service's
    // events queue through the default exchange (the gateway may publish
    // there: it sends requests that way).
    let forged = json!({
        "pattern": "user_created",
        "data": {
            "event_id": uuid::Uuid::now_v7(),
            "occurred_at": "2026-12-02T00:00:00Z",
            "schema_version": 1,
            "user_id": victim,
            "name": "Victim",
            "email": "attacker@example.com",
        },
    });
    let (_c, gateway) = system.connect_as("api-gateway").await;
    gateway
        .basic_publish(
            "".into(),
            system.notification_events_queue.as_str().into(),
            BasicPublishOptions::default(),
            forged.to_string().as_bytes(),
            BasicProperties::default().with_user_id("api-gateway".into()),
        )
        .await
        .unwrap()
        .await
        .unwrap();

    let dead_letters = format!("{}.dead-letter", system.notification_events_queue);
    let mut reasons = Vec::new();
    for _ in 0..100 {
        reasons = system.dead_letter_reasons(&dead_letters).await;
        if !reasons.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(reasons.len(), 1, "{reasons:?}");
    assert!(
        reasons[0].contains("came through the default exchange"),
        "{reasons:?}"
    );
    assert_eq!(recipient().await, Some(email), "the recipient changed");
}

#[tokio::test]
async fn a_nestjs_client_with_the_gateways_account_places_an_order() {
    // What a NestJS gateway in place of ours would hold: the gateway's
    // broker account, which may send requests to orders_queue.
    let system = System::start(Options::default()).await;
    let user = system.user_with_credit(10_000).await;
    let caller = json!({"x-caller-id": user, "x-caller-role": "customer"});
    let order = json!({"user_id": user, "items": [{"sku": "STICKER-PACK", "quantity": 1}]});

    let placed = test_support::nestjs::send_as(
        &system.vhost.url("api-gateway"),
        &system.orders_queue,
        "create_order",
        order,
        Some(caller),
    )
    .await;

    assert_eq!(placed["response"]["status"], "confirmed", "{placed}");
}

/// A request published to `queue` with `account`'s own credentials (its
/// `user_id`, which the broker checks), for an admin named in the caller
/// headers — what someone holding that service's broker password could
/// send — answered on direct reply-to: the reply envelope.
async fn request_as_admin(
    system: &System,
    account: &str,
    queue: &str,
    pattern: &str,
    data: serde_json::Value,
) -> serde_json::Value {
    use lapin::types::{AMQPValue, FieldTable};
    use tokio_stream::StreamExt;

    let (_connection, channel) = system.connect_as(account).await;
    let mut replies = channel
        .basic_consume(
            "amq.rabbitmq.reply-to".into(),
            "".into(),
            BasicConsumeOptions {
                no_ack: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
    let mut headers = FieldTable::default();
    let text = |s: &str| AMQPValue::LongString(s.into());
    headers.insert(
        "x-caller-id".into(),
        text(&uuid::Uuid::now_v7().to_string()),
    );
    headers.insert("x-caller-role".into(), text("admin"));
    let properties = BasicProperties::default()
        .with_reply_to("amq.rabbitmq.reply-to".into())
        .with_correlation_id("forged".into())
        .with_user_id(account.into())
        .with_headers(headers);
    let body = json!({"pattern": pattern, "data": data, "id": "forged"}).to_string();
    channel
        .basic_publish(
            "".into(),
            queue.into(),
            BasicPublishOptions::default(),
            body.as_bytes(),
            properties,
        )
        .await
        .unwrap()
        .await
        .unwrap();
    let reply = tokio::time::timeout(Duration::from_secs(10), replies.next())
        .await
        .unwrap_or_else(|_| panic!("{account}: no reply to {pattern}"))
        .expect("the reply consumer ended")
        .unwrap();
    serde_json::from_slice(&reply.data).unwrap()
}

#[tokio::test]
async fn another_services_account_cannot_send_requests_as_an_admin() {
    let system = System::start(Options::default()).await;
    let victim = system.user_with_credit(50_000).await;
    let (status, order) = system.place_order(&victim, "STICKER-PACK", 1).await;
    assert_eq!(status, 201, "{order}");
    let order_id = order["id"].as_str().unwrap().to_owned();
    let (users, orders) = (system.db("users").await, system.db("orders").await);
    let state = || async {
        let balance: i64 =
            sqlx::query_scalar("SELECT balance_cents FROM users WHERE id = $1::uuid")
                .bind(&victim)
                .fetch_one(&users)
                .await
                .unwrap();
        let placed: i64 =
            sqlx::query_scalar("SELECT count(*) FROM orders WHERE user_id = $1::uuid")
                .bind(&victim)
                .fetch_one(&orders)
                .await
                .unwrap();
        (balance, placed)
    };
    let before = state().await;

    let to_orders = [
        (
            "create_order",
            json!({"user_id": victim, "items": [{"sku": "STICKER-PACK", "quantity": 2}]}),
        ),
        ("get_order", json!({"id": order_id})),
        ("list_orders", json!({"user_id": victim})),
    ];
    for account in ["order-service", "notification-service"] {
        for (pattern, data) in &to_orders {
            let reply = request_as_admin(
                &system,
                account,
                &system.orders_queue,
                pattern,
                data.clone(),
            )
            .await;
            assert_eq!(
                reply["err"]["code"], "UNAUTHENTICATED",
                "{account} {pattern}: {reply}"
            );
        }
        let data = json!({"user_id": victim});
        let queue = &system.notifications_queue;
        let reply = request_as_admin(&system, account, queue, "get_notifications", data).await;
        assert_eq!(
            reply["err"]["code"], "UNAUTHENTICATED",
            "{account}: {reply}"
        );
        assert!(reply.get("response").is_none(), "{reply}");
    }

    assert_eq!(
        state().await,
        before,
        "the victim's balance or orders changed"
    );
    let orders_dead = system
        .dead_letter_reasons(&format!("{}.dead-letter", system.orders_queue))
        .await;
    let notifications_dead = system
        .dead_letter_reasons(&format!("{}.dead-letter", system.notifications_queue))
        .await;
    assert_eq!(orders_dead.len(), 6, "{orders_dead:?}");
    assert_eq!(notifications_dead.len(), 2, "{notifications_dead:?}");
    for reason in orders_dead.iter().chain(&notifications_dead) {
        assert!(
            reason.contains(r#"only ["api-gateway"] may send requests"#),
            "{reason}"
        );
    }
    // The gateway's own requests still work.
    let (status, body) = system.place_order(&victim, "STICKER-PACK", 1).await;
    assert_eq!(status, 201, "{body}");
}
