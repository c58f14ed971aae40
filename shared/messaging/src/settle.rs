//! A delivery that must be settled exactly once: acked, requeued, or
//! dead-lettered (published to the dead-letter queue, confirmed, then
//! acked). Each consumes
//! the value, so settling twice does not compile; dropping it unsettled is
//! logged, and the broker redelivers it when the channel closes.

use lapin::{
    Acker, BasicProperties, Channel,
    message::Delivery,
    options::{BasicAckOptions, BasicNackOptions},
    types::{AMQPValue, FieldTable},
};

use crate::publish::publish_confirmed;

/// Header naming why a message was dead-lettered.
pub const REASON_HEADER: &str = "x-dead-letter-reason";
/// Header naming the queue a dead-lettered message came from.
pub const ORIGINAL_QUEUE_HEADER: &str = "x-original-queue";

#[derive(Debug)]
pub(crate) struct Unsettled {
    acker: Acker,
    body: Vec<u8>,
    properties: BasicProperties,
    settled: bool,
}

impl Unsettled {
    pub(crate) fn new(delivery: Delivery) -> Self {
        Self {
            acker: delivery.acker,
            body: delivery.data,
            properties: delivery.properties,
            settled: false,
        }
    }

    pub(crate) fn body(&self) -> &[u8] {
        &self.body
    }

    pub(crate) fn properties(&self) -> &BasicProperties {
        &self.properties
    }

    pub(crate) async fn ack(mut self) {
        self.settled = true;
        if let Err(e) = self.acker.ack(BasicAckOptions::default()).await {
            // The channel is gone; the broker redelivers the message and the
            // handler's idempotency makes the second run harmless.
            tracing::warn!(error = %e, "ack failed; the message will be redelivered");
        }
    }

    /// Gives the message back to the queue, to be delivered again.
    pub(crate) async fn requeue(mut self) {
        self.settled = true;
        let requeue = BasicNackOptions {
            requeue: true,
            ..BasicNackOptions::default()
        };
        if let Err(e) = self.acker.nack(requeue).await {
            // The channel is gone: the broker requeues it anyway.
            tracing::warn!(error = %e, "requeue failed; the message will be redelivered");
        }
    }

    /// Moves the message to `dead_letter_queue` with the reason in its
    /// headers. The original is acked only once the broker confirmed the
    /// copy; if the copy fails, the original is requeued, never lost.
    pub(crate) async fn dead_letter(
        mut self,
        publisher: &Channel,
        source_queue: &str,
        dead_letter_queue: &str,
        reason: &str,
    ) {
        self.settled = true;
        tracing::warn!(queue = source_queue, reason, "dead-lettering a message");
        let mut headers = self.properties.headers().clone().unwrap_or_default();
        headers.insert(REASON_HEADER.into(), AMQPValue::LongString(reason.into()));
        headers.insert(
            ORIGINAL_QUEUE_HEADER.into(),
            AMQPValue::LongString(source_queue.into()),
        );
        let properties = dead_letter_properties(&self.properties, headers);
        match publish_confirmed(publisher, dead_letter_queue, &self.body, properties).await {
            Ok(()) => {
                if let Err(e) = self.acker.ack(BasicAckOptions::default()).await {
                    tracing::warn!(error = %e, "ack after dead-lettering failed; a copy may be redelivered");
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot dead-letter; requeueing the original");
                let requeue = BasicNackOptions {
                    requeue: true,
                    ..BasicNackOptions::default()
                };
                let _ = self.acker.nack(requeue).await;
            }
        }
    }
}

/// The original's identifying properties and headers, persistent, and
/// without its expiration: a dead letter waits for a human, however long.
fn dead_letter_properties(original: &BasicProperties, headers: FieldTable) -> BasicProperties {
    let mut copy = BasicProperties::default()
        .with_headers(headers)
        .with_delivery_mode(2);
    if let Some(v) = original.content_type() {
        copy = copy.with_content_type(v.clone());
    }
    if let Some(v) = original.correlation_id() {
        copy = copy.with_correlation_id(v.clone());
    }
    if let Some(v) = original.message_id() {
        copy = copy.with_message_id(v.clone());
    }
    copy
}

impl Drop for Unsettled {
    fn drop(&mut self) {
        if !self.settled {
            tracing::error!("a delivery was dropped unsettled; the broker will redeliver it");
        }
    }
}
