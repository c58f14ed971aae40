//! One API over every transport, as `@nestjs/microservices` has one
//! `ClientProxy` over all of its: a [`Client`] sends and emits whatever
//! carries it. ([`crate::Connections`] opens the connections a process's
//! clients share; serving on several transports at once is
//! [`crate::Listeners`].)

use std::{fmt, str::FromStr, time::Duration};

use contracts::{identity::Caller, requests::Request};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value;

use crate::{RpcClient, RpcError, nats::NatsClient, redis::RedisClient, tcp::TcpClient};

/// A NestJS transport this crate speaks; configured by name (`amqp`,
/// `nats`, `redis`, `tcp`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// RabbitMQ (`Transport.RMQ`): durable queues, manual ack, dead letters.
    Amqp,
    /// Core NATS (`Transport.NATS`): at most once, queue groups.
    Nats,
    /// Redis pub/sub (`Transport.REDIS`): at most once, every replica.
    Redis,
    /// NestJS's TCP transport (`Transport.TCP`), over mutual TLS: at most
    /// once, point to point.
    Tcp,
}

impl Transport {
    pub fn name(self) -> &'static str {
        match self {
            Self::Amqp => "amqp",
            Self::Nats => "nats",
            Self::Redis => "redis",
            Self::Tcp => "tcp",
        }
    }

    /// Checks that `tcp`, if among `transports` (read from `variable`), has
    /// the process's mutual-TLS identity (`tls`): NestJS's TCP envelope
    /// says nothing about who sends it; the certificates do.
    pub fn check_tls(
        transports: &[Self],
        variable: &str,
        tls: bool,
    ) -> Result<(), platform::env::ConfigError> {
        if transports.contains(&Self::Tcp) && !tls {
            return Err(platform::env::invalid(
                variable,
                "tcp",
                "tcp needs mutual TLS: set GRPC_TLS_CA, GRPC_TLS_CERT and GRPC_TLS_KEY",
            ));
        }
        Ok(())
    }

    /// A comma-separated list (`TRANSPORTS=amqp,nats`), without repeats.
    pub fn parse_list(list: &str) -> Result<Vec<Self>, String> {
        let mut transports = Vec::new();
        for name in list.split(',').map(str::trim) {
            let transport = name.parse()?;
            if transports.contains(&transport) {
                return Err(format!("{name} is listed twice"));
            }
            transports.push(transport);
        }
        Ok(transports)
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Transport {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name {
            "amqp" => Ok(Self::Amqp),
            "nats" => Ok(Self::Nats),
            "redis" => Ok(Self::Redis),
            "tcp" => Ok(Self::Tcp),
            other => Err(format!(
                "unknown transport {other:?}; expected amqp, nats, redis or tcp"
            )),
        }
    }
}

/// A client of one service, over whichever transport reaches it. Cheap to
/// clone.
#[derive(Debug, Clone)]
pub enum Client {
    Amqp(RpcClient),
    Nats(NatsClient),
    Redis(RedisClient),
    Tcp(TcpClient),
}

impl Client {
    /// This client sending its requests for `caller` (headers `x-caller-id`,
    /// `x-caller-role` on every transport).
    #[must_use]
    pub fn on_behalf_of(&self, caller: Caller) -> Self {
        match self {
            Self::Amqp(client) => Self::Amqp(client.on_behalf_of(caller)),
            Self::Nats(client) => Self::Nats(client.on_behalf_of(caller)),
            Self::Redis(client) => Self::Redis(client.on_behalf_of(caller)),
            Self::Tcp(client) => Self::Tcp(client.on_behalf_of(caller)),
        }
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
        self.send_value_within(pattern, data, self.timeout()).await
    }

    /// Sends the typed `request` to its pattern and decodes its reply
    /// ([`contracts::requests::Request`]), within the client's deadline.
    pub async fn call<R: Request>(&self, request: &R) -> Result<R::Reply, RpcError> {
        self.send(R::PATTERN, request).await
    }

    /// [`Self::send_value`] with a deadline of its own, e.g. a short one for
    /// a health check. `pattern` is a label of the call metrics: one of the
    /// caller's constants, never input.
    pub async fn send_value_within(
        &self,
        pattern: &str,
        data: Value,
        timeout: Duration,
    ) -> Result<Value, RpcError> {
        match self {
            Self::Amqp(client) => client.send_value_within(pattern, data, timeout).await,
            Self::Nats(client) => client.send_value_within(pattern, data, timeout).await,
            Self::Redis(client) => client.send_value_within(pattern, data, timeout).await,
            Self::Tcp(client) => client.send_value_within(pattern, data, timeout).await,
        }
    }

    /// NestJS's `emit`: an event, no reply.
    pub async fn emit<D: Serialize>(&self, pattern: &str, data: &D) -> Result<(), RpcError> {
        match self {
            Self::Amqp(client) => client.emit(pattern, data).await,
            Self::Nats(client) => client.emit(pattern, data).await,
            Self::Redis(client) => client.emit(pattern, data).await,
            Self::Tcp(client) => client.emit(pattern, data).await,
        }
    }

    pub fn is_connected(&self) -> bool {
        match self {
            Self::Amqp(client) => client.is_connected(),
            Self::Nats(client) => client.is_connected(),
            Self::Redis(client) => client.is_connected(),
            Self::Tcp(client) => client.is_connected(),
        }
    }

    /// The client's own deadline.
    pub fn timeout(&self) -> Duration {
        match self {
            Self::Amqp(client) => client.timeout(),
            Self::Nats(client) => client.timeout(),
            Self::Redis(client) => client.timeout(),
            Self::Tcp(client) => client.timeout(),
        }
    }

    pub fn transport(&self) -> Transport {
        match self {
            Self::Amqp(_) => Transport::Amqp,
            Self::Nats(_) => Transport::Nats,
            Self::Redis(_) => Transport::Redis,
            Self::Tcp(_) => Transport::Tcp,
        }
    }
}
