//! notification-service configuration: every variable declared once, here
//! and in the groups flattened in (`notification-service --help` lists
//! them; the table in docs/configuration.md and `.env.example` are checked
//! against this).

use std::{net::SocketAddr, time::Duration};

use clap::ArgMatches;
use contracts::{
    events::{EVENTS_EXCHANGE, ORDER_EVENTS_PUBLISHER, USER_EVENTS_PUBLISHER},
    identity::{API_GATEWAY, NOTIFICATION_SERVICE},
    patterns::{NOTIFICATION_EVENTS_QUEUE, NOTIFICATIONS_QUEUE},
};
use messaging::Serving;
use platform::{
    config::{AmqpUrl, Resolve, duration},
    db::DbConfig,
    env::ConfigError,
    tls::{GrpcTls, TlsConfig},
};

/// Who may publish the events this service handles: the broker accounts
/// whose events are trusted (their AMQP `user_id`); any other is
/// dead-lettered.
#[derive(Debug, Clone, clap::Args)]
pub struct Publishers {
    /// The broker account whose `user_created` events are trusted.
    #[arg(long, env = "USER_EVENTS_PUBLISHER", default_value = USER_EVENTS_PUBLISHER)]
    pub user_events: String,
    /// The broker account whose `order_*` events are trusted.
    #[arg(long, env = "ORDER_EVENTS_PUBLISHER", default_value = ORDER_EVENTS_PUBLISHER)]
    pub order_events: String,
}

#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "notification-service",
    version,
    about = "Records notifications from events and serves them on request.",
    // The service's own role and database as `just run` creates them
    // (deploy/postgres/roles.sql, with the development password of dev.env).
    mut_arg("database_url", |arg| arg.default_value(
        "postgres://notification_service:dev-notification-service-db@localhost:5432/notifications?sslmode=disable"
    )),
    mut_arg("tcp_listen_addr", |arg| arg.default_value("127.0.0.1:4002")),
    // Requests come from the gateway only (docs/security.md).
    mut_arg("request_callers", |arg| arg.default_value(API_GATEWAY)),
)]
pub struct Config {
    #[command(flatten)]
    pub database: DbConfig,
    #[command(flatten)]
    pub amqp: AmqpUrl,
    /// Where requests are served. Events always come over RabbitMQ
    /// (docs/transports.md).
    #[command(flatten)]
    pub serving: Serving,
    #[command(flatten)]
    grpc_tls: TlsConfig,
    /// This service's certificate, for mutual TLS on TCP (required there),
    /// from `grpc_tls`.
    #[arg(skip)]
    pub tls: Option<GrpcTls>,
    /// notification-service's request queue, addressed directly by
    /// `get_notifications`; replicas share it.
    #[arg(long = "notifications-queue", env = "NOTIFICATIONS_QUEUE", default_value = NOTIFICATIONS_QUEUE)]
    pub queue: String,
    /// Its own queue of events, bound to the events it handles; replicas
    /// share it.
    #[arg(long = "notification-events-queue", env = "NOTIFICATION_EVENTS_QUEUE", default_value = NOTIFICATION_EVENTS_QUEUE)]
    pub events_queue: String,
    /// The topic exchange events are published to, which the events queue
    /// is bound to.
    #[arg(long, env = "EVENTS_EXCHANGE", default_value = EVENTS_EXCHANGE)]
    pub events_exchange: String,
    #[command(flatten)]
    pub publishers: Publishers,
    /// Deliveries in flight at once (AMQP basic.qos).
    #[arg(
        long = "notifications-prefetch",
        env = "NOTIFICATIONS_PREFETCH",
        default_value_t = 10,
        value_parser = clap::value_parser!(u16).range(1..)
    )]
    pub prefetch: u16,
    /// How long in-flight deliveries get to finish and ack at shutdown.
    #[arg(long = "shutdown-grace-period", env = "SHUTDOWN_GRACE_PERIOD", default_value = "10s", value_parser = duration)]
    pub grace_period: Duration,
    /// The admin HTTP port: /livez, /readyz (database and broker), /metrics.
    #[arg(
        long = "admin-listen-addr",
        env = "ADMIN_LISTEN_ADDR",
        default_value = "127.0.0.1:9102"
    )]
    pub admin_addr: SocketAddr,
}

impl Resolve for Config {
    fn resolve(&mut self, matches: &ArgMatches) -> Result<(), ConfigError> {
        self.database.resolve(matches)?;
        self.amqp.resolve(matches)?;
        self.tls = self.grpc_tls.identity(NOTIFICATION_SERVICE)?;
        self.serving.check(matches, self.tls.is_some())
    }
}

impl Config {
    /// The declared defaults around a database and a broker — nothing read
    /// from the environment — with an admin port the OS chooses; for tests
    /// and embedding.
    pub fn new(database_url: &str, amqp_url: impl Into<secrecy::SecretString>) -> Self {
        let mut config: Self = platform::config::defaults();
        config.database.url = database_url.to_owned().into();
        config.amqp.url = amqp_url.into();
        // Any free port: embedded and test instances must not collide.
        config.admin_addr = SocketAddr::from(([127, 0, 0, 1], 0));
        config
    }
}
