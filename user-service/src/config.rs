//! user-service configuration, from environment variables (see the table in
//! docs/configuration.md and `.env.example`).

use std::{net::SocketAddr, time::Duration};

use contracts::events::EVENTS_EXCHANGE;
use platform::{
    db::DbConfig,
    env::{ConfigError, duration_or, parse_or, string_or},
};

pub const DEFAULT_LISTEN_ADDR: &str = "127.0.0.1:5000";
pub const DEFAULT_DATABASE_URL: &str =
    "postgres://postgres:postgres@localhost:5432/users?sslmode=disable";
pub const DEFAULT_HEALTH_CHECK_INTERVAL: Duration = Duration::from_secs(5);
pub const DEFAULT_AMQP_URL: &str = "amqp://guest:guest@localhost:5672/%2f";
pub const DEFAULT_OUTBOX_POLL_INTERVAL: Duration = Duration::from_secs(1);
pub const DEFAULT_ADMIN_ADDR: &str = "127.0.0.1:9103";

#[derive(Debug, Clone)]
pub struct Config {
    /// `USER_SERVICE_LISTEN_ADDR`: where the gRPC server listens.
    pub listen_addr: SocketAddr,
    /// `DATABASE_URL`, `DATABASE_MAX_CONNECTIONS`, `DATABASE_ACQUIRE_TIMEOUT`:
    /// this service's own database (created at start-up when missing).
    pub database: DbConfig,
    /// `HEALTH_CHECK_INTERVAL`: how often the database is pinged to keep the
    /// `grpc.health.v1` status true.
    pub health_check_interval: Duration,
    /// `AMQP_URL`: RabbitMQ, for publishing events.
    pub amqp_url: String,
    /// `EVENTS_EXCHANGE`: where the outbox relay publishes events. `None`
    /// (only from [`Config::new`]) keeps events in the outbox unpublished.
    pub events_exchange: Option<String>,
    /// `OUTBOX_POLL_INTERVAL`: how often the relay looks for events that
    /// waited out a broker outage (new events are published at once).
    pub outbox_poll_interval: Duration,
    /// `ADMIN_LISTEN_ADDR`: the admin HTTP port (`/livez`, `/readyz`,
    /// `/metrics`).
    pub admin_addr: SocketAddr,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            listen_addr: parse_or(
                "USER_SERVICE_LISTEN_ADDR",
                DEFAULT_LISTEN_ADDR.parse().expect("valid default address"),
            )?,
            database: DbConfig::from_env(DEFAULT_DATABASE_URL)?,
            health_check_interval: duration_or(
                "HEALTH_CHECK_INTERVAL",
                DEFAULT_HEALTH_CHECK_INTERVAL,
            )?,
            amqp_url: string_or("AMQP_URL", DEFAULT_AMQP_URL),
            events_exchange: Some(string_or("EVENTS_EXCHANGE", EVENTS_EXCHANGE)),
            outbox_poll_interval: duration_or(
                "OUTBOX_POLL_INTERVAL",
                DEFAULT_OUTBOX_POLL_INTERVAL,
            )?,
            admin_addr: parse_or(
                "ADMIN_LISTEN_ADDR",
                DEFAULT_ADMIN_ADDR.parse().expect("valid default address"),
            )?,
        })
    }

    /// Defaults with a chosen listen address, an admin port chosen by the OS,
    /// and no event publishing; for
    /// tests and embedding.
    pub fn new(listen_addr: SocketAddr) -> Self {
        Self {
            listen_addr,
            database: DbConfig::new(DEFAULT_DATABASE_URL),
            health_check_interval: DEFAULT_HEALTH_CHECK_INTERVAL,
            amqp_url: DEFAULT_AMQP_URL.to_owned(),
            events_exchange: None,
            outbox_poll_interval: DEFAULT_OUTBOX_POLL_INTERVAL,
            admin_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        }
    }
}
