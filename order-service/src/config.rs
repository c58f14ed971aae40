//! order-service configuration, from environment variables (see the table in
//! docs/configuration.md and `.env.example`).

use std::{net::SocketAddr, time::Duration};

use contracts::{events::EVENTS_EXCHANGE, patterns::ORDERS_QUEUE};
use messaging::Serving;
use platform::{
    db::DbConfig,
    env::{ConfigError, duration_or, invalid, parse_or, string_or},
};
use secrecy::SecretString;

/// The service's own role and database as `just run` creates them
/// (deploy/postgres/roles.sql, with the development password of dev.env).
pub const DEFAULT_DATABASE_URL: &str =
    "postgres://order_service:dev-order-service-db@localhost:5432/orders?sslmode=disable";
pub const DEFAULT_USER_SERVICE_URL: &str = "http://127.0.0.1:5000";
pub const DEFAULT_ADMIN_ADDR: &str = "127.0.0.1:9101";
/// `TCP_LISTEN_ADDR` unless set: where requests come over TCP.
pub const DEFAULT_TCP_LISTEN_ADDR: &str = "127.0.0.1:4001";

fn default_tcp_addr() -> SocketAddr {
    DEFAULT_TCP_LISTEN_ADDR
        .parse()
        .expect("a valid default address")
}

#[derive(Debug, Clone)]
pub struct Config {
    /// `DATABASE_URL`, `DATABASE_MAX_CONNECTIONS`, `DATABASE_ACQUIRE_TIMEOUT`.
    pub database: DbConfig,
    /// `AMQP_URL`.
    pub amqp_url: SecretString,
    /// `TRANSPORTS`, `NATS_URL`, `REDIS_URL`, `TCP_LISTEN_ADDR`: where
    /// requests are served. Events stay on RabbitMQ whatever this says
    /// (docs/transports.md).
    pub serving: Serving,
    /// `ORDERS_QUEUE`: the queue this service consumes; its dead-letter
    /// queue is `<queue>.dead-letter`.
    pub queue: String,
    /// `ORDERS_PREFETCH`: deliveries in flight at once.
    pub prefetch: u16,
    /// `ORDERS_MAX_ATTEMPTS`: runs of a transiently failing request.
    pub max_attempts: u32,
    /// `ORDERS_RETRY_DELAY`: before the second run; doubles after.
    pub retry_delay: Duration,
    /// `USER_SERVICE_URL`: user-service's gRPC servers (charges, refunds).
    pub user_service_url: String,
    /// `GRPC_TLS_CA`, `GRPC_TLS_CERT`, `GRPC_TLS_KEY`: this service's
    /// certificate for mutual TLS with user-service (then every
    /// `USER_SERVICE_URL` is `https://`) and on TCP; `None`: plaintext, and
    /// user-service refuses every call.
    pub tls: Option<platform::tls::GrpcTls>,
    /// `USER_SERVICE_TIMEOUT`: deadline of each gRPC call.
    pub user_service_timeout: Duration,
    /// `SHUTDOWN_GRACE_PERIOD`: time for in-flight messages at shutdown.
    pub grace_period: Duration,
    /// `SAGA_STEP_ATTEMPTS`: calls of a saga's remote step (charge, refund)
    /// before it compensates, or leaves the order to recovery.
    pub saga_attempts: u32,
    /// `SAGA_RETRY_DELAY`: before a step's second call; doubles after.
    pub saga_retry_delay: Duration,
    /// `SAGA_RECOVERY_INTERVAL`: how often sagas left in flight are resumed.
    pub saga_recovery_interval: Duration,
    /// `SAGA_STALE_AFTER`: a pending order untouched this long has lost its
    /// driver; recovery takes it over. Longer than a saga's retry budget.
    pub saga_stale_after: Duration,
    /// `EVENTS_EXCHANGE`: where the outbox relay publishes events. `None`
    /// (only from [`Config::new`]) keeps events in the outbox unpublished.
    pub events_exchange: Option<String>,
    /// `OUTBOX_POLL_INTERVAL`: how often the relay looks for events that
    /// waited out a broker outage.
    pub outbox_poll_interval: Duration,
    /// `ADMIN_LISTEN_ADDR`: the admin HTTP port (`/livez`, `/readyz`).
    pub admin_addr: SocketAddr,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        let amqp_url = platform::env::amqp_url()?;
        let prefetch = parse_or("ORDERS_PREFETCH", 10u16)?;
        if prefetch == 0 {
            return Err(invalid(
                "ORDERS_PREFETCH",
                0,
                "must be at least 1 (0 means unlimited in AMQP)",
            ));
        }
        let defaults = Self::new(DEFAULT_DATABASE_URL, amqp_url);
        let user_service_url = string_or("USER_SERVICE_URL", &defaults.user_service_url);
        let tls = platform::tls::GrpcTls::from_env(contracts::identity::ORDER_SERVICE)?;
        platform::tls::check_urls("USER_SERVICE_URL", &user_service_url, tls.is_some())?;
        Ok(Self {
            database: DbConfig::from_env(DEFAULT_DATABASE_URL)?,
            queue: string_or("ORDERS_QUEUE", &defaults.queue),
            prefetch,
            max_attempts: parse_or("ORDERS_MAX_ATTEMPTS", defaults.max_attempts)?.max(1),
            retry_delay: duration_or("ORDERS_RETRY_DELAY", defaults.retry_delay)?,
            user_service_url,
            user_service_timeout: duration_or(
                "USER_SERVICE_TIMEOUT",
                defaults.user_service_timeout,
            )?,
            grace_period: duration_or("SHUTDOWN_GRACE_PERIOD", defaults.grace_period)?,
            saga_attempts: parse_or("SAGA_STEP_ATTEMPTS", defaults.saga_attempts)?.max(1),
            saga_retry_delay: duration_or("SAGA_RETRY_DELAY", defaults.saga_retry_delay)?,
            saga_recovery_interval: duration_or(
                "SAGA_RECOVERY_INTERVAL",
                defaults.saga_recovery_interval,
            )?,
            saga_stale_after: duration_or("SAGA_STALE_AFTER", defaults.saga_stale_after)?,
            events_exchange: Some(string_or("EVENTS_EXCHANGE", EVENTS_EXCHANGE)),
            admin_addr: parse_or(
                "ADMIN_LISTEN_ADDR",
                DEFAULT_ADMIN_ADDR.parse().expect("valid default address"),
            )?,
            outbox_poll_interval: duration_or(
                "OUTBOX_POLL_INTERVAL",
                defaults.outbox_poll_interval,
            )?,
            amqp_url: defaults.amqp_url,
            serving: Serving::from_env(default_tcp_addr(), tls.is_some())?,
            tls,
        })
    }

    /// Defaults around a database and a broker, without event publishing;
    /// for tests and embedding.
    pub fn new(database_url: &str, amqp_url: impl Into<SecretString>) -> Self {
        Self {
            database: DbConfig::new(database_url),
            amqp_url: amqp_url.into(),
            serving: Serving::new(default_tcp_addr()),
            queue: ORDERS_QUEUE.to_owned(),
            prefetch: 10,
            max_attempts: 3,
            retry_delay: Duration::from_millis(100),
            user_service_url: DEFAULT_USER_SERVICE_URL.to_owned(),
            tls: None,
            user_service_timeout: Duration::from_secs(2),
            grace_period: Duration::from_secs(10),
            saga_attempts: 3,
            saga_retry_delay: Duration::from_millis(200),
            saga_recovery_interval: Duration::from_secs(2),
            // Above a live saga's retry budget with the defaults: 3 calls of
            // at most USER_SERVICE_TIMEOUT (2 s) and 0.2 + 0.4 s between.
            saga_stale_after: Duration::from_secs(8),
            events_exchange: None,
            outbox_poll_interval: Duration::from_secs(1),
            // Any free port: embedded and test instances must not collide.
            admin_addr: "127.0.0.1:0".parse().expect("valid address"),
        }
    }
}
