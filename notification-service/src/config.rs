//! notification-service configuration, from environment variables (see the
//! table in docs/configuration.md and `.env.example`).

use std::{net::SocketAddr, time::Duration};

use contracts::{
    events::{EVENTS_EXCHANGE, ORDER_EVENTS_PUBLISHER, USER_EVENTS_PUBLISHER},
    patterns::{NOTIFICATION_EVENTS_QUEUE, NOTIFICATIONS_QUEUE},
};
use messaging::Serving;
use platform::{
    db::DbConfig,
    env::{ConfigError, duration_or, invalid, parse_or, string_or},
};
use secrecy::SecretString;

/// The service's own role and database as `just run` creates them
/// (deploy/postgres/roles.sql, with the development password of dev.env).
pub const DEFAULT_DATABASE_URL: &str = "postgres://notification_service:dev-notification-service-db@localhost:5432/notifications?sslmode=disable";
pub const DEFAULT_ADMIN_ADDR: &str = "127.0.0.1:9102";
/// `TCP_LISTEN_ADDR` unless set: where requests come over TCP.
pub const DEFAULT_TCP_LISTEN_ADDR: &str = "127.0.0.1:4002";

fn default_tcp_addr() -> SocketAddr {
    DEFAULT_TCP_LISTEN_ADDR
        .parse()
        .expect("a valid default address")
}

/// Who may publish the events this service handles.
#[derive(Debug, Clone)]
pub struct Publishers {
    pub user_events: String,
    pub order_events: String,
}

impl Default for Publishers {
    fn default() -> Self {
        Self {
            user_events: USER_EVENTS_PUBLISHER.to_owned(),
            order_events: ORDER_EVENTS_PUBLISHER.to_owned(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    /// `DATABASE_URL`, `DATABASE_MAX_CONNECTIONS`, `DATABASE_ACQUIRE_TIMEOUT`.
    pub database: DbConfig,
    /// `AMQP_URL`.
    pub amqp_url: SecretString,
    /// `TRANSPORTS`, `NATS_URL`, `REDIS_URL`, `TCP_LISTEN_ADDR`: where
    /// requests are served. Events always come over RabbitMQ
    /// (docs/transports.md).
    pub serving: Serving,
    /// `GRPC_TLS_CA`, `GRPC_TLS_CERT`, `GRPC_TLS_KEY`: this service's
    /// certificate, for mutual TLS on TCP (required there).
    pub tls: Option<platform::tls::GrpcTls>,
    /// `NOTIFICATIONS_QUEUE`: the queue of requests; replicas share it.
    pub queue: String,
    /// `NOTIFICATION_EVENTS_QUEUE`: this service's own queue of events,
    /// bound to the events it handles; replicas share it.
    pub events_queue: String,
    /// `EVENTS_EXCHANGE`: the exchange events are published to.
    pub events_exchange: String,
    /// `USER_EVENTS_PUBLISHER`, `ORDER_EVENTS_PUBLISHER`: the broker
    /// accounts whose events are trusted (their AMQP `user_id`).
    pub publishers: Publishers,
    /// `NOTIFICATIONS_PREFETCH`: deliveries in flight at once.
    pub prefetch: u16,
    /// `SHUTDOWN_GRACE_PERIOD`: time for in-flight deliveries at shutdown.
    pub grace_period: Duration,
    /// `ADMIN_LISTEN_ADDR`: the admin HTTP port (`/livez`, `/readyz`).
    pub admin_addr: SocketAddr,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        let amqp_url = platform::env::amqp_url()?;
        let prefetch = parse_or("NOTIFICATIONS_PREFETCH", 10u16)?;
        if prefetch == 0 {
            return Err(invalid("NOTIFICATIONS_PREFETCH", 0, "must be at least 1"));
        }
        let tls = platform::tls::GrpcTls::from_env(contracts::identity::NOTIFICATION_SERVICE)?;
        Ok(Self {
            database: DbConfig::from_env(DEFAULT_DATABASE_URL)?,
            serving: Serving::from_env(default_tcp_addr(), tls.is_some())?,
            tls,
            queue: string_or("NOTIFICATIONS_QUEUE", NOTIFICATIONS_QUEUE),
            events_queue: string_or("NOTIFICATION_EVENTS_QUEUE", NOTIFICATION_EVENTS_QUEUE),
            events_exchange: string_or("EVENTS_EXCHANGE", EVENTS_EXCHANGE),
            publishers: Publishers {
                user_events: string_or("USER_EVENTS_PUBLISHER", USER_EVENTS_PUBLISHER),
                order_events: string_or("ORDER_EVENTS_PUBLISHER", ORDER_EVENTS_PUBLISHER),
            },
            prefetch,
            grace_period: duration_or("SHUTDOWN_GRACE_PERIOD", Duration::from_secs(10))?,
            admin_addr: parse_or(
                "ADMIN_LISTEN_ADDR",
                DEFAULT_ADMIN_ADDR.parse().expect("valid default address"),
            )?,
            amqp_url,
        })
    }

    /// Defaults around a database and a broker; for tests and embedding.
    pub fn new(database_url: &str, amqp_url: impl Into<SecretString>) -> Self {
        Self {
            database: DbConfig::new(database_url),
            amqp_url: amqp_url.into(),
            serving: Serving::new(default_tcp_addr()),
            tls: None,
            queue: NOTIFICATIONS_QUEUE.to_owned(),
            events_queue: NOTIFICATION_EVENTS_QUEUE.to_owned(),
            events_exchange: EVENTS_EXCHANGE.to_owned(),
            publishers: Publishers::default(),
            prefetch: 10,
            grace_period: Duration::from_secs(10),
            // Any free port: embedded and test instances must not collide.
            admin_addr: "127.0.0.1:0".parse().expect("valid address"),
        }
    }
}
