//! One router served on several transports at once — NestJS's hybrid
//! application with one microservice per transport (`TRANSPORTS=amqp,nats`).
//! The handlers do not change with the transport; what each transport
//! guarantees does (docs/transports.md).

use std::net::SocketAddr;

use contracts::identity::API_GATEWAY;
use platform::{
    env::{ConfigError, invalid, parse_or, string_or},
    tls::GrpcTls,
};
use secrecy::SecretString;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{
    Connected, Router, ServerConfig, Transport,
    connections::ConnectError,
    nats::{self, NatsConfig},
    redis::{self, RedisConfig},
    tcp::{self, TcpTrust},
};

/// `TRANSPORTS` unless set: RabbitMQ only.
pub const DEFAULT_TRANSPORTS: &str = "amqp";
/// `REQUEST_CALLERS` unless set: the gateway alone sends requests.
pub const DEFAULT_REQUEST_CALLERS: &str = API_GATEWAY;

/// Where and how a service serves requests — the same variables for every
/// service that serves, read here once.
#[derive(Debug, Clone)]
pub struct Serving {
    /// `TRANSPORTS`: a comma list (`amqp,nats` serves both).
    pub transports: Vec<Transport>,
    /// `NATS_URL`, when `nats` is one of them.
    pub nats_url: SecretString,
    /// `REDIS_URL`, when `redis` is one of them.
    pub redis_url: SecretString,
    /// `TCP_LISTEN_ADDR`, when `tcp` is one of them.
    pub tcp_listen_addr: SocketAddr,
    /// `REQUEST_CALLERS`: who may send requests, whose caller headers are
    /// believed — a comma list of identities the transport proves: the
    /// broker account on RabbitMQ (`ServerConfig::callers`), the
    /// certificate's name on TCP. NATS and Redis prove it in the broker's
    /// own permissions (deploy/nats, deploy/redis).
    pub callers: Vec<String>,
}

impl Serving {
    /// RabbitMQ only, the other settings at their defaults.
    pub fn new(tcp_listen_addr: SocketAddr) -> Self {
        Self {
            transports: vec![Transport::Amqp],
            nats_url: platform::env::DEFAULT_NATS_URL.into(),
            redis_url: platform::env::DEFAULT_REDIS_URL.into(),
            tcp_listen_addr,
            callers: vec![DEFAULT_REQUEST_CALLERS.to_owned()],
        }
    }

    /// From the environment; `default_tcp_addr` is the service's own.
    /// `tcp` needs `tls` (the service's mutual-TLS identity): NestJS's TCP
    /// envelope says nothing about who sends it, the certificate does.
    pub fn from_env(default_tcp_addr: SocketAddr, tls: bool) -> Result<Self, ConfigError> {
        let list = string_or("TRANSPORTS", DEFAULT_TRANSPORTS);
        let transports =
            Transport::parse_list(&list).map_err(|reason| invalid("TRANSPORTS", &list, reason))?;
        Transport::check_tls(&transports, "TRANSPORTS", tls)?;
        Ok(Self {
            transports,
            nats_url: platform::env::nats_url()?,
            redis_url: platform::env::redis_url()?,
            tcp_listen_addr: parse_or("TCP_LISTEN_ADDR", default_tcp_addr)?,
            callers: callers()?,
        })
    }
}

fn callers() -> Result<Vec<String>, ConfigError> {
    let list = string_or("REQUEST_CALLERS", DEFAULT_REQUEST_CALLERS);
    let callers: Vec<String> = list
        .split(',')
        .map(str::trim)
        .filter(|caller| !caller.is_empty())
        .map(str::to_owned)
        .collect();
    if callers.is_empty() {
        return Err(invalid(
            "REQUEST_CALLERS",
            &list,
            "name at least one caller",
        ));
    }
    Ok(callers)
}

/// The transports a service serves on, each with its readiness flag.
#[derive(Debug)]
pub struct Listeners {
    listening: Vec<(Transport, Connected)>,
    nats: Option<async_nats::Client>,
    redis: Option<::redis::Client>,
    tcp: Option<(TcpListener, TcpTrust)>,
}

impl Listeners {
    /// Ready to serve as `serving` says, as `service` (its name to NATS).
    /// A NATS connection is opened now and connects in the background;
    /// Redis connects when serving starts; the TCP port is bound now (a
    /// port in use fails start-up), and takes only the gateway, over mutual
    /// TLS with `tls`.
    pub async fn new(
        serving: &Serving,
        service: &str,
        tls: Option<&GrpcTls>,
    ) -> Result<Self, ConnectError> {
        let on = |transport| serving.transports.contains(&transport);
        let nats = match on(Transport::Nats) {
            true => Some(nats::connect(&NatsConfig::new(serving.nats_url.clone(), service)).await?),
            false => None,
        };
        let redis = match on(Transport::Redis) {
            true => Some(RedisConfig::new(serving.redis_url.clone()).client()?),
            false => None,
        };
        let tcp = match on(Transport::Tcp) {
            true => {
                let tls = tls.ok_or(ConnectError::TcpWithoutTls)?;
                let trust = TcpTrust {
                    tls: tls.stream_server()?,
                    // Requests come from the gateway only (docs/security.md).
                    callers: serving.callers.clone(),
                    spiffe: tls.spiffe().clone(),
                };
                let addr = serving.tcp_listen_addr;
                let listener = TcpListener::bind(addr)
                    .await
                    .map_err(|e| ConnectError::Bind(addr, e))?;
                Some((listener, trust))
            }
            false => None,
        };
        Ok(Self {
            listening: serving
                .transports
                .iter()
                .map(|&transport| (transport, Connected::default()))
                .collect(),
            nats,
            redis,
            tcp,
        })
    }

    /// The TCP port's address, when serving TCP (the port may have been 0).
    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        self.tcp.as_ref()?.0.local_addr().ok()
    }

    /// One readiness check per transport: `rabbitmq` while consuming,
    /// `nats` while subscribed and connected, `redis` while subscribed,
    /// `tcp` while listening.
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
                Transport::Tcp => {
                    let listening = connected.clone();
                    platform::admin::Check::flag(
                        "tcp",
                        move || listening.get(),
                        "not listening on TCP",
                    )
                }
            })
            .collect()
    }

    /// Serves `router` on every transport until `shutdown`; returns once
    /// each has stopped and let its in-flight messages finish.
    pub async fn serve(self, config: ServerConfig, router: Router, shutdown: CancellationToken) {
        let Self {
            listening,
            nats,
            redis,
            mut tcp,
        } = self;
        let servers = listening.into_iter().map(|(transport, connected)| {
            let (config, router, shutdown) = (config.clone(), router.clone(), shutdown.clone());
            let (nats, redis) = (nats.clone(), redis.clone());
            let tcp = match transport {
                Transport::Tcp => tcp.take(),
                _ => None,
            };
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
                    Transport::Tcp => {
                        let (listener, trust) = tcp.expect("bound in new()");
                        let trust = Some(trust);
                        tcp::serve(listener, config, trust, router, connected, shutdown).await
                    }
                }
            })
        });
        let servers: Vec<_> = servers.collect();
        for server in futures_util::future::join_all(servers).await {
            if let Err(e) = server {
                tracing::error!(error = %e, "a server task failed");
            }
        }
    }
}
