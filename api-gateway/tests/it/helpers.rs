use std::time::Duration;

use api_gateway::Config;
use contracts::identity::{API_GATEWAY, ORDER_SERVICE, USER_SERVICE};
use reqwest::{Response, header::CONTENT_TYPE};
use serde_json::Value;
use sqlx::PgPool;
use tokio::sync::oneshot;

use test_support::{amqp_url, databases::OwnDatabase};

use crate::queues::QueueJanitor;

/// The admin user-service creates at start in these tests.
pub(crate) const ADMIN_EMAIL: &str = "admin@example.com";
pub(crate) const ADMIN_PASSWORD: &str = "admin password for tests";
/// A well-formed token naming a key no issuer has: the gateway must fetch
/// the issuer's keys to refuse it.
pub(crate) const UNVERIFIABLE_TOKEN: &str = "eyJhbGciOiJFZERTQSIsImtpZCI6InVua25vd24ifQ.e30.c2ln";
/// A password that passes the length check.
pub(crate) const PASSWORD: &str = "correct horse battery";

/// A gateway (and, usually, a user-service behind it). Dropping it shuts
/// both down.
pub(crate) struct TestApp {
    pub(crate) base: String,
    /// Signed in as the admin (once a user-service is there): for tests of
    /// what the routes do, not of who may call them.
    pub(crate) http: reqwest::Client,
    /// No token at all.
    pub(crate) anonymous: reqwest::Client,
    /// Set by `spawn_everything*`: where the services are.
    pub(crate) user_service_url: Option<String>,
    pub(crate) events_exchange: Option<String>,
    _shutdown: Vec<oneshot::Sender<()>>,
    _queues: QueueJanitor,
    /// The databases of the services other than the one whose database
    /// the test was given (dropped last, once the services are told to stop).
    users_db: Option<OwnDatabase>,
    notifications_db: Option<OwnDatabase>,
}

impl TestApp {
    /// The users path: gateway → gRPC → user-service → this test's database.
    pub(crate) async fn spawn(pool: PgPool) -> Self {
        let (url, users) = spawn_user_service(pool).await;
        let mut app = Self::spawn_gateway(gateway_config(&url)).await;
        app._shutdown.push(users);
        app.sign_in_as_admin().await;
        app
    }

    /// Every path: the gateway, user-service and order-service (on this
    /// test's own queue); `pool` is order-service's database.
    pub(crate) async fn spawn_with_orders(pool: PgPool) -> Self {
        let services = Self::spawn_users_only(&pool).await;
        let gateway = gateway_config(&services.user_service_url);
        let orders = services.start_order_service(&gateway, pool, 10).await;
        let mut app = Self::spawn_gateway(gateway).await;
        app._shutdown.extend(services.shutdown);
        app._shutdown.push(orders);
        app.users_db = Some(services.users_db);
        app.sign_in_as_admin().await;
        app
    }

    /// user-service on a database of its own beside `orders_db`, for tests
    /// that start order-service themselves, later.
    pub(crate) async fn spawn_users_only(orders_db: &PgPool) -> Services {
        let users_db = OwnDatabase::create(orders_db, "users", &user_service::MIGRATOR).await;
        let (user_service_url, users) = spawn_user_service(users_db.pool.clone()).await;
        Services {
            user_service_url,
            shutdown: vec![users],
            users_db,
        }
    }

    /// All four services, with events flowing through this test's own
    /// exchange: user-service and order-service publish from their outboxes,
    /// notification-service consumes on the gateway's notifications queue.
    pub(crate) async fn spawn_everything(pool: PgPool) -> Self {
        Self::spawn_all(pool, true).await
    }

    /// All four services, but events stay in the outboxes until the test
    /// publishes them itself; notification-service handles one delivery at a
    /// time, so the test can reason about order.
    pub(crate) async fn spawn_everything_without_relays(pool: PgPool) -> Self {
        Self::spawn_all(pool, false).await
    }

    async fn spawn_all(pool: PgPool, relays: bool) -> Self {
        let users_db = OwnDatabase::create(&pool, "users", &user_service::MIGRATOR).await;
        let notifications_db =
            OwnDatabase::create(&pool, "notifications", &notification_service::MIGRATOR).await;
        let exchange = format!("test.events.{}", uuid::Uuid::new_v4());

        let mut users = user_service_config();
        users.events_exchange = relays.then(|| exchange.clone());
        users.amqp_url = amqp_url().into();
        let users = user_service::App::with_pool(users, users_db.pool.clone())
            .await
            .unwrap();
        let user_service_url = format!("https://{}", users.local_addr());
        let mut shutdown = vec![spawn_until_dropped(|rx| {
            users.run_until(async {
                let _ = rx.await;
            })
        })];

        let gateway = gateway_config(&user_service_url);
        // Every service of these tests logs in as the same broker account,
        // the gateway's included: it is the one allowed to send requests.
        let account = messaging::AmqpConfig::new(amqp_url()).user();
        let mut orders = order_service::Config::new("postgres://unused", gateway.amqp_url.clone());
        orders.serving.callers = vec![account.clone()];
        orders.queue = gateway.orders_queue.clone();
        orders.user_service_url = user_service_url;
        orders.tls = pki().tls(ORDER_SERVICE);
        orders.events_exchange = relays.then(|| exchange.clone());
        let orders = order_service::App::with_pool(orders, pool.clone())
            .await
            .unwrap();
        shutdown.push(spawn_until_dropped(|rx| {
            orders.run_until(async {
                let _ = rx.await;
            })
        }));

        let mut notifications =
            notification_service::Config::new("postgres://unused", gateway.amqp_url.clone());
        notifications.queue = gateway.notifications_queue.clone();
        let events_queue = format!("test.notification-events.{}", uuid::Uuid::new_v4());
        notifications.events_queue = events_queue.clone();
        notifications.events_exchange = exchange.clone();
        notifications.serving.callers = vec![account.clone()];
        notifications.publishers.user_events = account.clone();
        notifications.publishers.order_events = account;
        if !relays {
            notifications.prefetch = 1;
        }
        let notifications =
            notification_service::App::with_pool(notifications, notifications_db.pool.clone())
                .await
                .unwrap();
        let notifications_admin = notifications.admin_addr();
        shutdown.push(spawn_until_dropped(|rx| {
            notifications.run_until(async {
                let _ = rx.await;
            })
        }));

        let user_service_url = gateway.user_service_url.clone();
        let mut app = Self::spawn_gateway(gateway).await;
        app._shutdown.extend(shutdown);
        app._queues.exchanges.push(exchange.clone());
        app._queues
            .queues
            .extend([format!("{events_queue}.dead-letter"), events_queue]);
        app.events_exchange = Some(exchange);
        app.user_service_url = Some(user_service_url);
        app.users_db = Some(users_db);
        app.notifications_db = Some(notifications_db);
        app.sign_in_as_admin().await;
        // An event published before notification-service has bound its
        // events queue would be dropped by the exchange. Its bindings are
        // declared before it consumes, and it is ready once both of its
        // consumers are.
        for _ in 0..250 {
            if platform::admin::probe(notifications_admin, "/readyz")
                .await
                .is_ok()
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let probe = format!("/users/{}/notifications", uuid::Uuid::now_v7());
        let answered = app.http.get(app.url(&probe)).send().await.unwrap();
        assert_eq!(
            answered.status(),
            200,
            "notification-service never answered"
        );
        app
    }

    /// Only the gateway, with whatever user-service URL the test wants
    /// (a closed port, a silent peer), once connected to RabbitMQ.
    pub(crate) async fn spawn_gateway(config: Config) -> Self {
        Self::spawn_gateway_inner(config, true).await
    }

    /// The gateway pointed at a broker that is not there.
    pub(crate) async fn spawn_gateway_without_broker(config: Config) -> Self {
        Self::spawn_gateway_inner(config, false).await
    }

    async fn spawn_gateway_inner(config: Config, wait_for_broker: bool) -> Self {
        let (janitor_url, janitor_queue, janitor_notifications) = (
            secrecy::ExposeSecret::expose_secret(&config.amqp_url).to_owned(),
            config.orders_queue.clone(),
            config.notifications_queue.clone(),
        );
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
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(app.run_until(async {
            let _ = rx.await;
        }));
        Self {
            base,
            http: client(None),
            anonymous: client(None),
            _shutdown: vec![tx],
            user_service_url: None,
            events_exchange: None,
            users_db: None,
            notifications_db: None,
            _queues: QueueJanitor {
                amqp_url: janitor_url,
                queues: vec![
                    janitor_queue.clone(),
                    format!("{janitor_queue}.dead-letter"),
                    format!("{janitor_notifications}.dead-letter"),
                    janitor_notifications,
                ],
                exchanges: Vec::new(),
            },
        }
    }

    /// user-service's database, when this app started one for it.
    pub(crate) fn users_db(&self) -> &PgPool {
        &self
            .users_db
            .as_ref()
            .expect("no user-service database")
            .pool
    }

    /// notification-service's database, when this app started one for it.
    pub(crate) fn notifications_db(&self) -> &PgPool {
        let db = self.notifications_db.as_ref();
        &db.expect("no notification-service database").pool
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `GET path` as the admin, its JSON body (whatever the status).
    pub(crate) async fn get_json(&self, path: &str) -> Value {
        self.get_json_as(&self.http, path).await
    }

    /// `GET path` with `client` (a user's token), its JSON body.
    pub(crate) async fn get_json_as(&self, client: &reqwest::Client, path: &str) -> Value {
        client
            .get(self.url(path))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub(crate) async fn create_user(&self, name: &str, email: &str) -> Response {
        self.anonymous
            .post(self.url("/users"))
            .json(&serde_json::json!({ "name": name, "email": email, "password": PASSWORD }))
            .send()
            .await
            .unwrap()
    }

    /// `POST /auth/token`: the response, whatever it is.
    pub(crate) async fn log_in(&self, email: &str, password: &str) -> Response {
        self.anonymous
            .post(self.url("/auth/token"))
            .json(&serde_json::json!({ "email": email, "password": password }))
            .send()
            .await
            .unwrap()
    }

    /// A bearer token for `email`.
    pub(crate) async fn token(&self, email: &str, password: &str) -> String {
        let response = self.log_in(email, password).await;
        assert_eq!(response.status(), 200, "logging in as {email}");
        let body: Value = response.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    }

    /// Keeps a service running as long as this app.
    pub(crate) fn hold(&mut self, service: oneshot::Sender<()>) {
        self._shutdown.push(service);
    }

    /// From now on `self.http` calls as the admin.
    pub(crate) async fn sign_in_as_admin(&mut self) {
        let token = self.token(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        self.http = client(Some(&token));
    }
}

/// An HTTP client, sending `token` as its bearer token if given.
pub(crate) fn client(token: Option<&str>) -> reqwest::Client {
    test_support::http_client(token, Duration::from_secs(15))
}

/// user-service with this suite's admin account.
/// The development CA and service certificates every service of this test
/// binary uses (mutual TLS, as in production).
pub(crate) fn pki() -> &'static user_service::dev_pki::DevPki {
    static PKI: std::sync::OnceLock<user_service::dev_pki::DevPki> = std::sync::OnceLock::new();
    PKI.get_or_init(|| user_service::dev_pki::DevPki::generate().unwrap())
}

pub(crate) fn user_service_config() -> user_service::Config {
    let mut config = user_service::Config::new("127.0.0.1:0".parse().unwrap());
    config.tls = pki().tls(USER_SERVICE);
    config.admin_account = Some(user_service::config::AdminAccount {
        email: ADMIN_EMAIL.into(),
        password: ADMIN_PASSWORD.to_owned().into(),
    });
    config
}

/// Services started without a gateway; dropping this stops them.
pub(crate) struct Services {
    pub(crate) user_service_url: String,
    shutdown: Vec<oneshot::Sender<()>>,
    users_db: OwnDatabase,
}

impl Services {
    /// Starts order-service on the gateway's queue, taking `prefetch`
    /// deliveries at a time; it runs until the returned sender is dropped.
    pub(crate) async fn start_order_service(
        &self,
        gateway: &Config,
        pool: PgPool,
        prefetch: u16,
    ) -> oneshot::Sender<()> {
        let mut config = order_service::Config::new("postgres://unused", gateway.amqp_url.clone());
        config.prefetch = prefetch;
        config.serving.callers = vec![messaging::AmqpConfig::new(amqp_url()).user()];
        config.queue = gateway.orders_queue.clone();
        config.user_service_url = self.user_service_url.clone();
        config.tls = pki().tls(ORDER_SERVICE);
        let orders = order_service::App::with_pool(config, pool).await.unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(orders.run_until(async {
            let _ = rx.await;
        }));
        tx
    }
}

/// A gateway config with this test's own orders queue.
pub(crate) fn gateway_config(user_service_url: &str) -> Config {
    let mut config = Config::new("127.0.0.1:0".parse().unwrap(), user_service_url);
    config.tls = pki().tls(API_GATEWAY);
    config.amqp_url = amqp_url().into();
    config.orders_queue = format!("test.orders.{}", uuid::Uuid::new_v4());
    config.notifications_queue = format!("test.notifications.{}", uuid::Uuid::new_v4());
    // Tests sign up as many users as they need from 127.0.0.1; the limit
    // has its own test (auth.rs).
    config.signup_limit_per_address = 10_000;
    config
}

pub(crate) async fn spawn_user_service(pool: PgPool) -> (String, oneshot::Sender<()>) {
    spawn_user_service_with(pool, user_service_config()).await
}

pub(crate) async fn spawn_user_service_with(
    pool: PgPool,
    config: user_service::Config,
) -> (String, oneshot::Sender<()>) {
    let users = user_service::App::with_pool(config, pool).await.unwrap();
    let url = format!("https://{}", users.local_addr());
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(users.run_until(async {
        let _ = rx.await;
    }));
    (url, tx)
}

fn spawn_until_dropped<F, Fut>(run: F) -> oneshot::Sender<()>
where
    F: FnOnce(oneshot::Receiver<()>) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let (tx, rx) = oneshot::channel();
    tokio::spawn(run(rx));
    tx
}

/// Asserts an RFC 9457 problem with `status` and returns its body.
pub(crate) async fn assert_problem(response: Response, status: u16) -> Value {
    assert_eq!(response.status().as_u16(), status, "status");
    let content_type = response.headers()[CONTENT_TYPE]
        .to_str()
        .unwrap()
        .to_owned();
    let body: Value = response.json().await.unwrap();
    assert_eq!(content_type, "application/problem+json", "{body}");
    assert_eq!(body["status"], status, "{body}");
    assert_eq!(body["type"], "about:blank", "{body}");
    assert!(body["title"].is_string(), "{body}");
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{body}"
    );
    body
}

/// Customers (the admin the tests start with does not count).
pub(crate) async fn count_users(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM users WHERE role = 'customer'")
        .fetch_one(pool)
        .await
        .unwrap()
}
