//! One client for every transport, as `@nestjs/microservices` has one
//! `ClientProxy` over all of its: a [`Client`] holds what every call needs
//! — who it is made for, its deadline, its metrics — once, and hands the
//! rest to a [`Carrier`], the only part a transport writes.
//!
//! The carriers live beside their transports and each adds its constructor
//! to [`Client`]: `Client::amqp` (`amqp/client.rs`), `Client::nats`
//! (`nats/client.rs`), `Client::redis` (`redis/client.rs`), `Client::tcp`
//! (`tcp/client.rs`). A process usually gets its clients from
//! [`crate::Connections`], which opens one connection per transport.

use std::{fmt, sync::Arc, time::Duration};

use contracts::{identity::Caller, requests::Request};
use futures_util::future::BoxFuture;
use serde::{Serialize, de::DeserializeOwned};
use serde_json::{Value, value::RawValue};

use crate::{RpcError, Transport};

/// A request as a [`Carrier`] sends it.
#[derive(Debug, Clone, Copy)]
pub struct Outgoing<'a> {
    /// The NestJS pattern, e.g. `create_order`.
    pub pattern: &'a str,
    pub data: &'a Value,
    /// How long the caller waits. The client enforces it; a carrier tells
    /// the server (a deadline header, an AMQP expiration) so that a request
    /// nobody waits for any more is not run.
    pub timeout: Duration,
    /// Who the request is made for (headers `x-caller-id`, `x-caller-role`).
    pub caller: Option<&'a Caller>,
}

/// How a client's messages travel: what differs between transports, and
/// nothing else. The [`Client`] bounds every call by its deadline and
/// meters it, so a carrier need not.
pub trait Carrier: fmt::Debug + Send + Sync + 'static {
    const TRANSPORT: Transport;

    /// Where requests go, as the call metrics label it (`queue`): the
    /// queue, the NATS queue group, the Redis group, or the TCP address.
    fn destination(&self) -> &str;

    /// Whether the connection is up right now (a TCP carrier opens one on
    /// its next call).
    fn is_connected(&self) -> bool;

    /// Sends a request; resolves to the reply's data, or the remote's
    /// error as [`RpcError::Remote`].
    fn request(
        &self,
        request: Outgoing<'_>,
    ) -> impl Future<Output = Result<Value, RpcError>> + Send;

    /// NestJS's `emit`: publishes `data` (already JSON) as an event on
    /// `pattern`; no reply.
    fn emit(
        &self,
        pattern: &str,
        data: &RawValue,
    ) -> impl Future<Output = Result<(), RpcError>> + Send;
}

/// [`Carrier`] as a trait object, so that one [`Client`] type holds any:
/// the futures boxed, once, here.
trait AnyCarrier: fmt::Debug + Send + Sync {
    fn transport(&self) -> Transport;
    fn destination(&self) -> &str;
    fn is_connected(&self) -> bool;
    fn request<'a>(&'a self, request: Outgoing<'a>) -> BoxFuture<'a, Result<Value, RpcError>>;
    fn emit<'a>(
        &'a self,
        pattern: &'a str,
        data: &'a RawValue,
    ) -> BoxFuture<'a, Result<(), RpcError>>;
}

impl<C: Carrier> AnyCarrier for C {
    fn transport(&self) -> Transport {
        C::TRANSPORT
    }

    fn destination(&self) -> &str {
        Carrier::destination(self)
    }

    fn is_connected(&self) -> bool {
        Carrier::is_connected(self)
    }

    fn request<'a>(&'a self, request: Outgoing<'a>) -> BoxFuture<'a, Result<Value, RpcError>> {
        Box::pin(Carrier::request(self, request))
    }

    fn emit<'a>(
        &'a self,
        pattern: &'a str,
        data: &'a RawValue,
    ) -> BoxFuture<'a, Result<(), RpcError>> {
        Box::pin(Carrier::emit(self, pattern, data))
    }
}

/// A client of one service, over whichever transport reaches it. Cheap to
/// clone: clones share the carrier (and its connection).
#[derive(Debug, Clone)]
pub struct Client {
    carrier: Arc<dyn AnyCarrier>,
    timeout: Duration,
    /// Who the requests are made for (see [`Client::on_behalf_of`]).
    caller: Option<Caller>,
}

impl Client {
    /// A client over `carrier` whose calls wait at most `timeout`.
    pub fn new(carrier: impl Carrier, timeout: Duration) -> Self {
        crate::metrics::describe();
        Self {
            carrier: Arc::new(carrier),
            timeout,
            caller: None,
        }
    }

    /// This client (same connection) sending its requests for `caller`:
    /// the `x-caller-id` and `x-caller-role` headers tell the server who
    /// the gateway verified, and the server checks access again — believing
    /// them only from a caller its transport proves (docs/security.md). The
    /// NestJS envelope is unchanged; a NestJS server sees them as headers.
    #[must_use]
    pub fn on_behalf_of(&self, caller: Caller) -> Self {
        Self {
            caller: Some(caller),
            ..self.clone()
        }
    }

    /// Sends the typed `request` to its pattern and decodes its reply
    /// ([`contracts::requests::Request`]), within the client's deadline.
    pub async fn call<R: Request>(&self, request: &R) -> Result<R::Reply, RpcError> {
        self.send(R::PATTERN, request).await
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

    /// [`Self::send_value`] with a deadline of its own, e.g. a short one for
    /// a health check. Counted and timed by destination, pattern and outcome
    /// (`messaging_client_*`): `pattern` must be one of the caller's
    /// constants, never input, or it would make series without bound.
    pub async fn send_value_within(
        &self,
        pattern: &str,
        data: Value,
        timeout: Duration,
    ) -> Result<Value, RpcError> {
        let request = self.carrier.request(Outgoing {
            pattern,
            data: &data,
            timeout,
            caller: self.caller.as_ref(),
        });
        crate::metrics::timed_call_within(self.carrier.destination(), pattern, timeout, request)
            .await
    }

    /// NestJS's `emit`: an event, no reply; done once the transport has it
    /// (RabbitMQ: the broker's confirm), within the client's deadline. An
    /// event that must not be lost with the sender's transaction goes
    /// through the outbox instead (docs/outbox.md).
    pub async fn emit<D: Serialize>(&self, pattern: &str, data: &D) -> Result<(), RpcError> {
        // As the caller's serde writes it, members in its order.
        let data = serde_json::value::to_raw_value(data)?;
        tokio::time::timeout(self.timeout, self.carrier.emit(pattern, &data))
            .await
            .map_err(|_| RpcError::Timeout(self.timeout))?
    }

    pub fn is_connected(&self) -> bool {
        self.carrier.is_connected()
    }

    /// Waits (bounded) until connected; for start-up and tests.
    pub async fn wait_connected(&self, within: Duration) -> bool {
        crate::connected::wait_until(within, || self.is_connected()).await
    }

    /// The client's own deadline.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    pub fn transport(&self) -> Transport {
        self.carrier.transport()
    }
}
