//! How deep the queues a server consumes are, and how many consumers each
//! has: `rabbitmq_queue_messages_ready{queue}` and
//! `rabbitmq_queue_consumers{queue}`, for every queue a [`serve`](crate::serve)
//! consumes and its dead-letter queue.
//!
//! A passive `queue.declare` answers both counts (AMQP 0-9-1 §1.7.2.1,
//! `declare-ok`): one round trip, no management plugin, no extra broker
//! account or permission — RabbitMQ checks none for a passive declare. It
//! never creates a queue: an absent one is a 404 that closes the channel,
//! which is why this runs on a channel of its own and opens a new one the
//! next time. A failed sample is logged at debug and the gauges keep their
//! last value; nothing here can disturb consuming.
//!
//! It runs every [`INTERVAL`], not at scrape time: the admin port would need
//! a channel of the consumer's connection, which comes and goes with the
//! broker. Each replica reports the same queues; the dashboard takes `max`.
//! (`messages_ready` is what the RabbitMQ Prometheus plugin calls the same
//! count, so the two read alike; unacked deliveries are not in it.)

use std::{sync::Arc, time::Duration};

use lapin::{Channel, Connection, options::QueueDeclareOptions, types::FieldTable};
use tokio_util::sync::CancellationToken;

/// How often the queues are sampled: about a Prometheus scrape interval.
pub(crate) const INTERVAL: Duration = Duration::from_secs(15);
/// How long one sample may take before it is given up.
const TIMEOUT: Duration = Duration::from_secs(2);

/// Samples `queues` now and every [`INTERVAL`] until `stop` is cancelled
/// (the session ends, or the service shuts down).
pub(crate) async fn sample(
    connection: Arc<Connection>,
    queues: Vec<String>,
    stop: CancellationToken,
) {
    let mut channel: Option<Channel> = None;
    loop {
        for queue in &queues {
            if channel.as_ref().is_none_or(|c| !c.status().connected()) {
                channel = match connection.create_channel().await {
                    Ok(channel) => Some(channel),
                    Err(e) => {
                        tracing::debug!(error = %e, "cannot open a channel to sample queue depth");
                        None
                    }
                };
            }
            let Some(open) = &channel else { break };
            if let Err(e) = sample_one(open, queue).await {
                tracing::debug!(queue, error = %e, "cannot sample the queue's depth");
                // Closed by the broker, or stuck: a new one next time.
                channel = None;
            }
        }
        tokio::select! {
            () = tokio::time::sleep(INTERVAL) => {}
            () = stop.cancelled() => return,
        }
    }
}

async fn sample_one(channel: &Channel, queue: &str) -> Result<(), String> {
    let declare = channel.queue_declare(
        queue.into(),
        QueueDeclareOptions {
            passive: true,
            ..QueueDeclareOptions::default()
        },
        FieldTable::default(),
    );
    let declared = tokio::time::timeout(TIMEOUT, declare)
        .await
        .map_err(|_| format!("no answer within {TIMEOUT:?}"))?
        .map_err(|e| e.to_string())?;
    let queue = queue.to_owned();
    metrics::gauge!("rabbitmq_queue_messages_ready", "queue" => queue.clone())
        .set(f64::from(declared.message_count()));
    metrics::gauge!("rabbitmq_queue_consumers", "queue" => queue)
        .set(f64::from(declared.consumer_count()));
    Ok(())
}
