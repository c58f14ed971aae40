//! notification-service: consumes `user_created`, `order_confirmed` and
//! `order_rejected` from its own durable events queue (bound to the events
//! exchange, each event trusted only from its owner), records one
//! notification per event — exactly once, thanks to an inbox table — and
//! answers `get_notifications` over RabbitMQ request-response on its request
//! queue: a hybrid app, like the seed's, with events and requests kept apart.
//!
//! # Layout
//! - `config`: [`Config`] from environment variables.
//! - `error`: [`Error`] and its one mapping onto a message's settlement.
//! - `notifications`: the event handlers, the inbox, the queries.
//! - `patterns`: the [`messaging::Router`] of events and requests.

mod config;
mod error;
mod notifications;
mod patterns;

use std::future::Future;

use contracts::events::{ORDER_CONFIRMED, ORDER_REJECTED, USER_CREATED};
use contracts::identity::NOTIFICATION_SERVICE;
use messaging::{AmqpConfig, Connected, Listeners, ServerConfig};
use platform::admin::AdminServer;
use sqlx::{PgPool, migrate::Migrator};

pub use config::Config;
pub use error::Error;

pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

#[derive(Debug)]
pub struct App {
    config: Config,
    pool: PgPool,
    admin: AdminServer,
    /// Where requests are served (`TRANSPORTS`).
    requests: Listeners,
    /// The events consumer (RabbitMQ, always): connected or not.
    events: Connected,
    /// Run by `/readyz` and by `health_check` requests on the queue.
    checks: Vec<platform::admin::Check>,
}

impl App {
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let pool = platform::db::connect_and_migrate(&config.database, &MIGRATOR).await?;
        Self::with_pool(config, pool).await
    }

    /// With an existing, migrated pool (tests use `#[sqlx::test]`'s).
    pub async fn with_pool(config: Config, pool: PgPool) -> anyhow::Result<Self> {
        let requests =
            Listeners::new(&config.serving, NOTIFICATION_SERVICE, config.tls.as_ref()).await?;
        let events = Connected::default();
        // Ready when the database answers and every consumer is connected.
        let mut checks = vec![platform::db::readiness_check(&pool)];
        checks.extend(requests.readiness_checks());
        checks.push(events.readiness_check());
        let admin = AdminServer::bind(config.admin_addr, checks.clone())
            .await?
            .with_samplers([platform::db::pool_sampler(&pool)]);
        Ok(Self {
            config,
            pool,
            admin,
            requests,
            events,
            checks,
        })
    }

    /// The admin port's address (`/livez`, `/readyz`).
    pub fn admin_addr(&self) -> std::net::SocketAddr {
        self.admin.local_addr()
    }

    /// Consumes until `shutdown` completes, then settles what is in flight.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let token = platform::shutdown::token_from(shutdown);
        let requests = self.server_config(&self.config.queue);
        let events = ServerConfig {
            bindings: [USER_CREATED, ORDER_CONFIRMED, ORDER_REJECTED]
                .into_iter()
                .map(|event| (self.config.events_exchange.clone(), event.to_owned()))
                .collect(),
            ..self.server_config(&self.config.events_queue)
        };
        let request_router =
            patterns::requests(self.pool.clone()).health_checks(self.checks.clone());
        let event_router = patterns::events(self.pool.clone(), &self.config.publishers);
        let admin = self.admin.spawn(token.clone());
        tokio::join!(
            self.requests.serve(requests, request_router, token.clone()),
            messaging::serve(events, event_router, self.events.clone(), token),
        );
        let _ = admin.await;
        self.pool.close().await;
        tracing::info!("notification-service stopped");
        Ok(())
    }

    /// One consumer's configuration, on `queue`.
    fn server_config(&self, queue: &str) -> ServerConfig {
        let amqp = AmqpConfig::new(self.config.amqp.url.clone());
        let mut server = ServerConfig::new(amqp, queue, self.config.serving.callers.clone());
        server.prefetch = self.config.prefetch;
        server.grace_period = self.config.grace_period;
        server
    }
}
