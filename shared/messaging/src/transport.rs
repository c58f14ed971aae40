//! One API over every transport, as `@nestjs/microservices` has one
//! `ClientProxy` over all of its: a [`Client`] sends and emits whatever
//! carries it, and [`Connections`] opens one connection per transport a
//! process uses, shared by all of its clients. (Serving on several
//! transports at once is [`crate::Listeners`].)

use std::{fmt, str::FromStr, time::Duration};

use contracts::identity::Caller;
use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value;

use crate::{
    AmqpConfig, Link, RpcClient, RpcError,
    nats::{self, NatsClient, NatsConfig, NatsError},
    redis::{RedisClient, RedisConfig, RedisError, client::RedisLink},
};

/// A NestJS transport this crate speaks; configured by name (`amqp`,
/// `nats`, `redis`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// RabbitMQ (`Transport.RMQ`): durable queues, manual ack, dead letters.
    Amqp,
    /// Core NATS (`Transport.NATS`): at most once, queue groups.
    Nats,
    /// Redis pub/sub (`Transport.REDIS`): at most once, every replica.
    Redis,
}

impl Transport {
    pub fn name(self) -> &'static str {
        match self {
            Self::Amqp => "amqp",
            Self::Nats => "nats",
            Self::Redis => "redis",
        }
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
            other => Err(format!(
                "unknown transport {other:?}; expected amqp, nats or redis"
            )),
        }
    }
}

/// The NATS subject or Redis channel a route is served on: the pattern
/// itself, as NestJS does — except the health check, which every service
/// answers and so is made the service's own (`orders_queue.health_check`):
/// a NestJS peer has no such pattern, and without the prefix the gateway's
/// check of one service could be answered by another.
pub fn subject(group: &str, route: &str) -> String {
    if route == crate::router::HEALTH_CHECK {
        format!("{group}.{route}")
    } else {
        route.to_owned()
    }
}

/// A client of one service, over whichever transport reaches it. Cheap to
/// clone.
#[derive(Debug, Clone)]
pub enum Client {
    Amqp(RpcClient),
    Nats(NatsClient),
    Redis(RedisClient),
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
        }
    }

    /// NestJS's `emit`: an event, no reply.
    pub async fn emit<D: Serialize>(&self, pattern: &str, data: &D) -> Result<(), RpcError> {
        match self {
            Self::Amqp(client) => client.emit(pattern, data).await,
            Self::Nats(client) => client.emit(pattern, data).await,
            Self::Redis(client) => client.emit(pattern, data).await,
        }
    }

    pub fn is_connected(&self) -> bool {
        match self {
            Self::Amqp(client) => client.is_connected(),
            Self::Nats(client) => client.is_connected(),
            Self::Redis(client) => client.is_connected(),
        }
    }

    /// The client's own deadline.
    pub fn timeout(&self) -> Duration {
        match self {
            Self::Amqp(client) => client.timeout(),
            Self::Nats(client) => client.timeout(),
            Self::Redis(client) => client.timeout(),
        }
    }

    pub fn transport(&self) -> Transport {
        match self {
            Self::Amqp(_) => Transport::Amqp,
            Self::Nats(_) => Transport::Nats,
            Self::Redis(_) => Transport::Redis,
        }
    }
}

/// Why a connection could not even be attempted (a malformed URL, mostly).
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error(transparent)]
    Nats(#[from] NatsError),
    #[error(transparent)]
    Redis(#[from] RedisError),
}

/// Where each transport's broker is: what [`Connections`] and
/// [`crate::Listeners`] connect to when a transport is in use.
#[derive(Debug, Clone)]
pub struct Brokers {
    pub amqp: AmqpConfig,
    pub nats: NatsConfig,
    pub redis: RedisConfig,
}

/// The connections a process opens to reach other services: one per
/// transport in use, opened by the first client that needs it, connecting
/// (and reconnecting) in the background.
#[derive(Debug)]
pub struct Connections {
    brokers: Brokers,
    link: Option<Link>,
    nats_client: Option<async_nats::Client>,
    redis: Option<RedisLink>,
}

impl Connections {
    pub fn new(brokers: Brokers) -> Self {
        Self {
            brokers,
            link: None,
            nats_client: None,
            redis: None,
        }
    }

    /// A client for the service consuming `queue` (on NATS: serving in
    /// queue group `queue`) over `transport`, whose requests wait at most
    /// `timeout`.
    pub async fn client(
        &mut self,
        transport: Transport,
        queue: &str,
        timeout: Duration,
    ) -> Result<Client, ConnectError> {
        Ok(match transport {
            Transport::Amqp => {
                let link = self
                    .link
                    .get_or_insert_with(|| Link::start(self.brokers.amqp.clone()));
                Client::Amqp(RpcClient::on(link, queue, timeout))
            }
            Transport::Nats => {
                if self.nats_client.is_none() {
                    self.nats_client = Some(nats::connect(&self.brokers.nats).await?);
                }
                let connection = self.nats_client.as_ref().expect("connected above");
                Client::Nats(NatsClient::new(connection, queue, timeout))
            }
            Transport::Redis => {
                if self.redis.is_none() {
                    self.redis = Some(RedisLink::start(&self.brokers.redis)?);
                }
                let link = self.redis.as_ref().expect("started above");
                Client::Redis(RedisClient::new(link, queue, timeout))
            }
        })
    }

    /// One readiness check per open connection: `rabbitmq`, `nats`, `redis`.
    pub fn readiness_checks(&self) -> Vec<platform::admin::Check> {
        let mut checks = Vec::new();
        if let Some(link) = &self.link {
            checks.push(link.readiness_check("rabbitmq"));
        }
        if let Some(client) = &self.nats_client {
            checks.push(nats::readiness_check(client, "nats"));
        }
        if let Some(link) = &self.redis {
            checks.push(link.readiness_check("redis"));
        }
        checks
    }

    /// Stops reconnecting and closes the RabbitMQ link and Redis (NATS
    /// closes with its last client).
    pub fn close(&self) {
        if let Some(link) = &self.link {
            link.close();
        }
        if let Some(link) = &self.redis {
            link.close();
        }
    }

    /// Waits (bounded) until every open connection is up.
    pub async fn wait_connected(&self, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        let left = || deadline.saturating_duration_since(tokio::time::Instant::now());
        if let Some(link) = &self.link
            && !link.wait_connected(left()).await
        {
            return false;
        }
        if let Some(client) = &self.nats_client
            && !nats::wait_connected(client, left()).await
        {
            return false;
        }
        match &self.redis {
            Some(link) => link.wait_connected(left()).await,
            None => true,
        }
    }
}
