//! api-gateway: the only public entry point. It speaks HTTP/JSON to clients
//! and gRPC and RabbitMQ to the services behind it.
//!
//! Every error a client sees is RFC 9457 `application/problem+json`: handler
//! errors through `error::ApiError`, extractor rejections through
//! `extract`, and anything else the stack produces (unknown route, timeout,
//! panic) through the fallback in `http`.
//!
//! # Layout
//! - `config`: [`Config`] from environment variables.
//! - [`routes`]: every route with who may call it ([`routes::Access`]);
//!   `routing`: the builder each resource registers its handlers with.
//! - `openapi`: the OpenAPI 3.1 document built from the routes, and the
//!   reference page (`/openapi.json`, `/docs`).
//! - `auth`: bearer tokens verified into a caller, and the access check.
//! - `keys`: the issuer's public keys (JWKS), fetched and cached.
//! - `tokens`: `POST /auth/token` (log-in) and `/.well-known/jwks.json`.
//! - `login_limit`: log-in attempts per client address and per account
//!   from it; sign-ups per address.
//! - `clients`: who a client is (its address, through trusted proxies);
//!   `fair_share`: requests in flight per client, bodies read in time.
//! - `users`: `/users` routes (gRPC to user-service).
//! - `orders`: `/orders`, `/users/{id}/orders`, `/products` (RabbitMQ
//!   request-response to order-service).
//! - `notifications`: `/users/{id}/notifications` (RabbitMQ
//!   request-response to notification-service).
//! - `health`: `GET /health`; `recent`: its report and the JWKS,
//!   fetched at most once a period.
//! - `user_client`: the gRPC client for user-service, with deadlines.
//! - `error`: `error::ApiError` and the one code→HTTP mapping.
//! - `problem`: RFC 9457 problem+json.
//! - `extract`: JSON/form/path/query extractors with problem+json
//!   rejections; [`text`]: the text every body field may hold (UTF-8, no
//!   control characters).
//! - `http`: the middleware stack, applied once.
//! - `serve`: the server loop (header-read and idle timeouts, connection
//!   caps, peer addresses).

mod auth;
mod clients;
pub mod config;
mod error;
mod extract;
mod fair_share;
mod health;
mod http;
mod keys;
mod login_limit;
mod notifications;
mod openapi;
mod orders;
mod problem;
mod recent;
pub mod routes;
mod routing;
mod serve;
pub mod text;
mod tokens;
mod user_client;
mod users;

use std::{future::Future, net::SocketAddr, sync::Arc};

use anyhow::Context;
use axum::Router;
use contracts::identity::{NOTIFICATION_SERVICE, ORDER_SERVICE};
use messaging::{
    AmqpConfig, Brokers, Client, Connections, Target, nats::NatsConfig, redis::RedisConfig,
};
use platform::admin::AdminServer;
use tokio::net::TcpListener;

pub use config::Config;

use crate::{
    auth::Authenticator,
    keys::{KeySet, KeySource},
    login_limit::LoginLimit,
    recent::Recent,
    user_client::UserClient,
};

/// How long `/health` answers from its last report: a flood of the public
/// route costs the services one check a second.
pub const HEALTH_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(1);
/// How long the JWKS route answers from user-service's last key set: a key
/// rotated in shows within 10 s (clients refetch on an unknown `kid`).
pub const JWKS_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(10);

/// What every handler can reach. Cheap to clone: `Arc`s and channels.
#[derive(Debug, Clone)]
pub struct AppState {
    config: Arc<Config>,
    users: UserClient,
    orders: Client,
    notifications: Client,
    /// One readiness check per broker connection (`rabbitmq`, `nats`).
    brokers: Arc<Vec<platform::admin::Check>>,
    /// Shared by every request: the verified-token cache is in it.
    auth: Arc<Authenticator>,
    login_limit: LoginLimit,
    /// `/health`'s last report: one fan-out to every service a period.
    health: Arc<Recent<health::Outcome>>,
    /// The JWKS user-service last served.
    jwks: Arc<Recent<String>>,
}

impl AppState {
    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn users(&self) -> &UserClient {
        &self.users
    }

    /// The client of order-service, over `ORDERS_TRANSPORT`.
    pub fn orders(&self) -> &Client {
        &self.orders
    }

    /// The client of notification-service, over `NOTIFICATIONS_TRANSPORT`.
    pub fn notifications(&self) -> &Client {
        &self.notifications
    }

    /// The broker connections' checks, for `/health`.
    pub fn brokers(&self) -> &[platform::admin::Check] {
        &self.brokers
    }

    pub fn login_limit(&self) -> &LoginLimit {
        &self.login_limit
    }

    /// `/health`'s report, fetched at most once per [`HEALTH_CACHE_TTL`].
    pub fn health(&self) -> &Recent<health::Outcome> {
        &self.health
    }

    /// The key set, fetched at most once per [`JWKS_CACHE_TTL`].
    pub fn jwks(&self) -> &Recent<String> {
        &self.jwks
    }
}

/// The gateway bound to its port, not yet serving. Tests build it on port 0.
#[derive(Debug)]
pub struct App {
    router: Router,
    limits: serve::Limits,
    listener: TcpListener,
    /// One connection per transport in use, shared by both clients.
    connections: Connections,
    admin: AdminServer,
}

/// The `# HELP` text of the gateway's own metrics (recorded in `tokens.rs`,
/// `auth.rs`, `fair_share.rs` and `serve.rs`; the HTTP ones are `platform`'s).
fn describe_metrics() {
    platform::admin::prometheus();
    metrics::describe_counter!(
        "login_attempts_total",
        "POST /auth/token attempts, by outcome (issued, refused, limited, failed)."
    );
    metrics::describe_counter!(
        "http_fair_share_refusals_total",
        "Requests refused for a client's fair share, by limit (address, user: 429; body_timeout: 408)."
    );
    metrics::describe_gauge!("http_connections_open", "Client connections open now.");
    metrics::describe_counter!(
        "http_connections_refused_total",
        "Connections closed as accepted, by cap (total, address)."
    );
    metrics::describe_counter!(
        "auth_refusals_total",
        "Requests refused by the access check, by reason (missing, invalid, forbidden, unavailable)."
    );
}

impl App {
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        describe_metrics();
        let users = UserClient::connect_lazy(&config)
            .await
            .context("configuring the user-service client")?;
        let keys = KeySet::new(match &config.auth.jwks_url {
            None => KeySource::UserService(users.clone()),
            Some(url) => KeySource::Url {
                url: url.clone(),
                http: Box::new(keys::https_client().context("building the JWKS client")?),
            },
        });
        let auth = Arc::new(Authenticator::new(keys, config.auth.clone()));
        let login_limit = LoginLimit::new(login_limit::Limits {
            per_address: config.login_limit_per_address,
            per_account_and_address: config.login_limit_per_account_and_address,
            sign_ups_per_address: config.signup_limit_per_address,
        });
        let listener = TcpListener::bind(config.listen_addr)
            .await
            .with_context(|| format!("binding {}", config.listen_addr))?;
        // One connection per transport, shared by both services' clients;
        // each connects in the background: the gateway starts, and answers
        // 503 for orders, while the broker is still coming up.
        let mut connections = Connections::new(Brokers {
            amqp: AmqpConfig::new(config.amqp.url.clone()),
            nats: NatsConfig::new(config.nats.url.clone(), "api-gateway"),
            redis: RedisConfig::new(config.redis.url.clone()),
            tls: config.tls.clone(),
        });
        let orders = connections
            .client(
                config.orders_transport,
                Target {
                    queue: &config.orders_queue,
                    service: ORDER_SERVICE,
                    tcp_addr: &config.order_service_tcp_addr,
                },
                config.order_service_timeout,
            )
            .await?;
        let notifications = connections
            .client(
                config.notifications_transport,
                Target {
                    queue: &config.notifications_queue,
                    service: NOTIFICATION_SERVICE,
                    tcp_addr: &config.notification_service_tcp_addr,
                },
                config.order_service_timeout,
            )
            .await?;
        // Ready while each broker connection is up: without them no order
        // can be placed. user-service is not a readiness condition — the
        // gateway still serves the rest — but `/health` reports it.
        let brokers = connections.readiness_checks();
        let admin = AdminServer::bind(config.admin_addr, brokers.clone()).await?;
        let state = AppState {
            config: Arc::new(config),
            users,
            orders,
            notifications,
            brokers: Arc::new(brokers),
            auth,
            login_limit,
            health: Arc::new(Recent::new(HEALTH_CACHE_TTL)),
            jwks: Arc::new(Recent::new(JWKS_CACHE_TTL)),
        };
        Ok(Self {
            limits: serve::Limits::from(&*state.config),
            connections,
            router: router(state),
            listener,
            admin,
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

    /// Waits (bounded) until every broker connection is up; for start-up
    /// checks and tests.
    pub async fn wait_for_broker(&self, within: std::time::Duration) -> bool {
        self.connections.wait_connected(within).await
    }

    /// Serves until `shutdown` completes, then finishes in-flight requests.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        tracing::info!(addr = %self.local_addr(), "api-gateway listening (HTTP)");
        let token = platform::shutdown::token_from(shutdown);
        let admin = self.admin.spawn(token.clone());
        serve::serve(self.listener, self.router, self.limits, token.clone()).await;
        let _ = admin.await;
        self.connections.close();
        tracing::info!("api-gateway stopped");
        Ok(())
    }
}

/// The whole HTTP surface: every route ([`routes::api`]) and the document
/// describing them, the authenticator the access checks use, then the
/// middleware stack.
pub fn router(state: AppState) -> Router {
    let config = state.config.clone();
    let auth = state.auth.clone();
    let (api, document) = routes::api().into_parts();
    // Requests in flight per signed-in user, taken by the access check.
    let per_user = auth::PerUser(fair_share::PerClient::new(
        config.max_concurrent_requests_per_client,
    ));
    let routes = api
        .merge(openapi::reference(document))
        .with_state(state)
        .layer(axum::Extension(auth))
        .layer(axum::Extension(per_user));
    http::layers(routes, &config)
}
