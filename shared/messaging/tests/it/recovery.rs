//! The broker drops every connection (as on a RabbitMQ restart): in-flight
//! sends fail at once, and client and server reconnect by themselves.

use std::time::Duration;

use messaging::{Router, RpcError};
use serde_json::{Value, json};

use test_support::rabbitmqctl;

use crate::helpers::Bus;

/// A vhost of this test's own, so closing its connections touches no other
/// test. Needs `rabbitmqctl` with rights on the broker; set `RABBITMQCTL` to
/// reach one elsewhere, e.g. `docker compose exec -T rabbitmq rabbitmqctl`.
struct Vhost(String);

impl Vhost {
    fn create() -> Self {
        let name = format!("test-{}", uuid::Uuid::new_v4());
        rabbitmqctl(&["add_vhost", &name]);
        rabbitmqctl(&["set_permissions", "-p", &name, "guest", ".*", ".*", ".*"]);
        Self(name)
    }

    fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:5672/{}", self.0)
    }

    fn close_all_connections(&self) {
        rabbitmqctl(&[
            "close_all_connections",
            "--vhost",
            &self.0,
            "test: simulated broker restart",
        ]);
    }
}

impl Drop for Vhost {
    fn drop(&mut self) {
        rabbitmqctl(&["delete_vhost", &self.0]);
    }
}

#[tokio::test]
async fn client_and_server_recover_after_the_broker_drops_their_connections() {
    let vhost = Vhost::create();
    let mut bus = Bus::with_url(vhost.url()).await;
    let slow = Router::new()
        .route("echo", |m| async move { Ok(m.data) })
        .route("slow", |_| async {
            tokio::time::sleep(Duration::from_secs(2)).await;
            Ok(Value::Null)
        });
    bus.start_server(slow);
    let client = bus.client(Duration::from_secs(10)).await;
    let _: Value = client.send("echo", &json!("warm")).await.unwrap();

    // A request in flight when the connections drop fails fast, not after
    // its 10 s deadline.
    let in_flight = tokio::spawn({
        let client = client.clone();
        async move {
            let started = std::time::Instant::now();
            (
                client.send_value("slow", json!({})).await,
                started.elapsed(),
            )
        }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    vhost.close_all_connections();
    let (result, waited) = in_flight.await.unwrap();
    assert!(
        matches!(result, Err(RpcError::ConnectionLost)),
        "{result:?}"
    );
    assert!(waited < Duration::from_secs(5), "failed after {waited:?}");

    // Both sides reconnect by themselves; poll (bounded) until served again.
    let mut recovered = false;
    for _ in 0..100 {
        if let Ok(answer) = client.send::<_, Value>("echo", &json!("back")).await {
            assert_eq!(answer, json!("back"));
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(recovered, "not serving 10 s after the connections dropped");
    bus.cleanup().await;
}

#[tokio::test]
async fn a_delivery_cut_off_before_its_ack_is_redelivered_with_the_same_message_id() {
    let vhost = Vhost::create();
    let mut bus = Bus::with_url(vhost.url()).await;
    let (runs_tx, mut runs) = tokio::sync::mpsc::unbounded_channel::<(String, bool)>();
    bus.start_server(Router::new().route("place", move |m| {
        let runs_tx = runs_tx.clone();
        async move {
            // "Commit", then linger in the window between commit and ack,
            // where a crash or a dropped connection hurts most.
            let _ = runs_tx.send((m.message_id.clone(), m.redelivered));
            if !m.redelivered {
                tokio::time::sleep(Duration::from_millis(800)).await;
            }
            Ok(Value::Null)
        }
    }));
    let client = bus.client(Duration::from_secs(10)).await;

    let pending = tokio::spawn({
        let client = client.clone();
        async move { client.send_value("place", json!({})).await }
    });
    let (first_id, first_redelivered) = runs.recv().await.unwrap();
    vhost.close_all_connections();
    let _ = pending.await.unwrap();
    let second = tokio::time::timeout(Duration::from_secs(15), runs.recv())
        .await
        .expect("the unacked delivery was never redelivered")
        .unwrap();

    assert!(!first_redelivered);
    assert_eq!(
        second,
        (first_id, true),
        "same message id, flagged redelivered"
    );
    bus.cleanup().await;
}

/// A message that kills its consumer every time (an abort, the OOM killer:
/// simulated by the connection dropping while the handler runs, which is
/// what the broker sees of a dead process) is run `max_redeliveries + 1`
/// times, then dead-lettered with the reason — not redelivered forever —
/// and the consumer serves on. Also: a consumer that lost its connection
/// reconnects at once, not after its in-flight handlers finish.
#[tokio::test]
async fn a_message_that_keeps_killing_its_consumer_is_dead_lettered_after_max_redeliveries() {
    let vhost = Vhost::create();
    let mut bus = Bus::with_url(vhost.url()).await;
    bus.config.max_redeliveries = 2;
    // Longer than the test waits for a run: a consumer that waited for its
    // hung handlers before reconnecting (as it once did) fails the test.
    bus.config.grace_period = Duration::from_secs(30);
    let (runs_tx, mut runs) = tokio::sync::mpsc::unbounded_channel::<bool>();
    let release = std::sync::Arc::new(tokio::sync::Notify::new());
    let hold = release.clone();
    bus.start_server(
        Router::new()
            .route("echo", |m| async move { Ok(m.data) })
            .route("crash", move |m| {
                let (runs_tx, hold) = (runs_tx.clone(), hold.clone());
                async move {
                    let _ = runs_tx.send(m.redelivered);
                    hold.notified().await;
                    Ok(Value::Null)
                }
            }),
    );
    // Consuming (the queue exists) before the message is published.
    let warm = bus.client(Duration::from_secs(5)).await;
    let _: Value = warm.send("echo", &json!("warm")).await.unwrap();
    bus.publish_raw(
        br#"{"pattern":"crash","data":{}}"#,
        lapin::BasicProperties::default()
            .with_delivery_mode(2)
            .with_message_id("crash-1".into()),
    )
    .await;

    for run in 1..=3 {
        let redelivered = tokio::time::timeout(Duration::from_secs(15), runs.recv())
            .await
            .unwrap_or_else(|_| panic!("run {run} never came"))
            .unwrap();
        assert_eq!(redelivered, run > 1, "run {run} flagged redelivered");
        // The consumer "dies" with the message in hand — a moment into the
        // run: dying in the instant between the requeued copy's confirm and
        // the original's ack leaves two copies (harmless to idempotent
        // handlers, but two runs more here).
        tokio::time::sleep(Duration::from_millis(300)).await;
        vhost.close_all_connections();
    }

    // A fresh connection to look (the old one was closed with the rest).
    let inspector = Bus::with_url(vhost.url()).await;
    let mut dead_letter = None;
    for _ in 0..150 {
        dead_letter = inspector
            .admin
            .basic_get(
                bus.config.dead_letter_queue.as_str().into(),
                lapin::options::BasicGetOptions { no_ack: true },
            )
            .await
            .unwrap();
        if dead_letter.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let dead_letter = dead_letter.expect("the message was not dead-lettered");
    let reason = dead_letter
        .delivery
        .properties
        .headers()
        .as_ref()
        .and_then(|h| h.inner().get(messaging::REASON_HEADER).cloned());
    assert!(
        matches!(&reason, Some(lapin::types::AMQPValue::LongString(s))
            if String::from_utf8_lossy(s.as_bytes()).contains("delivered 3 times and never settled")),
        "{reason:?}"
    );
    assert!(runs.try_recv().is_err(), "run 4 happened");

    // Serving on.
    let client = bus.client(Duration::from_secs(5)).await;
    let answer: Value = client.send("echo", &json!("still here")).await.unwrap();
    assert_eq!(answer, json!("still here"));
    release.notify_waiters();
    bus.cleanup().await;
}
