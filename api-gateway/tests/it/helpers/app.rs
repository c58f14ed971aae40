//! One way to start the system in-process: [`TestApp::builder`], from the
//! gateway alone to all four services.
//!
//! ```ignore
//! // The gateway and user-service, on the test's database
//! // (`#[sqlx::test(migrator = "user_service::MIGRATOR")]`).
//! let app = TestApp::builder(pool).start().await;
//!
//! // And order-service: the test's database is order-service's
//! // (`migrator = "order_service::MIGRATOR"`); user-service gets its own.
//! let app = TestApp::builder(pool).with_orders().start().await;
//!
//! // All four services, events flowing through this test's own exchange.
//! let app = TestApp::builder(pool)
//!     .with_orders()
//!     .with_notifications()
//!     .start()
//!     .await;
//!
//! // A service configured otherwise (`.user_service(..)` likewise).
//! let app = TestApp::builder(pool)
//!     .gateway(|gateway| gateway.user_service_timeout = Duration::from_millis(300))
//!     .start()
//!     .await;
//!
//! // Only the gateway, in front of whatever the test put at that URL
//! // (a closed port, a silent peer, a user-service of its own).
//! let app = TestApp::gateway_only(&url).start().await;
//! ```
//!
//! Every app has queues of its own (deleted when it is dropped), and
//! `start` returns once the gateway is connected to RabbitMQ, calls as the
//! admin (when it started user-service) and, with notification-service,
//! once that one answers too: no test sleeps for readiness.

use std::time::Duration;

use api_gateway::Config;
use sqlx::PgPool;
use test_support::{amqp_url, databases::OwnDatabase};
use tokio::sync::oneshot;

use super::{TestApp, client, services};
use crate::queues::QueueJanitor;

impl TestApp {
    /// The gateway and user-service, user-service on `pool` (the test's
    /// database) unless order-service is added: then `pool` is
    /// order-service's and user-service gets a database of its own.
    pub(crate) fn builder(pool: PgPool) -> TestAppBuilder {
        // The URL is the started user-service's, known once it runs.
        TestAppBuilder::new(Some(pool), services::gateway_config(""))
    }

    /// Only the gateway, with whatever user-service URL the test wants; it
    /// starts no service and does not sign in.
    pub(crate) fn gateway_only(user_service_url: &str) -> TestAppBuilder {
        let mut builder = TestAppBuilder::new(None, services::gateway_config(user_service_url));
        builder.sign_in = false;
        builder
    }

    /// Starts order-service for this app, on `pool`, taking `prefetch`
    /// deliveries at a time, and keeps it running as long as the app.
    /// Apart from the builder because one test (orders.rs) starts it only
    /// after a request has expired in its queue; the app is then built
    /// `.with_orders_later()`.
    pub(crate) async fn start_order_service(&mut self, pool: PgPool, prefetch: u16) {
        let stop = services::start_order_service(&self.config, pool, Some(prefetch), None).await;
        self._shutdown.push(stop);
    }
}

/// What [`TestApp`] starts; see the module's documentation.
#[must_use = "nothing starts until `.start().await`"]
pub(crate) struct TestAppBuilder {
    /// The test's database; `None`: only the gateway.
    database: Option<PgPool>,
    gateway: Config,
    user_service: user_service::Config,
    orders: Orders,
    notifications: bool,
    relays: bool,
    wait_for_broker: bool,
    sign_in: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Orders {
    None,
    Started,
    /// Its database is the test's, but the test starts it.
    Later,
}

impl TestAppBuilder {
    fn new(database: Option<PgPool>, gateway: Config) -> Self {
        Self {
            database,
            gateway,
            user_service: services::user_service_config(),
            orders: Orders::None,
            notifications: false,
            relays: true,
            wait_for_broker: true,
            sign_in: true,
        }
    }

    /// order-service too, on the gateway's queue; the test's database is
    /// order-service's.
    pub(crate) fn with_orders(mut self) -> Self {
        self.orders = Orders::Started;
        self
    }

    /// The test's database is order-service's, but order-service does not
    /// run until the test calls [`TestApp::start_order_service`].
    pub(crate) fn with_orders_later(mut self) -> Self {
        self.orders = Orders::Later;
        self
    }

    /// notification-service too, on a database of its own, with events
    /// flowing through this test's own exchange
    /// ([`TestApp::events_exchange`]): user-service and order-service
    /// publish from their outboxes, notification-service consumes.
    pub(crate) fn with_notifications(mut self) -> Self {
        self.notifications = true;
        self
    }

    /// Events stay in the outboxes until the test publishes them itself,
    /// and notification-service handles one delivery at a time, so the
    /// test can reason about order.
    pub(crate) fn without_relays(mut self) -> Self {
        self.relays = false;
        self
    }

    /// Adjusts the gateway's config: this test's own queues, the
    /// development PKI, RabbitMQ, and sign-ups unlimited. Its user-service
    /// URL is the started user-service's, whatever is set here.
    pub(crate) fn gateway(mut self, adjust: impl FnOnce(&mut Config)) -> Self {
        adjust(&mut self.gateway);
        self
    }

    /// Adjusts user-service's config: the development PKI and the admin
    /// account ([`super::ADMIN_EMAIL`]).
    pub(crate) fn user_service(mut self, adjust: impl FnOnce(&mut user_service::Config)) -> Self {
        adjust(&mut self.user_service);
        self
    }

    /// The gateway's RabbitMQ at an address nothing listens on; `start`
    /// does not wait for it.
    pub(crate) fn without_broker(mut self) -> Self {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        self.gateway.amqp.url = format!("amqp://guest:guest@127.0.0.1:{port}/%2f").into();
        self.wait_for_broker = false;
        self
    }

    /// `http` sends no token either: signing in is a log-in, and counts
    /// against the log-in limits.
    pub(crate) fn not_signed_in(mut self) -> Self {
        self.sign_in = false;
        self
    }

    /// Starts the services, then the gateway in front of them.
    pub(crate) async fn start(self) -> TestApp {
        let Self {
            database,
            mut gateway,
            mut user_service,
            orders,
            notifications,
            relays,
            wait_for_broker,
            sign_in,
        } = self;
        assert!(
            database.is_some() || (orders == Orders::None && !notifications),
            "`gateway_only` starts no service"
        );
        assert!(
            sign_in || !notifications,
            "waiting for notification-service takes an admin's request"
        );
        let exchange = notifications.then(|| format!("test.events.{}", uuid::Uuid::new_v4()));
        let publish_to = exchange.clone().filter(|_| relays);
        let mut stops = Vec::new();
        let (mut users_db, mut notifications_db, mut notification_service) = (None, None, None);
        if let Some(pool) = database {
            let users_pool = if orders == Orders::None {
                pool.clone()
            } else {
                let own = OwnDatabase::create(&pool, "users", &user_service::MIGRATOR).await;
                users_db.insert(own).pool.clone()
            };
            if exchange.is_some() {
                user_service.amqp.url = amqp_url().into();
                user_service.events_exchange = publish_to.clone();
            }
            let (url, stop) = services::start_user_service(user_service, users_pool).await;
            gateway.user_service_url = url;
            stops.push(stop);
            if orders == Orders::Started {
                let orders =
                    services::start_order_service(&gateway, pool.clone(), None, publish_to);
                stops.push(orders.await);
            }
            if let Some(exchange) = &exchange {
                let migrator = &notification_service::MIGRATOR;
                let own = OwnDatabase::create(&pool, "notifications", migrator).await;
                let prefetch = if relays { None } else { Some(1) };
                let db = notifications_db.insert(own).pool.clone();
                let service =
                    services::start_notification_service(&gateway, db, exchange, prefetch).await;
                notification_service = Some(service);
            }
        }

        let mut queues = janitor(&gateway);
        let (base, gateway_stop) = start_gateway(gateway.clone(), wait_for_broker).await;
        // Stopped in this order: the gateway first, then what it calls.
        let mut shutdown = vec![gateway_stop];
        shutdown.extend(stops);
        let mut notifications_admin = None;
        if let (Some(exchange), Some(service)) = (&exchange, notification_service) {
            shutdown.push(service.stop);
            notifications_admin = Some(service.admin);
            queues.exchanges.push(exchange.clone());
            let events_queue = service.events_queue;
            queues
                .queues
                .extend([format!("{events_queue}.dead-letter"), events_queue]);
        }
        let mut app = TestApp {
            base,
            http: client(None),
            anonymous: client(None),
            config: gateway,
            events_exchange: exchange,
            _shutdown: shutdown,
            _queues: queues,
            users_db,
            notifications_db,
        };
        if sign_in {
            app.sign_in_as_admin().await;
        }
        if let Some(admin) = notifications_admin {
            services::wait_until_ready(admin).await;
            let probe = format!("/users/{}/notifications", uuid::Uuid::now_v7());
            let answered = app.http.get(app.url(&probe)).send().await.unwrap();
            assert_eq!(
                answered.status(),
                200,
                "notification-service never answered"
            );
        }
        app
    }
}

/// Starts the gateway, once connected to RabbitMQ if `wait_for_broker`;
/// its base URL, and the sender that stops it when dropped.
async fn start_gateway(config: Config, wait_for_broker: bool) -> (String, oneshot::Sender<()>) {
    // Bound before spawning: no readiness sleep needed.
    let app = api_gateway::App::build(config).await.unwrap();
    let base = format!("http://{}", app.local_addr());
    if wait_for_broker {
        let connected = app.wait_for_broker(Duration::from_secs(5)).await;
        assert!(
            connected,
            "RabbitMQ never connected (is it running? see README)"
        );
    }
    let stop = services::spawn_until_dropped(|rx| {
        app.run_until(async {
            let _ = rx.await;
        })
    });
    (base, stop)
}

/// Deletes the gateway's queues (and their dead-letter queues) when the
/// app is dropped.
fn janitor(config: &Config) -> QueueJanitor {
    let (orders, notifications) = (&config.orders_queue, &config.notifications_queue);
    QueueJanitor {
        amqp_url: secrecy::ExposeSecret::expose_secret(&config.amqp.url).to_owned(),
        queues: vec![
            orders.clone(),
            format!("{orders}.dead-letter"),
            format!("{notifications}.dead-letter"),
            notifications.clone(),
        ],
        exchanges: Vec::new(),
    }
}
