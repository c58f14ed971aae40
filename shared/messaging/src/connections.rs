//! The connections a process opens to reach other services — one per
//! transport in use, shared by all of its [`Client`]s — and where each
//! transport's server is.

use std::time::Duration;

use crate::{
    AmqpConfig, Client, Link, RpcError, Transport,
    nats::{self, NatsConfig, NatsError},
    redis::{RedisConfig, RedisError, RedisLink},
};

/// Why a connection could not even be attempted (a malformed URL, mostly).
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error(transparent)]
    Nats(#[from] NatsError),
    #[error(transparent)]
    Redis(#[from] RedisError),
    #[error("tcp needs mutual TLS: set GRPC_TLS_CA, GRPC_TLS_CERT and GRPC_TLS_KEY")]
    TcpWithoutTls,
    #[error(transparent)]
    Tls(#[from] platform::tls::streams::StreamTlsError),
    #[error("TCP: {0}")]
    Tcp(#[from] RpcError),
    #[error("binding {0}: {1}")]
    Bind(std::net::SocketAddr, std::io::Error),
}

/// Where each transport's broker is: what [`Connections`] and
/// [`crate::Listeners`] connect to when a transport is in use.
#[derive(Debug, Clone)]
pub struct Brokers {
    pub amqp: AmqpConfig,
    pub nats: NatsConfig,
    pub redis: RedisConfig,
    /// This process's mutual-TLS identity, for TCP (required there).
    pub tls: Option<platform::tls::GrpcTls>,
}

/// The service a client calls: its queue (the queue group on NATS, the
/// group naming its health channel on Redis) and, for TCP, where it listens
/// and the name its certificate must carry.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub queue: &'a str,
    pub service: &'a str,
    pub tcp_addr: &'a str,
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

    /// A client for `target` over `transport`, whose requests wait at most
    /// `timeout`.
    pub async fn client(
        &mut self,
        transport: Transport,
        target: Target<'_>,
        timeout: Duration,
    ) -> Result<Client, ConnectError> {
        let queue = target.queue;
        Ok(match transport {
            Transport::Amqp => {
                let link = self
                    .link
                    .get_or_insert_with(|| Link::start(self.brokers.amqp.clone()));
                Client::amqp(link, queue, timeout)
            }
            Transport::Nats => {
                if self.nats_client.is_none() {
                    self.nats_client = Some(nats::connect(&self.brokers.nats).await?);
                }
                let connection = self.nats_client.as_ref().expect("connected above");
                Client::nats(connection, queue, timeout)
            }
            Transport::Redis => {
                if self.redis.is_none() {
                    self.redis = Some(RedisLink::start(&self.brokers.redis)?);
                }
                let link = self.redis.as_ref().expect("started above");
                Client::redis(link, queue, timeout)
            }
            Transport::Tcp => {
                let tls = self
                    .brokers
                    .tls
                    .as_ref()
                    .ok_or(ConnectError::TcpWithoutTls)?;
                Client::tcp_tls(
                    target.tcp_addr,
                    timeout,
                    tls.stream_client()?,
                    target.service,
                )?
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
