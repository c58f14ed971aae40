//! The RabbitMQ carrier of a [`Client`]: `send` (request-response with a
//! deadline) and `emit` (fire-and-forget event), like NestJS's
//! `ClientProxy`, minus its failure modes: every request has a deadline,
//! every publish is confirmed, and a lost connection fails in-flight
//! requests at once and is re-established in the background.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lapin::{
    BasicProperties,
    types::{AMQPValue, FieldTable},
};
use serde_json::{Value, value::RawValue};
use tokio::sync::oneshot;

use contracts::identity::Caller;

use crate::{
    Carrier, Client, Link, RpcError, Transport,
    amqp::publish::{PERSISTENT, TRANSIENT, publish_mandatory},
    client::Outgoing,
    headers::{CALLER_ID_HEADER, CALLER_ROLE_HEADER, DEADLINE_HEADER},
    wire::{self, DIRECT_REPLY_TO},
};

/// The carrier of a client bound to one queue: requests over direct
/// reply-to, events published to the queue, both with publisher confirms.
/// Every carrier of one [`Link`] shares its connection, channel and reply
/// consumer.
#[derive(Debug)]
struct AmqpCarrier {
    link: Link,
    queue: String,
}

impl Client {
    /// A client for `queue` on `link`, whose `send`s wait at most `timeout`
    /// for their reply. The queue is its server's: the client declares
    /// nothing (its broker account may not — it could otherwise delete or
    /// redeclare a service's queue), and a request to a queue that does not
    /// exist yet is returned by the broker and answered
    /// [`RpcError::NoServer`] at once.
    pub fn amqp(link: &Link, queue: impl Into<String>, timeout: Duration) -> Self {
        let carrier = AmqpCarrier {
            link: link.clone(),
            queue: queue.into(),
        };
        Self::new(carrier, timeout)
    }
}

impl Carrier for AmqpCarrier {
    const TRANSPORT: Transport = Transport::Amqp;

    fn destination(&self) -> &str {
        &self.queue
    }

    fn is_connected(&self) -> bool {
        self.link.is_connected()
    }

    async fn request(&self, request: Outgoing<'_>) -> Result<Value, RpcError> {
        let Outgoing {
            pattern,
            data,
            timeout,
            caller,
        } = request;
        let channel = self.link.channel().ok_or(RpcError::NotConnected)?;

        // Any string works as an id; NestJS uses 21-character random ones.
        let id = uuid::Uuid::new_v4().to_string();
        let body = wire::encode(pattern, data, Some(&id))?;
        let (tx, rx) = oneshot::channel();
        let _registration = self.link.inner.register(&id, tx);

        let properties = BasicProperties::default()
            .with_reply_to(DIRECT_REPLY_TO.into())
            .with_correlation_id(id.as_str().into())
            .with_message_id(id.as_str().into())
            .with_content_type("application/json".into())
            // Transient, like NestJS's: a request outlives neither its
            // deadline (seconds) nor the connection its reply would come
            // back on, which a broker restart closes; writing it to disk
            // would cost the broker for nothing. Events stay persistent.
            .with_delivery_mode(TRANSIENT)
            // The broker vouches for the sender (it refuses any `user_id`
            // but the login): servers run requests only from the accounts
            // allowed to call (`ServerConfig::callers`).
            .with_user_id(self.link.user().into())
            // The broker drops the request if nobody dequeued it by its
            // deadline, so a late consumer never executes it.
            .with_expiration(timeout.as_millis().max(1).to_string().into())
            .with_headers(request_headers(timeout, caller));

        // The Client bounds the whole call, publish and reply, by `timeout`.
        publish_mandatory(&channel, &self.queue, &body, properties).await?;
        match rx.await {
            Err(_) => Err(RpcError::ConnectionLost),
            Ok(reply) => reply?.into_result().map_err(RpcError::Remote),
        }
    }

    /// Publishes an event to the queue (no reply), as NestJS's
    /// `ClientProxy.emit` does, and waits for the broker's confirm — for a
    /// NestJS event handler consuming that queue.
    async fn emit(&self, pattern: &str, data: &RawValue) -> Result<(), RpcError> {
        let channel = self.link.channel().ok_or(RpcError::NotConnected)?;
        let body = wire::encode(pattern, &data, None)?;
        let mut headers = FieldTable::default();
        crate::amqp::trace::inject(&mut headers);
        let properties = BasicProperties::default()
            .with_content_type("application/json".into())
            .with_delivery_mode(PERSISTENT)
            .with_user_id(self.link.user().into())
            .with_headers(headers);
        publish_mandatory(&channel, &self.queue, &body, properties).await
    }
}

/// The headers of a request: its deadline, the trace context, and who it is
/// made for.
fn request_headers(timeout: Duration, caller: Option<&Caller>) -> FieldTable {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let deadline_ms = (now + timeout).as_millis();
    let mut headers = FieldTable::default();
    crate::amqp::trace::inject(&mut headers);
    headers.insert(
        DEADLINE_HEADER.into(),
        AMQPValue::LongLongInt(i64::try_from(deadline_ms).unwrap_or(i64::MAX)),
    );
    if let Some(caller) = caller {
        let text = |s: String| AMQPValue::LongString(s.into());
        headers.insert(CALLER_ID_HEADER.into(), text(caller.user_id.to_string()));
        headers.insert(
            CALLER_ROLE_HEADER.into(),
            text(caller.role.as_str().to_owned()),
        );
    }
    headers
}
