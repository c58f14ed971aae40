//! One router served on several transports at once — NestJS's hybrid
//! application with one microservice per transport (`TRANSPORTS=amqp,nats`).
//! The handlers do not change with the transport; what each transport
//! guarantees does (docs/transports.md).

use std::net::SocketAddr;

use clap::ArgMatches;
use platform::{
    config::{NatsUrl, RedisUrl, Resolve, trimmed},
    env::{ConfigError, invalid},
    tls::GrpcTls,
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{
    Connected, Router, ServerConfig, Transport,
    connections::ConnectError,
    nats::{self, NatsConfig},
    redis::{self, RedisConfig},
    tcp::{self, TcpTrust},
};

/// Where and how a service serves requests — the same variables for every
/// service that serves, declared here once and flattened into its config.
/// Two have no default here, as they are the service's to say: its own
/// `TCP_LISTEN_ADDR`, and who may call it (`REQUEST_CALLERS`); the service
/// declares both (`#[command(mut_arg("tcp_listen_addr", ..))]`).
#[derive(Debug, Clone, clap::Args)]
pub struct Serving {
    /// The transports requests are served on, a comma list of amqp, nats,
    /// redis, tcp (amqp,nats serves both; tcp needs GRPC_TLS_*). Events
    /// stay on RabbitMQ whatever this says.
    #[arg(
        id = "transports",
        long = "transports",
        env = "TRANSPORTS",
        default_value = "amqp",
        value_delimiter = ',',
        value_parser = transport
    )]
    pub transports: Vec<Transport>,
    #[command(flatten)]
    pub nats: NatsUrl,
    #[command(flatten)]
    pub redis: RedisUrl,
    /// Where requests are served when TRANSPORTS has tcp (mutual TLS; only
    /// the certificates REQUEST_CALLERS names may call).
    #[arg(
        id = "tcp_listen_addr",
        long = "tcp-listen-addr",
        env = "TCP_LISTEN_ADDR",
        required = false
    )]
    pub tcp_listen_addr: SocketAddr,
    /// Who may send requests, and whose caller headers are believed: a
    /// comma list of identities the transport proves — the broker account
    /// (the AMQP user_id) on RabbitMQ (`ServerConfig::callers`), the
    /// certificate's name on TCP. NATS and Redis prove it in the broker's
    /// own permissions (deploy/nats, deploy/redis).
    #[arg(
        id = "request_callers",
        long = "request-callers",
        env = "REQUEST_CALLERS",
        required = false,
        value_delimiter = ',',
        value_parser = trimmed
    )]
    pub callers: Vec<String>,
}

impl Serving {
    /// The checks after parsing: the servers' URLs completed, each
    /// transport listed once, a caller named, and `tcp` only with `tls`
    /// (the service's mutual-TLS identity): NestJS's TCP envelope says
    /// nothing about who sends it, the certificate does.
    pub fn check(&mut self, matches: &ArgMatches, tls: bool) -> Result<(), ConfigError> {
        self.nats.resolve(matches)?;
        self.redis.resolve(matches)?;
        for (i, transport) in self.transports.iter().enumerate() {
            if self.transports[..i].contains(transport) {
                let list = self.transports.iter().map(|t| t.name()).collect::<Vec<_>>();
                let reason = format!("{transport} is listed twice");
                return Err(invalid("TRANSPORTS", list.join(","), reason));
            }
        }
        Transport::check_tls(&self.transports, "TRANSPORTS", tls)?;
        let listed = self.callers.join(",");
        self.callers.retain(|caller| !caller.is_empty());
        if self.callers.is_empty() {
            return Err(invalid(
                "REQUEST_CALLERS",
                listed,
                "name at least one caller",
            ));
        }
        Ok(())
    }
}

fn transport(name: &str) -> Result<Transport, String> {
    name.trim().parse()
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
            true => Some(nats::connect(&NatsConfig::new(serving.nats.url.clone(), service)).await?),
            false => None,
        };
        let redis = match on(Transport::Redis) {
            true => Some(RedisConfig::new(serving.redis.url.clone()).client()?),
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
