//! The client face: `send` (request-response with a deadline) and `emit`
//! (fire-and-forget event), like NestJS's `ClientProxy`, minus its failure
//! modes: every `send` has a deadline, every publish is confirmed, and a lost
//! connection fails in-flight requests at once and is re-established in the
//! background.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lapin::{
    BasicProperties,
    types::{AMQPValue, FieldTable},
};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value;
use tokio::{sync::oneshot, time::Instant};

use contracts::identity::Caller;

use crate::{
    AmqpConfig, Link, RpcError,
    headers::{CALLER_ID_HEADER, CALLER_ROLE_HEADER, DEADLINE_HEADER},
    publish::{PERSISTENT, TRANSIENT, publish_mandatory},
    wire::{self, DIRECT_REPLY_TO},
};

/// A client bound to one queue, like a NestJS `ClientProxy`: `send`
/// (request-response over direct reply-to, with a deadline) and `emit`.
/// Cheap to clone; every client of one [`Link`] shares its connection,
/// channel and reply consumer.
#[derive(Debug, Clone)]
pub struct RpcClient {
    link: Link,
    queue: String,
    timeout: Duration,
    /// Who the requests are made for, sent as headers beside the envelope
    /// (see [`RpcClient::on_behalf_of`]).
    caller: Option<Caller>,
}

impl RpcClient {
    /// A client for `queue` on `link`, whose `send`s wait at most `timeout`
    /// for their reply. The queue is its server's: the client declares
    /// nothing (its broker account may not — it could otherwise delete or
    /// redeclare a service's queue), and a request to a queue that does not
    /// exist yet is returned by the broker and answered
    /// [`RpcError::NoServer`] at once.
    pub fn on(link: &Link, queue: impl Into<String>, timeout: Duration) -> Self {
        let queue = queue.into();
        Self {
            link: link.clone(),
            queue,
            timeout,
            caller: None,
        }
    }

    /// A client on a link of its own ([`RpcClient::on`] shares one).
    /// Connects in the background and returns at once.
    pub fn start(config: AmqpConfig, queue: impl Into<String>, timeout: Duration) -> Self {
        Self::on(&Link::start(config), queue, timeout)
    }

    /// This client (same connection) sending its requests for `caller`: the
    /// `x-caller-id` and `x-caller-role` headers tell the server who the
    /// gateway verified, and the server checks access again. The NestJS
    /// envelope is unchanged; a NestJS server sees them as headers.
    #[must_use]
    pub fn on_behalf_of(&self, caller: Caller) -> Self {
        Self {
            caller: Some(caller),
            ..self.clone()
        }
    }

    pub fn is_connected(&self) -> bool {
        self.link.is_connected()
    }

    /// The client's own deadline.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// A readiness check named `name` that passes while the link is
    /// connected.
    pub fn readiness_check(&self, name: &'static str) -> platform::admin::Check {
        self.link.readiness_check(name)
    }

    /// Waits (bounded) until the link is connected; for start-up and tests.
    pub async fn wait_connected(&self, within: Duration) -> bool {
        self.link.wait_connected(within).await
    }

    /// Sends a request and waits for its reply, within the client's deadline.
    pub async fn send<D: Serialize, R: DeserializeOwned>(
        &self,
        pattern: &str,
        data: &D,
    ) -> Result<R, RpcError> {
        let response = self
            .send_value(pattern, serde_json::to_value(data)?)
            .await?;
        Ok(serde_json::from_value(response)?)
    }

    pub async fn send_value(&self, pattern: &str, data: Value) -> Result<Value, RpcError> {
        self.send_value_within(pattern, data, self.timeout).await
    }

    /// Sends the typed `request` to its pattern and decodes its reply
    /// ([`contracts::requests::Request`]), within the client's deadline.
    pub async fn call<R: contracts::requests::Request>(
        &self,
        request: &R,
    ) -> Result<R::Reply, RpcError> {
        self.send(R::PATTERN, request).await
    }

    /// [`Self::send_value`] with a deadline of its own instead of the
    /// client's, e.g. a short one for a health check. Counted and timed,
    /// by queue, pattern and outcome (`messaging_client_*`): `pattern` must
    /// be one of the caller's constants, never input, or it would make
    /// series without bound.
    pub async fn send_value_within(
        &self,
        pattern: &str,
        data: Value,
        timeout: Duration,
    ) -> Result<Value, RpcError> {
        let call = self.request(pattern, data, timeout);
        crate::metrics::timed_call(&self.queue, pattern, call).await
    }

    async fn request(
        &self,
        pattern: &str,
        data: Value,
        timeout: Duration,
    ) -> Result<Value, RpcError> {
        let deadline = Instant::now() + timeout;
        let channel = self.link.channel().ok_or(RpcError::NotConnected)?;

        // Any string works as an id; NestJS uses 21-character random ones.
        let id = uuid::Uuid::new_v4().to_string();
        let body = wire::encode(pattern, &data, Some(&id))?;
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
            .with_headers(request_headers(timeout, self.caller.as_ref()));

        let publish = publish_mandatory(&channel, &self.queue, &body, properties);
        tokio::time::timeout_at(deadline, publish)
            .await
            .map_err(|_| RpcError::Timeout(timeout))??;

        match tokio::time::timeout_at(deadline, rx).await {
            Err(_) => Err(RpcError::Timeout(timeout)),
            Ok(Err(_)) => Err(RpcError::ConnectionLost),
            Ok(Ok(reply)) => reply?.into_result().map_err(RpcError::Remote),
        }
    }

    /// Publishes an event to the client's queue (no reply), as NestJS's
    /// `ClientProxy.emit` does, and waits for the broker's confirm — for a
    /// NestJS event handler consuming that queue. An event that must not be
    /// lost with the sender's transaction goes through the outbox instead
    /// (docs/outbox.md), published by an [`crate::EventPublisher`].
    pub async fn emit<D: Serialize>(&self, pattern: &str, data: &D) -> Result<(), RpcError> {
        let channel = self.link.channel().ok_or(RpcError::NotConnected)?;
        let body = wire::encode(pattern, data, None)?;
        let mut headers = FieldTable::default();
        crate::trace::inject(&mut headers);
        let properties = BasicProperties::default()
            .with_content_type("application/json".into())
            .with_delivery_mode(PERSISTENT)
            .with_user_id(self.link.user().into())
            .with_headers(headers);
        let publish = publish_mandatory(&channel, &self.queue, &body, properties);
        tokio::time::timeout(self.timeout, publish)
            .await
            .map_err(|_| RpcError::Timeout(self.timeout))?
    }

    /// Stops reconnecting and closes the link — for every client on it.
    pub fn close(&self) {
        self.link.close();
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
    crate::trace::inject(&mut headers);
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
