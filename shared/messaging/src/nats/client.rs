//! The client face on NATS: what [`crate::RpcClient`] does on RabbitMQ,
//! to a NestJS `@MessagePattern` on `Transport.NATS` or to [`super::serve`].

use std::time::Duration;

use async_nats::{HeaderMap, Request, client::RequestErrorKind};
use contracts::identity::Caller;
use serde::Serialize;
use serde_json::Value;

use crate::{
    RpcError, text_headers,
    wire::{self, Reply},
};

/// Requests and events for one service (its queue group `group`) over a
/// shared NATS connection. Cheap to clone.
#[derive(Debug, Clone)]
pub struct NatsClient {
    client: async_nats::Client,
    group: String,
    timeout: Duration,
    caller: Option<Caller>,
}

impl NatsClient {
    /// A client for the service serving in queue group `group` (its queue
    /// name, e.g. `orders_queue`), whose requests wait at most `timeout`.
    pub fn new(client: &async_nats::Client, group: impl Into<String>, timeout: Duration) -> Self {
        Self {
            client: client.clone(),
            group: group.into(),
            timeout,
            caller: None,
        }
    }

    /// This client sending its requests for `caller` (see
    /// [`crate::RpcClient::on_behalf_of`]): NATS headers `x-caller-id`,
    /// `x-caller-role`.
    #[must_use]
    pub fn on_behalf_of(&self, caller: Caller) -> Self {
        Self {
            caller: Some(caller),
            ..self.clone()
        }
    }

    pub fn is_connected(&self) -> bool {
        super::is_connected(&self.client)
    }

    /// Waits (bounded) until connected; for start-up and tests.
    pub async fn wait_connected(&self, within: Duration) -> bool {
        super::wait_connected(&self.client, within).await
    }

    /// A readiness check named `name` that passes while connected.
    pub fn readiness_check(&self, name: &'static str) -> platform::admin::Check {
        super::readiness_check(&self.client, name)
    }

    /// A request and its reply, within `timeout`. Counted and timed like
    /// the AMQP client's calls (`messaging_client_*`, `queue` = the group).
    pub async fn send_value_within(
        &self,
        pattern: &str,
        data: Value,
        timeout: Duration,
    ) -> Result<Value, RpcError> {
        let call = self.request(pattern, data, timeout);
        crate::metrics::timed_call(&self.group, pattern, call).await
    }

    async fn request(
        &self,
        pattern: &str,
        data: Value,
        timeout: Duration,
    ) -> Result<Value, RpcError> {
        if !self.is_connected() {
            return Err(RpcError::NotConnected);
        }
        let id = uuid::Uuid::new_v4().to_string();
        let body = wire::encode(pattern, &data, Some(&id))?;
        let request = Request::new()
            .headers(text_headers::request::<HeaderMap>(
                timeout,
                self.caller.as_ref(),
            ))
            .payload(body.into())
            .timeout(Some(timeout));
        let subject = crate::router::subject(&self.group, pattern);
        let reply = match self.client.send_request(subject, request).await {
            Ok(reply) => reply,
            Err(e) => {
                return Err(match e.kind() {
                    RequestErrorKind::TimedOut => RpcError::Timeout(timeout),
                    RequestErrorKind::NoResponders => RpcError::NoServer,
                    _ => RpcError::Transport(e.to_string()),
                });
            }
        };
        let reply: Reply = serde_json::from_slice(&reply.payload)?;
        reply.into_result().map_err(RpcError::Remote)
    }

    /// Publishes an event (the envelope without `id`) on the pattern's
    /// subject, to every subscribed service (one member of each queue
    /// group). At most once: NATS keeps nothing for a subscriber that is
    /// not there. Returns once the server has it (a flush).
    pub async fn emit<D: Serialize>(&self, pattern: &str, data: &D) -> Result<(), RpcError> {
        if !self.is_connected() {
            return Err(RpcError::NotConnected);
        }
        let body = wire::encode(pattern, data, None)?;
        let headers: HeaderMap = text_headers::event();
        let publish = async {
            let subject = crate::router::subject(&self.group, pattern);
            self.client
                .publish_with_headers(subject, headers, body.into())
                .await
                .map_err(|e| RpcError::Transport(e.to_string()))?;
            self.client
                .flush()
                .await
                .map_err(|e| RpcError::Transport(e.to_string()))
        };
        tokio::time::timeout(self.timeout, publish)
            .await
            .map_err(|_| RpcError::Timeout(self.timeout))?
    }

    /// The client's own deadline.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }
}
