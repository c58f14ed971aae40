//! What this crate declares on the broker, in one place.

use lapin::{
    Channel, ExchangeKind,
    options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions},
    types::FieldTable,
};

/// Declares a work queue exactly as a NestJS client with
/// `queueOptions: { durable: true }` does: durable, not exclusive, not
/// auto-delete, and no `x-` arguments. Any difference (a dead-letter-exchange
/// argument, say) makes the other side's declare fail with 406
/// PRECONDITION_FAILED and close its channel — which is why dead-lettering is
/// done by publishing, not by queue arguments (docs/messaging.md).
pub(crate) async fn declare_queue(channel: &Channel, name: &str) -> lapin::Result<()> {
    channel
        .queue_declare(
            name.into(),
            QueueDeclareOptions {
                durable: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await?;
    Ok(())
}

/// Declares a durable topic exchange for events: routing key = event name,
/// and each consuming service binds its own queue (fan-out between services,
/// competing consumers within one).
pub(crate) async fn declare_exchange(channel: &Channel, name: &str) -> lapin::Result<()> {
    channel
        .exchange_declare(
            name.into(),
            ExchangeKind::Topic,
            ExchangeDeclareOptions {
                durable: true,
                ..ExchangeDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
}

/// Binds `queue` to `exchange` for `routing_key`.
pub(crate) async fn bind(
    channel: &Channel,
    queue: &str,
    exchange: &str,
    routing_key: &str,
) -> lapin::Result<()> {
    declare_exchange(channel, exchange).await?;
    channel
        .queue_bind(
            queue.into(),
            exchange.into(),
            routing_key.into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
}
