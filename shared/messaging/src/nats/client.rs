//! The NATS carrier of a [`Client`], to a NestJS `@MessagePattern` on
//! `Transport.NATS` or to [`super::serve`]: requests on the pattern's
//! subject with NATS's own request-reply, events published there.

use std::time::Duration;

use async_nats::{HeaderMap, Request, client::RequestErrorKind};
use serde_json::{Value, value::RawValue};

use crate::{
    Carrier, Client, RpcError, Transport,
    client::Outgoing,
    error::TransportError,
    router::subject,
    text_headers,
    wire::{self, Reply},
};

/// Requests and events for one service (its queue group) over a shared
/// NATS connection.
#[derive(Debug)]
struct NatsCarrier {
    connection: async_nats::Client,
    group: String,
}

impl Client {
    /// A client for the service serving in queue group `group` (its queue
    /// name, e.g. `orders_queue`) on `connection`, whose requests wait at
    /// most `timeout`.
    pub fn nats(
        connection: &async_nats::Client,
        group: impl Into<String>,
        timeout: Duration,
    ) -> Self {
        let carrier = NatsCarrier {
            connection: connection.clone(),
            group: group.into(),
        };
        Self::new(carrier, timeout)
    }
}

impl Carrier for NatsCarrier {
    const TRANSPORT: Transport = Transport::Nats;

    fn destination(&self) -> &str {
        &self.group
    }

    fn is_connected(&self) -> bool {
        super::is_connected(&self.connection)
    }

    async fn request(&self, request: Outgoing<'_>) -> Result<Value, RpcError> {
        if !self.is_connected() {
            return Err(RpcError::NotConnected);
        }
        let id = uuid::Uuid::new_v4().to_string();
        let body = wire::encode(request.pattern, request.data, Some(&id))?;
        let headers = text_headers::request::<HeaderMap>(request.timeout, request.caller);
        let message = Request::new()
            .headers(headers)
            .payload(body.into())
            .timeout(Some(request.timeout));
        let subject = subject(&self.group, request.pattern);
        let reply = match self.connection.send_request(subject, message).await {
            Ok(reply) => reply,
            Err(e) => {
                return Err(match e.kind() {
                    RequestErrorKind::TimedOut => RpcError::Timeout(request.timeout),
                    RequestErrorKind::NoResponders => RpcError::NoServer,
                    _ => TransportError::Nats(e.to_string()).into(),
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
    async fn emit(&self, pattern: &str, data: &RawValue) -> Result<(), RpcError> {
        if !self.is_connected() {
            return Err(RpcError::NotConnected);
        }
        let body = wire::encode(pattern, &data, None)?;
        let headers: HeaderMap = text_headers::event();
        let failed = |e: &dyn std::fmt::Display| TransportError::Nats(e.to_string());
        self.connection
            .publish_with_headers(subject(&self.group, pattern), headers, body.into())
            .await
            .map_err(|e| failed(&e))?;
        self.connection.flush().await.map_err(|e| failed(&e))?;
        Ok(())
    }
}
