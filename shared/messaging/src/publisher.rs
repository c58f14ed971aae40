//! Publishing events to a topic exchange, for the outbox relays: persistent,
//! confirmed, and stamped with the publishing account.

use std::time::Duration;

use lapin::{BasicProperties, types::FieldTable};

use crate::{
    AmqpConfig, Link, RpcError,
    publish::{PERSISTENT, confirmed, send_to_exchange},
};

/// An event to publish: its routing key, its pre-encoded envelope, its id
/// (`message_id`, which consumers de-duplicate by) and headers.
#[derive(Debug)]
pub struct OutgoingEvent<'a> {
    pub routing_key: &'a str,
    pub body: &'a [u8],
    pub message_id: &'a str,
    pub headers: FieldTable,
}

/// Publishes events to one exchange over a [`Link`]. Cheap to clone.
#[derive(Debug, Clone)]
pub struct EventPublisher {
    link: Link,
    exchange: String,
    timeout: Duration,
}

impl EventPublisher {
    /// A publisher of events to `exchange` (a durable topic exchange,
    /// declared on every connect) on `link`.
    pub fn on(link: &Link, exchange: impl Into<String>, timeout: Duration) -> Self {
        let exchange = exchange.into();
        link.declare_exchange(&exchange);
        Self {
            link: link.clone(),
            exchange,
            timeout,
        }
    }

    /// A publisher on a link of its own ([`EventPublisher::on`] shares one).
    pub fn start(config: AmqpConfig, exchange: impl Into<String>, timeout: Duration) -> Self {
        Self::on(&Link::start(config), exchange, timeout)
    }

    /// Publishes a pre-encoded event envelope with `routing_key`,
    /// persistent, and waits (at most the publisher's timeout) for the
    /// broker's confirm. `message_id` (the event id) lets consumers drop
    /// duplicates.
    pub async fn publish(
        &self,
        routing_key: &str,
        body: &[u8],
        message_id: &str,
        headers: FieldTable,
    ) -> Result<(), RpcError> {
        let event = OutgoingEvent {
            routing_key,
            body,
            message_id,
            headers,
        };
        self.publish_all(vec![event]).await.remove(0)
    }

    /// [`Self::publish`] for several events, in order, each sent without
    /// waiting for the confirm of the one before — the broker then
    /// acknowledges a run of them at once, and a batch costs one round trip
    /// instead of one per event. Then waits (at most the publisher's
    /// timeout, for all) for every confirm. One result per event: after a
    /// send fails, the rest are not sent.
    pub async fn publish_all(&self, events: Vec<OutgoingEvent<'_>>) -> Vec<Result<(), RpcError>> {
        let count = events.len();
        let all = async {
            let channel = self.link.channel().ok_or(RpcError::NotConnected)?;
            let mut confirms = Vec::with_capacity(count);
            for event in events {
                // `user_id`: the broker vouches for the publisher (it refuses
                // any other than the connection's login), so a consumer can
                // trust an event only from the service that owns it
                // (docs/security.md).
                let properties = BasicProperties::default()
                    .with_content_type("application/json".into())
                    .with_delivery_mode(PERSISTENT)
                    .with_message_id(event.message_id.into())
                    .with_user_id(self.link.user().into())
                    .with_headers(event.headers);
                let sent = send_to_exchange(
                    &channel,
                    &self.exchange,
                    event.routing_key,
                    event.body,
                    properties,
                )
                .await;
                match sent {
                    Ok(confirm) => confirms.push(confirm),
                    Err(e) => return Ok((confirms, Some(e))),
                }
            }
            Ok::<_, RpcError>((confirms, None))
        };
        let outcome = tokio::time::timeout(self.timeout, async {
            let (confirms, failed) = all.await?;
            let mut results = Vec::with_capacity(count);
            for confirm in confirms {
                results.push(confirmed(confirm).await);
            }
            if let Some(e) = failed {
                results.push(Err(e));
            }
            Ok::<_, RpcError>(results)
        })
        .await
        .unwrap_or(Err(RpcError::Timeout(self.timeout)));
        let mut results = match outcome {
            Ok(results) => results,
            Err(e) => vec![Err(e)],
        };
        // Those never sent (or whose confirm the deadline cut off).
        results.resize_with(count, || {
            Err(RpcError::Transport(
                "not published: an event before it in the batch failed".into(),
            ))
        });
        results
    }

    pub fn is_connected(&self) -> bool {
        self.link.is_connected()
    }

    /// Stops reconnecting and closes the link — for everything on it.
    pub fn close(&self) {
        self.link.close();
    }

    /// Waits (bounded) until connected; for start-up and tests.
    pub async fn wait_connected(&self, within: Duration) -> bool {
        self.link.wait_connected(within).await
    }
}
