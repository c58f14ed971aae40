//! Publishing events to a topic exchange, for the outbox relays: persistent,
//! confirmed, and stamped with the publishing account.

use std::time::Duration;

use lapin::{BasicProperties, types::FieldTable};

use crate::{
    AmqpConfig, Link, RpcError,
    publish::{PERSISTENT, publish_to_exchange},
};

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
        let channel = self.link.channel().ok_or(RpcError::NotConnected)?;
        // `user_id`: the broker vouches for the publisher (it refuses any
        // other than the connection's login), so a consumer can trust an
        // event only from the service that owns it (docs/security.md).
        let properties = BasicProperties::default()
            .with_content_type("application/json".into())
            .with_delivery_mode(PERSISTENT)
            .with_message_id(message_id.into())
            .with_user_id(self.link.user().into())
            .with_headers(headers);
        let publish = publish_to_exchange(&channel, &self.exchange, routing_key, body, properties);
        tokio::time::timeout(self.timeout, publish)
            .await
            .map_err(|_| RpcError::Timeout(self.timeout))?
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
