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
};

/// A NestJS transport this crate speaks; configured by name (`amqp`,
/// `nats`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// RabbitMQ (`Transport.RMQ`): durable queues, manual ack, dead letters.
    Amqp,
    /// Core NATS (`Transport.NATS`): at most once, queue groups.
    Nats,
}

impl Transport {
    pub fn name(self) -> &'static str {
        match self {
            Self::Amqp => "amqp",
            Self::Nats => "nats",
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
            other => Err(format!(
                "unknown transport {other:?}; expected amqp or nats"
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
}

impl Client {
    /// This client sending its requests for `caller` (headers `x-caller-id`,
    /// `x-caller-role` on every transport).
    #[must_use]
    pub fn on_behalf_of(&self, caller: Caller) -> Self {
        match self {
            Self::Amqp(client) => Self::Amqp(client.on_behalf_of(caller)),
            Self::Nats(client) => Self::Nats(client.on_behalf_of(caller)),
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
        }
    }

    /// NestJS's `emit`: an event, no reply.
    pub async fn emit<D: Serialize>(&self, pattern: &str, data: &D) -> Result<(), RpcError> {
        match self {
            Self::Amqp(client) => client.emit(pattern, data).await,
            Self::Nats(client) => client.emit(pattern, data).await,
        }
    }

    pub fn is_connected(&self) -> bool {
        match self {
            Self::Amqp(client) => client.is_connected(),
            Self::Nats(client) => client.is_connected(),
        }
    }

    /// The client's own deadline.
    pub fn timeout(&self) -> Duration {
        match self {
            Self::Amqp(client) => client.timeout(),
            Self::Nats(client) => client.timeout(),
        }
    }

    pub fn transport(&self) -> Transport {
        match self {
            Self::Amqp(_) => Transport::Amqp,
            Self::Nats(_) => Transport::Nats,
        }
    }
}

/// The connections a process opens to reach other services: one per
/// transport in use, opened by the first client that needs it, connecting
/// (and reconnecting) in the background.
#[derive(Debug)]
pub struct Connections {
    amqp: AmqpConfig,
    nats: NatsConfig,
    link: Option<Link>,
    nats_client: Option<async_nats::Client>,
}

impl Connections {
    pub fn new(amqp: AmqpConfig, nats: NatsConfig) -> Self {
        Self {
            amqp,
            nats,
            link: None,
            nats_client: None,
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
    ) -> Result<Client, NatsError> {
        Ok(match transport {
            Transport::Amqp => {
                let link = self
                    .link
                    .get_or_insert_with(|| Link::start(self.amqp.clone()));
                Client::Amqp(RpcClient::on(link, queue, timeout))
            }
            Transport::Nats => {
                if self.nats_client.is_none() {
                    self.nats_client = Some(nats::connect(&self.nats).await?);
                }
                let connection = self.nats_client.as_ref().expect("connected above");
                Client::Nats(NatsClient::new(connection, queue, timeout))
            }
        })
    }

    /// One readiness check per open connection: `rabbitmq`, `nats`.
    pub fn readiness_checks(&self) -> Vec<platform::admin::Check> {
        let mut checks = Vec::new();
        if let Some(link) = &self.link {
            checks.push(link.readiness_check("rabbitmq"));
        }
        if let Some(client) = &self.nats_client {
            checks.push(nats::readiness_check(client, "nats"));
        }
        checks
    }

    /// Stops reconnecting and closes the RabbitMQ link (NATS closes with
    /// its last client).
    pub fn close(&self) {
        if let Some(link) = &self.link {
            link.close();
        }
    }

    /// Waits (bounded) until every open connection is up.
    pub async fn wait_connected(&self, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        if let Some(link) = &self.link
            && !link.wait_connected(within).await
        {
            return false;
        }
        match &self.nats_client {
            Some(client) => {
                let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                nats::wait_connected(client, left).await
            }
            None => true,
        }
    }
}
