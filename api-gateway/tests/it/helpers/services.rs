//! The services behind the gateway, each started in-process as its `main`
//! starts it — `App::with_pool`, bound to port 0, then `run_until` — with
//! this test binary's development PKI, on the queues the gateway's config
//! names. The builder ([`super::app`]) puts them together; nothing here is
//! called by a test directly.

use std::{future::Future, net::SocketAddr, time::Duration};

use api_gateway::Config;
use contracts::identity::{API_GATEWAY, ORDER_SERVICE, USER_SERVICE};
use sqlx::PgPool;
use test_support::amqp_url;
use tokio::sync::oneshot;
use user_service::dev_pki::DevPki;

use super::{ADMIN_EMAIL, ADMIN_PASSWORD};

/// The development CA and service certificates every service of this test
/// binary uses (mutual TLS, as in production).
pub(crate) fn pki() -> &'static DevPki {
    static PKI: std::sync::OnceLock<DevPki> = std::sync::OnceLock::new();
    PKI.get_or_init(|| DevPki::generate().unwrap())
}

/// A gateway config with this test's own orders and notifications queues.
pub(super) fn gateway_config(user_service_url: &str) -> Config {
    let mut config = Config::new("127.0.0.1:0".parse().unwrap(), user_service_url);
    config.tls = pki().tls(API_GATEWAY);
    config.amqp.url = amqp_url().into();
    config.orders_queue = format!("test.orders.{}", uuid::Uuid::new_v4());
    config.notifications_queue = format!("test.notifications.{}", uuid::Uuid::new_v4());
    // Tests sign up as many users as they need from 127.0.0.1; the limit
    // has its own test (auth.rs).
    config.signup_limit_per_address = 10_000;
    config
}

/// user-service with this suite's admin account.
pub(super) fn user_service_config() -> user_service::Config {
    let mut config = user_service::Config::new("127.0.0.1:0".parse().unwrap());
    config.tls = pki().tls(USER_SERVICE);
    config.admin_account = Some(user_service::config::AdminAccount {
        email: ADMIN_EMAIL.into(),
        password: ADMIN_PASSWORD.to_owned().into(),
    });
    config
}

/// Starts user-service on `pool`; its gRPC URL, and the sender that stops
/// it when dropped.
pub(super) async fn start_user_service(
    config: user_service::Config,
    pool: PgPool,
) -> (String, oneshot::Sender<()>) {
    let users = user_service::App::with_pool(config, pool).await.unwrap();
    let url = format!("https://{}", users.local_addr());
    let stop = spawn_until_dropped(|rx| {
        users.run_until(async {
            let _ = rx.await;
        })
    });
    (url, stop)
}

/// Starts order-service on the gateway's orders queue, calling the
/// gateway's user-service, taking `prefetch` deliveries at a time (`None`:
/// its default) and publishing its events to `events_exchange` (`None`:
/// they stay in its outbox).
pub(super) async fn start_order_service(
    gateway: &Config,
    pool: PgPool,
    prefetch: Option<u16>,
    events_exchange: Option<String>,
) -> oneshot::Sender<()> {
    let mut config = order_service::Config::new("postgres://unused", gateway.amqp.url.clone());
    if let Some(prefetch) = prefetch {
        config.prefetch = prefetch;
    }
    // Every service of these tests logs in as the same broker account, the
    // gateway's included: it is the one allowed to send requests.
    config.serving.callers = vec![messaging::AmqpConfig::new(amqp_url()).user()];
    config.queue = gateway.orders_queue.clone();
    config.user_service_url = gateway.user_service_url.clone();
    config.tls = pki().tls(ORDER_SERVICE);
    config.events_exchange = events_exchange;
    let orders = order_service::App::with_pool(config, pool).await.unwrap();
    spawn_until_dropped(|rx| {
        orders.run_until(async {
            let _ = rx.await;
        })
    })
}

/// A notification-service started by [`start_notification_service`].
pub(super) struct NotificationService {
    pub(super) stop: oneshot::Sender<()>,
    /// Its admin port, for `/readyz`.
    pub(super) admin: SocketAddr,
    /// The queue it binds to the events exchange (this test's own).
    pub(super) events_queue: String,
}

/// Starts notification-service on the gateway's notifications queue,
/// consuming events from `events_exchange` on a queue of its own and
/// taking `prefetch` deliveries at a time (`None`: its default).
pub(super) async fn start_notification_service(
    gateway: &Config,
    pool: PgPool,
    events_exchange: &str,
    prefetch: Option<u16>,
) -> NotificationService {
    let account = messaging::AmqpConfig::new(amqp_url()).user();
    let mut config =
        notification_service::Config::new("postgres://unused", gateway.amqp.url.clone());
    config.queue = gateway.notifications_queue.clone();
    let events_queue = format!("test.notification-events.{}", uuid::Uuid::new_v4());
    config.events_queue = events_queue.clone();
    config.events_exchange = events_exchange.to_owned();
    config.serving.callers = vec![account.clone()];
    config.publishers.user_events = account.clone();
    config.publishers.order_events = account;
    if let Some(prefetch) = prefetch {
        config.prefetch = prefetch;
    }
    let notifications = notification_service::App::with_pool(config, pool)
        .await
        .unwrap();
    let admin = notifications.admin_addr();
    let stop = spawn_until_dropped(|rx| {
        notifications.run_until(async {
            let _ = rx.await;
        })
    });
    NotificationService {
        stop,
        admin,
        events_queue,
    }
}

/// Waits (5 s at most) until notification-service reports ready. An event
/// published before it has bound its events queue would be dropped by the
/// exchange; its bindings are declared before it consumes, and it is ready
/// once both of its consumers are.
pub(super) async fn wait_until_ready(admin: SocketAddr) {
    for _ in 0..250 {
        if platform::admin::probe(admin, "/readyz").await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Spawns `run`, which runs until the returned sender is dropped.
pub(super) fn spawn_until_dropped<F, Fut>(run: F) -> oneshot::Sender<()>
where
    F: FnOnce(oneshot::Receiver<()>) -> Fut,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let (tx, rx) = oneshot::channel();
    tokio::spawn(run(rx));
    tx
}
