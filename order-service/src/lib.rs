//! order-service: the catalogue, stock and orders, served over RabbitMQ
//! request-response in the NestJS wire format (`orders_queue`), from its own
//! Postgres database. It checks users with user-service over gRPC.
//!
//! # Layout
//! - `config`: [`Config`] from environment variables.
//! - `patterns`: the message patterns (`create_order`, `get_order`,
//!   `list_orders`, `list_products`) and the [`messaging::Router`].
//! - [`new_order`]: validating an order request and keying it.
//! - [`placing`]: idempotent placement (reserve and record, one statement
//!   in the common case).
//! - [`orders`]: the `orders` table and its `order_items`, every statement
//!   on them.
//! - `products`: the `products` table (the catalogue and its stock), every
//!   statement on it.
//! - [`saga`]: reserve → charge → confirm, compensation; `recovery` resumes
//!   the sagas a crash left behind.
//! - [`users`]: the gRPC client to user-service (charges and refunds).
//! - `error`: [`Error`] and its single mapping to a message settlement.

mod config;
mod error;
pub mod new_order;
pub mod orders;
mod patterns;
pub mod placing;
mod products;
mod recovery;
pub mod saga;
pub mod users;

use std::{future::Future, time::Duration};

use anyhow::Context;
use contracts::identity::ORDER_SERVICE;
use messaging::{AmqpConfig, EventPublisher, Listeners, ServerConfig, outbox::Outbox};
use platform::admin::AdminServer;
use sqlx::{PgPool, migrate::Migrator};

pub use config::Config;
pub use error::Error;

/// This service's migrations (schema and seed catalogue).
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// An order-service connected to its database, not yet consuming.
#[derive(Debug)]
pub struct App {
    config: Config,
    state: patterns::State,
    admin: AdminServer,
    /// The transports requests are served on (`TRANSPORTS`).
    listeners: Listeners,
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
        platform::admin::prometheus();
        metrics::describe_counter!(
            "saga_outcomes_total",
            "Order sagas finished, by outcome (confirmed, rejected)."
        );
        let users = users::UserClient::connect_lazy(&config)
            .await
            .context("configuring the user-service client")?;
        let saga = saga::Saga {
            pool: pool.clone(),
            users,
            attempts: config.saga_attempts,
            retry_delay: config.saga_retry_delay,
            outbox: Outbox::new(),
        };
        let listeners = Listeners::new(&config.serving, ORDER_SERVICE, config.tls.as_ref()).await?;
        // Ready when the database answers and every transport serves.
        let mut checks = vec![platform::db::readiness_check(&pool)];
        checks.extend(listeners.readiness_checks());
        let admin = AdminServer::bind(config.admin_addr, checks.clone())
            .await?
            .with_samplers([
                platform::db::pool_sampler(&pool),
                messaging::outbox::backlog_sampler(&pool),
            ]);
        Ok(Self {
            config,
            state: patterns::State { pool, saga },
            admin,
            listeners,
            checks,
        })
    }

    /// The admin port's address (`/livez`, `/readyz`).
    pub fn admin_addr(&self) -> std::net::SocketAddr {
        self.admin.local_addr()
    }

    /// Consumes until `shutdown` completes, then stops taking deliveries,
    /// settles those in flight (within the grace period) and closes.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let token = platform::shutdown::token_from(shutdown);

        let mut server = ServerConfig::new(
            AmqpConfig::new(self.config.amqp.url.clone()),
            &self.config.queue,
            self.config.serving.callers.clone(),
        );
        server.prefetch = self.config.prefetch;
        server.max_attempts = self.config.max_attempts;
        server.retry_delay = self.config.retry_delay;
        server.grace_period = self.config.grace_period;
        let admin = self.admin.spawn(token.clone());

        // Sagas a crash left in flight are finished (or compensated) at
        // start-up and then periodically.
        let recovery = tokio::spawn(self.state.saga.clone().run_recovery(
            self.config.saga_recovery_interval,
            self.config.saga_stale_after,
            token.clone(),
        ));

        // Events recorded with the saga's transitions go out through the
        // outbox relay (none when no exchange is configured).
        let relay = self.config.events_exchange.clone().map(|exchange| {
            let publisher = EventPublisher::start(
                AmqpConfig::new(self.config.amqp.url.clone()),
                exchange,
                Duration::from_secs(5),
            );
            let relay = self.state.saga.outbox.relay(
                self.state.pool.clone(),
                publisher,
                self.config.outbox_poll_interval,
            );
            tokio::spawn(relay.run(token.clone()))
        });

        let pool = self.state.pool.clone();
        let router = patterns::router(self.state).health_checks(self.checks);
        self.listeners.serve(server, router, token).await;
        let _ = recovery.await;
        if let Some(relay) = relay {
            let _ = relay.await;
        }
        let _ = admin.await;
        pool.close().await;
        tracing::info!("order-service stopped");
        Ok(())
    }
}
