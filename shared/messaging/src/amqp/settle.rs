//! A delivery that must be settled exactly once: acked, requeued (a copy
//! published to the tail of its queue, confirmed, then the original acked),
//! or dead-lettered (the same, to the dead-letter queue). Each consumes the
//! value, so settling twice does not compile; dropping it unsettled is
//! logged, and the broker redelivers it when the channel closes.

use lapin::{
    Acker, BasicProperties, Channel,
    message::Delivery,
    options::{BasicAckOptions, BasicNackOptions},
    types::{AMQPValue, FieldTable},
};

use crate::{
    amqp::provenance::Origin,
    amqp::publish::publish_confirmed,
    headers::{ORIGINAL_QUEUE_HEADER, REASON_HEADER, REDELIVERIES_HEADER},
};

#[derive(Debug)]
pub(crate) struct Unsettled {
    acker: Acker,
    /// Where it really came from (see `provenance`).
    origin: Origin,
    body: Vec<u8>,
    properties: BasicProperties,
    settled: bool,
}

impl Unsettled {
    /// A delivery to a consumer logged in as `own_account`.
    pub(crate) fn new(delivery: Delivery, own_account: &str) -> Self {
        Self {
            acker: delivery.acker,
            origin: Origin::of(
                delivery.exchange.as_str(),
                &delivery.properties,
                own_account,
            ),
            body: delivery.data,
            properties: delivery.properties,
            settled: false,
        }
    }

    pub(crate) fn body(&self) -> &[u8] {
        &self.body
    }

    pub(crate) fn origin(&self) -> &Origin {
        &self.origin
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

    /// Gives the message back to the tail of `queue` with `redeliveries` in
    /// its headers. A copy, not a `basic.nack` requeue: that would flag it
    /// redelivered, which counts as a consumer dying on it. The copy is
    /// published as `own_account` (RabbitMQ refuses any other `user_id`)
    /// with the original's true origin in its headers, so it is judged
    /// again by where the original came from (`provenance`).
    pub(crate) async fn requeue(
        self,
        publisher: &Channel,
        queue: &str,
        redeliveries: u32,
        own_account: &str,
    ) {
        let mut headers = self.properties.headers().clone().unwrap_or_default();
        headers.insert(
            REDELIVERIES_HEADER.into(),
            AMQPValue::LongUInt(redeliveries),
        );
        self.origin.record(&mut headers);
        let properties = self
            .properties
            .clone()
            .with_headers(headers)
            .with_user_id(own_account.into());
        self.move_to(publisher, queue, properties).await;
    }

    /// Moves the message to `dead_letter_queue` with the reason in its
    /// headers.
    pub(crate) async fn dead_letter(
        self,
        publisher: &Channel,
        source_queue: &str,
        dead_letter_queue: &str,
        reason: &str,
    ) {
        tracing::warn!(queue = source_queue, reason, "dead-lettering a message");
        let mut headers = self.properties.headers().clone().unwrap_or_default();
        headers.insert(REASON_HEADER.into(), AMQPValue::LongString(reason.into()));
        headers.insert(
            ORIGINAL_QUEUE_HEADER.into(),
            AMQPValue::LongString(source_queue.into()),
        );
        // Who published it and through which exchange, as the broker
        // vouched (for a forged message, the account whose credentials were
        // used), over anything the message claimed.
        self.origin.record(&mut headers);
        let properties = dead_letter_properties(&self.properties, headers);
        self.move_to(publisher, dead_letter_queue, properties).await;
    }

    /// Publishes a copy to `queue`; acks the original only once the broker
    /// confirmed the copy. If the copy fails, the original goes back to the
    /// broker (`basic.nack` requeue), never lost.
    async fn move_to(mut self, publisher: &Channel, queue: &str, properties: BasicProperties) {
        self.settled = true;
        match publish_confirmed(publisher, queue, &self.body, properties).await {
            Ok(()) => {
                if let Err(e) = self.acker.ack(BasicAckOptions::default()).await {
                    tracing::warn!(error = %e, "ack after moving a message failed; a copy may be redelivered");
                }
            }
            Err(e) => {
                tracing::error!(error = %e, queue, "cannot move a message; requeueing the original");
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
