//! What this crate declares on the broker, in one place.

use lapin::{Channel, options::QueueDeclareOptions, types::FieldTable};

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
