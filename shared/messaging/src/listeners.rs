//! One router served on several transports at once — NestJS's hybrid
//! application with one microservice per transport (`TRANSPORTS=amqp,nats`).
//! The handlers do not change with the transport; what each transport
//! guarantees does (docs/transports.md).

use tokio_util::sync::CancellationToken;

use crate::{
    Connected, Router, ServerConfig, Transport, nats,
    redis::{self, RedisConfig},
    transport::ConnectError,
};

/// `TRANSPORTS` unless set: RabbitMQ only.
pub const DEFAULT_TRANSPORTS: &str = "amqp";

/// `TRANSPORTS`: the transports a serving service listens on, a comma list
/// (`amqp,nats` serves both). Read here, once, for every service that serves.
pub fn transports_from_env() -> Result<Vec<Transport>, platform::env::ConfigError> {
    let list = platform::env::string_or("TRANSPORTS", DEFAULT_TRANSPORTS);
    Transport::parse_list(&list)
        .map_err(|reason| platform::env::invalid("TRANSPORTS", &list, reason))
}

/// The transports a service serves on, each with its readiness flag.
#[derive(Debug)]
pub struct Listeners {
    listening: Vec<(Transport, Connected)>,
    nats: Option<async_nats::Client>,
    redis: Option<::redis::Client>,
}

impl Listeners {
    /// Ready to serve on `transports`; a NATS connection (if NATS is one of
    /// them) is opened now and connects in the background; Redis connects
    /// when serving starts.
    pub async fn new(
        transports: &[Transport],
        brokers: &crate::transport::Brokers,
    ) -> Result<Self, ConnectError> {
        let nats = if transports.contains(&Transport::Nats) {
            Some(nats::connect(&brokers.nats).await?)
        } else {
            None
        };
        let redis = if transports.contains(&Transport::Redis) {
            Some(RedisConfig::client(&brokers.redis)?)
        } else {
            None
        };
        Ok(Self {
            listening: transports
                .iter()
                .map(|&transport| (transport, Connected::default()))
                .collect(),
            nats,
            redis,
        })
    }

    /// One readiness check per transport: `rabbitmq` while consuming,
    /// `nats` while subscribed and connected, `redis` while subscribed.
    pub fn readiness_checks(&self) -> Vec<platform::admin::Check> {
        self.listening
            .iter()
            .map(|(transport, connected)| match transport {
                Transport::Amqp => connected.readiness_check(),
                Transport::Nats => {
                    let client = self.nats.clone().expect("opened for NATS");
                    let subscribed = connected.clone();
                    platform::admin::Check::flag(
                        "nats",
                        move || subscribed.get() && nats::is_connected(&client),
                        "not subscribed to NATS; reconnecting",
                    )
                }
                Transport::Redis => {
                    let subscribed = connected.clone();
                    platform::admin::Check::flag(
                        "redis",
                        move || subscribed.get(),
                        "not subscribed to Redis; reconnecting",
                    )
                }
            })
            .collect()
    }

    /// Serves `router` on every transport until `shutdown`; returns once
    /// each has stopped and let its in-flight messages finish.
    pub async fn serve(self, config: ServerConfig, router: Router, shutdown: CancellationToken) {
        let servers = self.listening.into_iter().map(|(transport, connected)| {
            let (config, router, shutdown) = (config.clone(), router.clone(), shutdown.clone());
            let (nats, redis) = (self.nats.clone(), self.redis.clone());
            tokio::spawn(async move {
                match transport {
                    Transport::Amqp => crate::serve(config, router, connected, shutdown).await,
                    Transport::Nats => {
                        let client = nats.expect("opened in new()");
                        nats::serve(client, config, router, connected, shutdown).await
                    }
                    Transport::Redis => {
                        let client = redis.expect("made in new()");
                        redis::serve(client, config, router, connected, shutdown).await
                    }
                }
            })
        });
        for server in futures_util::future::join_all(servers).await {
            if let Err(e) = server {
                tracing::error!(error = %e, "a server task failed");
            }
        }
    }
}
