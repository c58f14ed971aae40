//! Publishing events to a topic exchange, for the outbox relays: persistent,
//! confirmed, and stamped with the publishing account.

use std::time::Duration;

use lapin::{BasicProperties, types::FieldTable};

use crate::{
    AmqpConfig, Link, RpcError,
    amqp::publish::{PERSISTENT, confirmed, send_to_exchange},
    error::TransportError,
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
    /// instead of one per event. Then waits for every confirm, all within
    /// the publisher's timeout. One result per event: after a send fails,
    /// the rest are not sent.
    pub async fn publish_all(&self, events: Vec<OutgoingEvent<'_>>) -> Vec<Result<(), RpcError>> {
        let count = events.len();
        let deadline = tokio::time::Instant::now() + self.timeout;
        let timed_out = || RpcError::Timeout(self.timeout);
        let mut confirms = Vec::with_capacity(count);
        let mut failure = None;
        match self.link.channel() {
            None => failure = Some(RpcError::NotConnected),
            Some(channel) => {
                for event in events {
                    // `user_id`: the broker vouches for the publisher (it
                    // refuses any other than the connection's login), so a
                    // consumer can trust an event only from the service
                    // that owns it (docs/security.md).
                    let properties = BasicProperties::default()
                        .with_content_type("application/json".into())
                        .with_delivery_mode(PERSISTENT)
                        .with_message_id(event.message_id.into())
                        .with_user_id(self.link.user().into())
                        .with_headers(event.headers);
                    let send = send_to_exchange(
                        &channel,
                        &self.exchange,
                        event.routing_key,
                        event.body,
                        properties,
                    );
                    match tokio::time::timeout_at(deadline, send).await {
                        Ok(Ok(confirm)) => confirms.push(confirm),
                        Ok(Err(e)) => failure = Some(e),
                        Err(_) => failure = Some(timed_out()),
                    }
                    if failure.is_some() {
                        break;
                    }
                }
            }
        }
        let mut results = Vec::with_capacity(count);
        for confirm in confirms {
            let result = tokio::time::timeout_at(deadline, confirmed(confirm)).await;
            results.push(result.unwrap_or_else(|_| Err(timed_out())));
        }
        results.extend(failure.map(Err));
        // Those never sent, after the one that failed.
        results.resize_with(count, || Err(TransportError::AfterFailure.into()));
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
