//! What the crate records, read back from the process's Prometheus
//! recorder (the one `/metrics` renders): a client's calls by outcome, and
//! the depth and consumers of the queues a server consumes.

use std::time::Duration;

use lapin::{BasicProperties, options::BasicPublishOptions};
use messaging::{HandlerError, Router};
use serde_json::json;

use crate::helpers::Bus;

#[tokio::test]
async fn a_clients_calls_are_counted_by_outcome() {
    let mut bus = Bus::new().await;
    bus.start_server(
        Router::new()
            .route("echo", |m| async move { Ok(m.data) })
            .route("slow", |_| async {
                tokio::time::sleep(Duration::from_millis(500)).await;
                Ok::<_, HandlerError>(json!("too late"))
            }),
    );
    let client = bus.client(Duration::from_secs(5)).await;
    let queue = bus.config.queue.clone();

    // One call of each outcome but `unavailable`.
    client.send_value("echo", json!(1)).await.unwrap();
    client
        .send_value("nobody-routes-this", json!(1))
        .await
        .unwrap_err();
    client
        .send_value_within("slow", json!(1), Duration::from_millis(100))
        .await
        .unwrap_err();

    let text = platform::admin::prometheus().render();
    for (pattern, outcome) in [
        ("echo", "ok"),
        ("nobody-routes-this", "error"),
        ("slow", "timeout"),
    ] {
        let labels = [
            ("queue", queue.as_str()),
            ("pattern", pattern),
            ("outcome", outcome),
        ];
        assert_eq!(
            value(&text, "messaging_client_requests_total", &labels),
            Some(1.0),
            "{pattern} {outcome}:\n{text}"
        );
    }
    let labels = [("queue", queue.as_str()), ("pattern", "slow")];
    let timed = value(
        &text,
        "messaging_client_request_duration_seconds_count",
        &labels,
    );
    assert_eq!(timed, Some(1.0), "{text}");
    assert!(text.contains("# HELP messaging_client_requests_total "));
    bus.cleanup().await;
}

#[tokio::test]
async fn a_servers_queues_are_sampled_for_depth_and_consumers() {
    // Two messages parked in the dead-letter queue before the server
    // starts, so its first sample sees them.
    let mut bus = Bus::new().await;
    let queue = bus.config.queue.clone();
    let dead_letters = bus.config.dead_letter_queue.clone();
    bus.declare(&dead_letters).await;
    for _ in 0..2 {
        bus.admin
            .basic_publish(
                "".into(),
                dead_letters.as_str().into(),
                BasicPublishOptions::default(),
                b"{}",
                BasicProperties::default(),
            )
            .await
            .unwrap()
            .await
            .unwrap();
    }

    bus.start_server(Router::new());

    // The sampler runs as the consumer starts; give it a moment.
    let expected = [
        ("rabbitmq_queue_consumers", queue.as_str(), 1.0),
        ("rabbitmq_queue_messages_ready", queue.as_str(), 0.0),
        ("rabbitmq_queue_consumers", dead_letters.as_str(), 0.0),
        ("rabbitmq_queue_messages_ready", dead_letters.as_str(), 2.0),
    ];
    for (name, queue, want) in expected {
        let mut got = None;
        for _ in 0..50 {
            let text = platform::admin::prometheus().render();
            got = value(&text, name, &[("queue", queue)]);
            if got == Some(want) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(got, Some(want), "{name}{{queue={queue:?}}}");
    }
    bus.cleanup().await;
}

/// The value of the series `name` carrying every one of `labels`, from
/// Prometheus text.
fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|line| {
            line.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{'))
        })
        .filter(|line| {
            labels
                .iter()
                .all(|(key, value)| line.contains(&format!("{key}=\"{value}\"")))
        })
        .find_map(|line| line.rsplit_once(' ')?.1.parse().ok())
}
