//! Talking to a system's queues directly, as a misbehaving (or NestJS)
//! client would: raw publishes, queue depths, dead letters.

use lapin::{
    BasicProperties, Channel, Connection,
    options::{BasicGetOptions, BasicPublishOptions, QueueDeclareOptions},
    types::AMQPValue,
};

use crate::System;

/// The header dead letters carry their reason in (messaging::REASON_HEADER).
const REASON_HEADER: &str = "x-dead-letter-reason";

impl System {
    /// Publishes `body` straight to `queue` through the default exchange.
    pub async fn publish_raw(&self, queue: &str, body: &[u8], properties: BasicProperties) {
        let (connection, channel) = open().await;
        channel
            .basic_publish(
                "".into(),
                queue.into(),
                BasicPublishOptions::default(),
                body,
                properties,
            )
            .await
            .unwrap()
            .await
            .unwrap();
        let _ = connection.close(200, "bye".into()).await;
    }

    /// Messages ready in `queue`.
    pub async fn queue_depth(&self, queue: &str) -> u32 {
        let (connection, channel) = open().await;
        let declared = channel
            .queue_declare(
                queue.into(),
                QueueDeclareOptions {
                    passive: true,
                    ..Default::default()
                },
                Default::default(),
            )
            .await
            .unwrap();
        let _ = connection.close(200, "bye".into()).await;
        declared.message_count()
    }

    /// The reasons of the messages in dead-letter queue `queue`, read without
    /// taking them (they return to the queue when the channel closes).
    pub async fn dead_letter_reasons(&self, queue: &str) -> Vec<String> {
        let (connection, channel) = open().await;
        let mut reasons = Vec::new();
        while let Some(message) = channel
            .basic_get(queue.into(), BasicGetOptions { no_ack: false })
            .await
            .unwrap()
        {
            let reason = message
                .delivery
                .properties
                .headers()
                .as_ref()
                .and_then(|h| h.inner().get(REASON_HEADER).cloned());
            reasons.push(match reason {
                Some(AMQPValue::LongString(s)) => String::from_utf8_lossy(s.as_bytes()).into(),
                other => format!("no reason header: {other:?}"),
            });
        }
        let _ = connection.close(200, "bye".into()).await;
        reasons
    }
}

async fn open() -> (Connection, Channel) {
    let connection = Connection::connect(&test_support::amqp_url(), Default::default())
        .await
        .unwrap();
    let channel = connection.create_channel().await.unwrap();
    (connection, channel)
}
