//! Publishing with publisher confirms: a message is only "sent" once the
//! broker has it.

use lapin::{BasicProperties, Channel, Confirmation, options::BasicPublishOptions};

use crate::RpcError;

/// Persistent delivery mode (AMQP 0-9-1 `delivery-mode` 2): the broker writes
/// the message to disk on a durable queue.
pub(crate) const PERSISTENT: u8 = 2;
pub(crate) const TRANSIENT: u8 = 1;

/// Publishes to `queue` through the default exchange and waits for the
/// broker's confirm: a message is only "sent" once the broker has it.
pub(crate) async fn publish_confirmed(
    channel: &Channel,
    queue: &str,
    body: &[u8],
    properties: BasicProperties,
) -> Result<(), RpcError> {
    publish_to_exchange(channel, "", queue, body, properties).await
}

/// Publishes to `queue` through the default exchange as `mandatory` and
/// waits for the confirm: a queue that does not exist returns the message,
/// [`RpcError::NoServer`] — for a request, whose server has never declared
/// its queue, a clear answer at once instead of a silent drop and a
/// timeout.
pub(crate) async fn publish_mandatory(
    channel: &Channel,
    queue: &str,
    body: &[u8],
    properties: BasicProperties,
) -> Result<(), RpcError> {
    let options = BasicPublishOptions {
        mandatory: true,
        ..BasicPublishOptions::default()
    };
    let confirm = channel
        .basic_publish("".into(), queue.into(), options, body, properties)
        .await?;
    confirmed(confirm).await
}

/// Publishes to `exchange` with `routing_key` and returns once the broker
/// has the message on its way — not yet confirmed: await the returned
/// confirm for that. Sending several before awaiting any confirm lets the
/// broker acknowledge a run of them at once.
pub(crate) async fn send_to_exchange(
    channel: &Channel,
    exchange: &str,
    routing_key: &str,
    body: &[u8],
    properties: BasicProperties,
) -> Result<lapin::PublisherConfirm, RpcError> {
    Ok(channel
        .basic_publish(
            exchange.into(),
            routing_key.into(),
            BasicPublishOptions::default(),
            body,
            properties,
        )
        .await?)
}

/// What a confirm says: the broker has the message, refused it, or (for a
/// mandatory publish) could route it nowhere and returned it.
pub(crate) async fn confirmed(confirm: lapin::PublisherConfirm) -> Result<(), RpcError> {
    match confirm.await? {
        Confirmation::Nack(_) => Err(RpcError::Rejected),
        Confirmation::Ack(Some(_returned)) => Err(RpcError::NoServer),
        Confirmation::Ack(None) | Confirmation::NotRequested => Ok(()),
    }
}

/// Publishes to `exchange` with `routing_key` and waits for the confirm.
pub(crate) async fn publish_to_exchange(
    channel: &Channel,
    exchange: &str,
    routing_key: &str,
    body: &[u8],
    properties: BasicProperties,
) -> Result<(), RpcError> {
    let confirm = send_to_exchange(channel, exchange, routing_key, body, properties).await?;
    confirmed(confirm).await
}
