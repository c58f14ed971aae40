//! order-service configuration: every variable declared once, here and in
//! the groups flattened in (`order-service --help` lists them; the table
//! in docs/configuration.md and `.env.example` are checked against this).

use std::{net::SocketAddr, time::Duration};

use clap::ArgMatches;
use contracts::{
    events::EVENTS_EXCHANGE,
    identity::{API_GATEWAY, ORDER_SERVICE},
    patterns::ORDERS_QUEUE,
};
use messaging::Serving;
use platform::{
    config::{AmqpUrl, Resolve, duration},
    db::DbConfig,
    env::ConfigError,
    tls::{GrpcTls, TlsConfig},
};

#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "order-service",
    version,
    about = "Takes orders over RabbitMQ (or NATS, Redis, TCP) and runs their saga.",
    // The service's own role and database as `just run` creates them
    // (deploy/postgres/roles.sql, with the development password of dev.env).
    mut_arg("database_url", |arg| arg.default_value(
        "postgres://order_service:dev-order-service-db@localhost:5432/orders?sslmode=disable"
    )),
    mut_arg("tcp_listen_addr", |arg| arg.default_value("127.0.0.1:4001")),
    // Requests come from the gateway only (docs/security.md).
    mut_arg("request_callers", |arg| arg.default_value(API_GATEWAY)),
)]
pub struct Config {
    #[command(flatten)]
    pub database: DbConfig,
    #[command(flatten)]
    pub amqp: AmqpUrl,
    /// Where requests are served. Events stay on RabbitMQ whatever this
    /// says (docs/transports.md).
    #[command(flatten)]
    pub serving: Serving,
    /// The queue order requests go to; dead letters go to
    /// `<queue>.dead-letter`.
    #[arg(long = "orders-queue", env = "ORDERS_QUEUE", default_value = ORDERS_QUEUE)]
    pub queue: String,
    /// Unacked deliveries in flight at once (AMQP basic.qos; 0 would mean
    /// unlimited).
    #[arg(
        long = "orders-prefetch",
        env = "ORDERS_PREFETCH",
        default_value_t = 10,
        value_parser = clap::value_parser!(u16).range(1..)
    )]
    pub prefetch: u16,
    /// Runs of a transiently failing request before it is dead-lettered
    /// (0 counts as 1).
    #[arg(
        long = "orders-max-attempts",
        env = "ORDERS_MAX_ATTEMPTS",
        default_value_t = 3
    )]
    pub max_attempts: u32,
    /// Delay before a request's second run; doubles after each, plus up to
    /// as much again at random.
    #[arg(long = "orders-retry-delay", env = "ORDERS_RETRY_DELAY", default_value = "100ms", value_parser = duration)]
    pub retry_delay: Duration,
    /// user-service's gRPC servers (charges, refunds), comma-separated,
    /// balanced like the gateway's; https:// with GRPC_TLS_*.
    #[arg(
        long,
        env = "USER_SERVICE_URL",
        default_value = "http://127.0.0.1:5000"
    )]
    pub user_service_url: String,
    #[command(flatten)]
    grpc_tls: TlsConfig,
    /// This service's certificate for mutual TLS with user-service (then
    /// every `USER_SERVICE_URL` is `https://`) and on TCP, from `grpc_tls`;
    /// `None`: plaintext, and user-service refuses every call.
    #[arg(skip)]
    pub tls: Option<GrpcTls>,
    /// Deadline of each gRPC call to user-service.
    #[arg(long, env = "USER_SERVICE_TIMEOUT", default_value = "2s", value_parser = duration)]
    pub user_service_timeout: Duration,
    /// How long in-flight deliveries get to finish and ack at shutdown.
    #[arg(long = "shutdown-grace-period", env = "SHUTDOWN_GRACE_PERIOD", default_value = "10s", value_parser = duration)]
    pub grace_period: Duration,
    /// Calls of a saga step (charge, refund) before it compensates, or
    /// leaves the order to recovery (0 counts as 1).
    #[arg(
        long = "saga-step-attempts",
        env = "SAGA_STEP_ATTEMPTS",
        default_value_t = 3
    )]
    pub saga_attempts: u32,
    /// Delay before a step's second call; doubles after each, plus up to as
    /// much again at random.
    #[arg(long, env = "SAGA_RETRY_DELAY", default_value = "200ms", value_parser = duration)]
    pub saga_retry_delay: Duration,
    /// How often sagas left in flight are resumed (also once at start-up).
    #[arg(long, env = "SAGA_RECOVERY_INTERVAL", default_value = "2s", value_parser = duration)]
    pub saga_recovery_interval: Duration,
    /// A pending order untouched this long has lost its driver; recovery
    /// takes it over.
    //
    // Above a live saga's retry budget with the defaults: 3 calls of at
    // most USER_SERVICE_TIMEOUT (2 s) and 0.2 + 0.4 s between.
    #[arg(long, env = "SAGA_STALE_AFTER", default_value = "8s", value_parser = duration)]
    pub saga_stale_after: Duration,
    /// The topic exchange the outbox relay publishes events to.
    //
    // `None` (only from `Config::new`) keeps events in the outbox unpublished.
    #[arg(long, env = "EVENTS_EXCHANGE", default_value = EVENTS_EXCHANGE)]
    pub events_exchange: Option<String>,
    /// How often the outbox relay looks for events that waited out a broker
    /// outage (new events are published right after their commit).
    #[arg(long, env = "OUTBOX_POLL_INTERVAL", default_value = "1s", value_parser = duration)]
    pub outbox_poll_interval: Duration,
    /// The admin HTTP port: /livez, /readyz (database and broker), /metrics.
    #[arg(
        long = "admin-listen-addr",
        env = "ADMIN_LISTEN_ADDR",
        default_value = "127.0.0.1:9101"
    )]
    pub admin_addr: SocketAddr,
}

impl Resolve for Config {
    fn resolve(&mut self, matches: &ArgMatches) -> Result<(), ConfigError> {
        self.database.resolve(matches)?;
        self.amqp.resolve(matches)?;
        self.tls = self.grpc_tls.identity(ORDER_SERVICE)?;
        let tls = self.tls.is_some();
        platform::tls::check_urls("USER_SERVICE_URL", &self.user_service_url, tls)?;
        self.serving.check(matches, tls)?;
        self.max_attempts = self.max_attempts.max(1);
        self.saga_attempts = self.saga_attempts.max(1);
        Ok(())
    }
}

impl Config {
    /// The declared defaults around a database and a broker — nothing read
    /// from the environment — without event publishing and with an admin
    /// port the OS chooses; for tests and embedding.
    pub fn new(database_url: &str, amqp_url: impl Into<secrecy::SecretString>) -> Self {
        let mut config: Self = platform::config::defaults();
        config.database.url = database_url.to_owned().into();
        config.amqp.url = amqp_url.into();
        config.events_exchange = None;
        // Any free port: embedded and test instances must not collide.
        config.admin_addr = SocketAddr::from(([127, 0, 0, 1], 0));
        config
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;
    use secrecy::ExposeSecret;

    use super::*;

    #[test]
    fn new_starts_from_the_declared_defaults_whatever_the_environment_says() {
        // `just test` exports DATABASE_URL (and may export more): the
        // embedded service must not pick it up.
        let config: Config = platform::config::defaults();
        let declared = Config::command()
            .get_arguments()
            .find(|arg| arg.get_id() == "database_url")
            .map(|arg| arg.get_default_values()[0].to_string_lossy().into_owned());
        assert_eq!(
            Some(config.database.url.expose_secret().to_owned()),
            declared
        );
        assert_eq!(config.serving.callers, [API_GATEWAY]);
        assert_eq!(config.prefetch, 10);
        assert!(config.tls.is_none());
        let embedded = Config::new("postgres://embedded", "amqp://embedded");
        assert_eq!(embedded.database.url.expose_secret(), "postgres://embedded");
        assert_eq!(embedded.events_exchange, None);
    }

    #[test]
    fn secrets_stay_out_of_debug_output() {
        let config = Config::new("postgres://u:db-secret@h/db", "amqp://u:amqp-secret@h/%2f");
        let printed = format!("{config:?}");
        assert!(!printed.contains("db-secret") && !printed.contains("amqp-secret"));
    }
}
