//! user-service: users and their store credit, served
//! over gRPC (`proto/user.proto`) from its own Postgres database.
//!
//! Besides `user.UserService` the server speaks `grpc.health.v1.Health` (real
//! status: NOT_SERVING while the database is down) and, with
//! `GRPC_REFLECTION=true`, gRPC server reflection, so `grpcurl list` works
//! without the proto file. Callers are services known by their client
//! certificates (mutual TLS), each allowed only its RPCs (`peers`).
//!
//! # Layout
//! - [`config`]: [`Config`] from environment variables.
//! - `db`: the migrations ([`MIGRATOR`]), applied at start-up.
//! - `users`: validation and SQL.
//! - `credit`: the store-credit ledger (top-up, debit, refund), idempotent.
//! - `grpc`: the `UserService` implementation.
//! - `peers`: which service calls (its certificate), and which RPCs each
//!   service may call.
//! - `access`: the user a call is made for, and what they may do.
//! - [`dev_pki`]: a development CA and service certificates.
//! - `accounts`: log-in, and the first admin.
//! - `passwords`: Argon2id hashing and verification.
//! - [`hash_pool`]: the bounded pool hashes run in, sign-ups and log-ins
//!   each with their share.
//! - [`tokens`]: signed access tokens and the JWK Set that verifies them.
//! - `error`: [`Error`] and its single mapping to `tonic::Status`.
//! - `health`: the database watcher behind `grpc.health.v1`.

mod access;
mod accounts;
pub mod config;
mod credit;
mod db;
pub use platform::tls::dev_pki;
mod error;
mod grpc;
pub mod hash_pool;
mod health;
mod passwords;
mod peers;
pub mod tokens;
mod users;

use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context;
use contracts::user::{FILE_DESCRIPTOR_SET, user_service_server::UserServiceServer};
use messaging::{AmqpConfig, EventPublisher, outbox::Outbox};
use platform::admin::AdminServer;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_util::sync::CancellationToken;

pub use config::Config;
pub use db::MIGRATOR;
pub use error::Error;

use crate::{grpc::UserGrpc, hash_pool::HashPool, passwords::Passwords, tokens::Signer};

/// One span per call, named after the RPC, and a child of the caller's span
/// when the call's metadata carries a W3C trace context.
fn grpc_span(request: &http::Request<()>) -> tracing::Span {
    let span = tracing::info_span!(
        "grpc",
        rpc = %request.uri().path(),
        trace_id = tracing::field::Empty
    );
    platform::propagation::set_parent_from_headers(&span, request.headers());
    span
}

/// A user-service bound to its port and connected to its database, not yet
/// serving. Tests build it on port 0 and read [`App::local_addr`].
#[derive(Debug)]
pub struct App {
    config: Config,
    pool: PgPool,
    listener: TcpListener,
    admin: AdminServer,
    passwords: Passwords,
    signer: Arc<Signer>,
}

impl App {
    /// Connects to (and migrates) the configured database, then binds.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let pool = platform::db::connect_and_migrate(&config.database, &MIGRATOR).await?;
        Self::with_pool(config, pool).await
    }

    /// Binds with an existing, migrated pool (tests use `#[sqlx::test]`'s).
    pub async fn with_pool(config: Config, pool: PgPool) -> anyhow::Result<Self> {
        platform::admin::prometheus();
        hash_pool::describe_metrics();
        let signer = Arc::new(Signer::from_config(&config.tokens)?);
        let passwords = Passwords::new(&config.hashing).await?;
        if let Some(admin) = &config.admin_account {
            accounts::bootstrap_admin(&pool, &passwords, admin).await?;
        }
        let listener = TcpListener::bind(config.listen_addr)
            .await
            .with_context(|| format!("binding {}", config.listen_addr))?;
        // Ready while the database answers; gRPC clients see the same through
        // grpc.health.v1.
        let admin = AdminServer::bind(
            config.admin_addr,
            vec![platform::db::readiness_check(&pool)],
        )
        .await?
        .with_samplers([
            platform::db::pool_sampler(&pool),
            messaging::outbox::backlog_sampler(&pool),
            passwords.pool().sampler(),
        ]);
        Ok(Self {
            config,
            pool,
            listener,
            admin,
            passwords,
            signer,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// The admin port's address (`/livez`, `/readyz`, `/metrics`).
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin.local_addr()
    }

    /// The password hashers, shared with the running server: their stats,
    /// and places in them (tests hold some to fill the pool).
    pub fn hash_pool(&self) -> HashPool {
        self.passwords.pool().clone()
    }

    /// Serves until `shutdown` completes, then lets in-flight calls finish.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let addr = self.local_addr();
        let token = platform::shutdown::token_from(shutdown);
        let admin = self.admin.spawn(token.clone());
        let (reporter, health) = tonic_health::server::health_reporter();
        let watcher = health::watch_database(
            reporter,
            self.pool.clone(),
            self.config.health_check_interval,
        )
        .await;
        // Reflection v1, and v1alpha for the clients that speak only that
        // (older grpcurl, evans).
        let (reflection, reflection_v1alpha) = if self.config.reflection {
            let builder = || {
                tonic_reflection::server::Builder::configure()
                    .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
                    .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            };
            let v1 = builder().build_v1().context("building reflection v1")?;
            let v1alpha = builder()
                .build_v1alpha()
                .context("building reflection v1alpha")?;
            (Some(v1), Some(v1alpha))
        } else {
            (None, None)
        };

        // Events recorded with the users go out through the outbox relay
        // (none, and no broker connection, when no exchange is configured).
        // It stops after the server, so the events of calls still in flight
        // at shutdown go out too.
        let outbox = Outbox::new();
        let stop_relay = CancellationToken::new();
        let relay_task = self.config.events_exchange.clone().map(|exchange| {
            let publisher = EventPublisher::start(
                AmqpConfig::new(self.config.amqp.url.clone()),
                exchange,
                Duration::from_secs(5),
            );
            let relay = outbox.relay(
                self.pool.clone(),
                publisher,
                self.config.outbox_poll_interval,
            );
            tokio::spawn(relay.run(stop_relay.clone()))
        });
        let stopped = token.clone();

        let mut server = tonic::transport::Server::builder().tcp_nodelay(true);
        if let Some(tls) = &self.config.tls {
            server = server
                .tls_config(tls.server())
                .context("configuring gRPC TLS (GRPC_TLS_*)")?;
            tracing::info!(%addr, "user-service listening (gRPC, mutual TLS)");
        } else {
            tracing::warn!(
                %addr,
                "user-service listening (gRPC) WITHOUT TLS: no caller can be authenticated, \
                 so every call but health checks is refused; set GRPC_TLS_CA, GRPC_TLS_CERT \
                 and GRPC_TLS_KEY"
            );
        }
        let served = server
            .trace_fn(grpc_span)
            .layer(platform::metrics::GrpcMetricsLayer)
            .layer(peers::AuthorizeLayer::new(
                self.config.tls.as_ref().map(|tls| tls.spiffe().clone()),
            ))
            .add_service(health)
            .add_optional_service(reflection)
            .add_optional_service(reflection_v1alpha)
            .add_service(UserServiceServer::new(UserGrpc::new(
                self.pool.clone(),
                outbox,
                self.passwords,
                self.signer,
            )))
            .serve_with_incoming_shutdown(TcpListenerStream::new(self.listener), async move {
                stopped.cancelled().await;
            })
            .await;

        watcher.abort();
        stop_relay.cancel();
        if let Some(relay) = relay_task {
            let _ = relay.await;
        }
        let _ = admin.await;
        self.pool.close().await;
        tracing::info!("user-service stopped");
        served.context("serving gRPC")
    }
}
