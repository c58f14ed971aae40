//! The system-test harness: the four real service binaries, started as child
//! processes on free ports against the machine's Postgres and RabbitMQ, with
//! databases and a RabbitMQ vhost of their own per [`System`] — each
//! service logging in with its own broker account, permitted as in
//! production — so tests run in parallel and never touch a developer's data.
//!
//! The binaries are the ones `cargo test --workspace` (what `just test` runs)
//! builds beside this test; `just test-system` builds them first.
//!
//! # Layout
//! - [`System`]: start, reach, stop and restart services; clean up.
//! - [`process`]: one service process: environment, logs, signals.
//! - [`broker`]: raw publishes, queue depths and dead letters.
//! - [`client`]: the gateway calls tests make (users, credit, orders).
//! - [`invariants`]: what must hold once the system is idle.
//! - [`burst`]: the burst of orders the fault scenarios strike.
//! - [`prometheus`]: a real Prometheus scraping a system with the shipped
//!   configuration's jobs; [`grafana`]: the shipped dashboard's queries.
//! - [`servers`]: stopping and starting the machine's RabbitMQ and Postgres.
//! - `postgres`: each service's own role and database.

// A panic is how a test harness reports failure.
#![allow(clippy::unwrap_used)]

pub mod attack;
pub mod broker;
pub mod burst;
pub mod client;
pub mod grafana;
pub mod invariants;
mod postgres;
pub mod process;
pub mod prometheus;
pub mod pubsub;
pub mod servers;

use std::{collections::BTreeMap, time::Duration};

use sqlx::PgPool;

pub use crate::process::{Binary, Process};

/// Postgres server the per-system databases are created on.
pub fn postgres_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| {
        "postgres://postgres:postgres@127.0.0.1:5432/postgres?sslmode=disable".into()
    })
}

/// What to start.
#[derive(Debug, Clone)]
pub struct Options {
    pub user_services: usize,
    pub order_services: usize,
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` for every service.
    pub otlp_endpoint: Option<String>,
    /// Extra environment for every service (e.g. `SHUTDOWN_GRACE_PERIOD`).
    pub env: Vec<(String, String)>,
    /// Prefix of the databases and the vhost: `sys` for tests.
    pub prefix: &'static str,
    /// How the gateway's requests reach order-service and
    /// notification-service: RabbitMQ, NATS or Redis (a server of the
    /// system's own), or TCP (mutual TLS); events stay on RabbitMQ.
    pub requests: messaging::Transport,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            user_services: 1,
            order_services: 1,
            otlp_endpoint: None,
            env: Vec::new(),
            prefix: "sys",
            requests: messaging::Transport::Amqp,
        }
    }
}

/// The admin user-service creates in every system (`ADMIN_EMAIL`).
pub const ADMIN_EMAIL: &str = "admin@example.com";
pub const ADMIN_PASSWORD: &str = "system test admin password";
/// Every customer's password in the system tests.
pub const PASSWORD: &str = "correct horse battery";

/// A running system. Dropping it kills what is still running and removes
/// its databases, queues and exchange.
#[derive(Debug)]
pub struct System {
    pub id: String,
    /// Signed in as the admin, who may call every route for any user.
    pub http: reqwest::Client,
    /// No token.
    pub anonymous: reqwest::Client,
    /// Each customer's token, by user id, as a browser keeps its session.
    pub(crate) tokens: client::Tokens,
    /// The PEM of user-service's signing key (`JWT_SIGNING_KEY`), for tests
    /// that forge tokens the issuer could have signed.
    pub signing_key: String,
    pub gateway: Process,
    pub user_services: Vec<Process>,
    pub order_services: Vec<Process>,
    pub notification_service: Process,
    pub orders_queue: String,
    pub notifications_queue: String,
    pub notification_events_queue: String,
    pub events_exchange: String,
    /// The system's vhost with the services' accounts; removed on drop.
    pub vhost: test_support::broker_accounts::Vhost,
    /// The system's development CA (`ca.pem`) and every service's
    /// certificate and key (`<service>.pem`, `<service>.key`).
    pub certs: std::path::PathBuf,
    /// The system's own NATS or Redis server, when requests travel over
    /// NATS or Redis.
    pub pubsub: Option<pubsub::PubSubServer>,
    /// Where order-service takes requests, when they travel over TCP.
    pub order_service_tcp: Option<std::net::SocketAddr>,
    databases: Databases,
    /// Each service's `DATABASE_URL`, as its own role.
    service_database_urls: BTreeMap<&'static str, String>,
}

/// How long a system may take to become healthy.
const START_TIMEOUT: Duration = Duration::from_secs(30);

impl System {
    pub async fn start(options: Options) -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
        // Dropped with the system, or with a start that panics half-way.
        let databases = Databases(
            ["users", "orders", "notifications"]
                .into_iter()
                .map(|name| (name, format!("{}_{id}_{name}", options.prefix)))
                .collect(),
        );
        let vhost =
            test_support::broker_accounts::Vhost::create(&format!("{}_{id}", options.prefix));
        // The production names: the vhost keeps systems apart.
        let orders_queue = contracts::patterns::ORDERS_QUEUE.to_owned();
        let notifications_queue = contracts::patterns::NOTIFICATIONS_QUEUE.to_owned();
        let notification_events_queue = contracts::patterns::NOTIFICATION_EVENTS_QUEUE.to_owned();
        let events_exchange = contracts::events::EVENTS_EXCHANGE.to_owned();

        // One signing key for every user-service replica and restart: tokens
        // stay valid across them, as with a key from a file.
        let signing_key = process::signing_key();
        let mut common = vec![
            ("JWT_SIGNING_KEY".to_owned(), signing_key.clone()),
            ("ADMIN_EMAIL".to_owned(), ADMIN_EMAIL.to_owned()),
            ("ADMIN_PASSWORD".to_owned(), ADMIN_PASSWORD.to_owned()),
            // Tests sign many users up and in from 127.0.0.1; the limit per
            // account and address still holds (and is what the security
            // tests try, with the others from 127.0.0.2 and .3).
            ("LOGIN_LIMIT_PER_ADDRESS".to_owned(), "100000".to_owned()),
            ("SIGNUP_LIMIT_PER_ADDRESS".to_owned(), "100000".to_owned()),
        ];
        if let Some(endpoint) = &options.otlp_endpoint {
            common.push(("OTEL_EXPORTER_OTLP_ENDPOINT".into(), endpoint.clone()));
            // Export within 100 ms, so a test sees its spans quickly.
            common.push(("OTEL_BSP_SCHEDULE_DELAY".into(), "100".into()));
        }
        common.extend(options.env.iter().cloned());
        // Mutual TLS between the services, from a CA of this system's own.
        let certs = process::log_dir(&id).join("certs");
        process::dev_certs(&certs);
        let tls = |binary: Binary| {
            let file = |name: String| certs.join(name).display().to_string();
            [
                ("GRPC_TLS_CA_FILE".to_owned(), file("ca.pem".into())),
                (
                    "GRPC_TLS_CERT_FILE".to_owned(),
                    file(format!("{}.pem", binary.name())),
                ),
                (
                    "GRPC_TLS_KEY_FILE".to_owned(),
                    file(format!("{}.key", binary.name())),
                ),
            ]
        };
        // Each service connects as its own role, owner of its database only.
        let service_urls = postgres::create(&databases.0);
        let db = |name: &str| ("DATABASE_URL".to_owned(), service_urls[name].clone());
        // Each service logs into the broker as itself.
        let amqp = |binary: Binary| ("AMQP_URL".to_owned(), vhost.url(binary.name()));
        // And, when requests go over NATS or Redis, into that too; over TCP
        // each service listens on a port of its own (mutual TLS with the
        // certificates above).
        let transport = options.requests;
        let pubsub = match transport {
            messaging::Transport::Nats | messaging::Transport::Redis => {
                Some(pubsub::PubSubServer::start(transport).await)
            }
            messaging::Transport::Amqp | messaging::Transport::Tcp => None,
        };
        let (order_tcp, notification_tcp) = (process::free_port(), process::free_port());
        let requests_over = |binary: Binary| -> Vec<(String, String)> {
            let name = transport.name().to_owned();
            let mut env = match (&pubsub, transport) {
                (Some(pubsub), _) => {
                    let variable = format!("{}_URL", name.to_uppercase());
                    vec![(variable, pubsub.url(binary.name()))]
                }
                (None, messaging::Transport::Tcp) => match binary {
                    Binary::OrderService => vec![("TCP_LISTEN_ADDR".into(), order_tcp.to_string())],
                    Binary::NotificationService => {
                        vec![("TCP_LISTEN_ADDR".into(), notification_tcp.to_string())]
                    }
                    _ => vec![
                        ("ORDER_SERVICE_TCP_ADDR".into(), order_tcp.to_string()),
                        (
                            "NOTIFICATION_SERVICE_TCP_ADDR".into(),
                            notification_tcp.to_string(),
                        ),
                    ],
                },
                (None, _) => return Vec::new(),
            };
            match binary {
                Binary::ApiGateway => env.extend([
                    ("ORDERS_TRANSPORT".into(), name.clone()),
                    ("NOTIFICATIONS_TRANSPORT".into(), name),
                ]),
                _ => env.push(("TRANSPORTS".into(), name)),
            }
            env
        };

        let user_services: Vec<Process> = (0..options.user_services)
            .map(|i| {
                let mut env = common.clone();
                env.extend([db("users"), amqp(Binary::UserService)]);
                env.extend(tls(Binary::UserService));
                Process::spawn(Binary::UserService, &id, i, env)
            })
            .collect();
        let user_service_urls = user_services
            .iter()
            .map(|p| format!("https://{}", p.listen_addr.unwrap()))
            .collect::<Vec<_>>()
            .join(",");
        // Replicas would race to create and migrate their database (which is
        // safe: migrations take an advisory lock); the first one alone is
        // simpler to read in the logs.
        let mut order_services = Vec::new();
        for i in 0..options.order_services {
            let mut env = common.clone();
            env.extend([db("orders"), amqp(Binary::OrderService)]);
            env.extend(tls(Binary::OrderService));
            env.extend(requests_over(Binary::OrderService));
            if i > 0 && transport == messaging::Transport::Tcp {
                // TCP is point to point: the gateway reaches the first one.
                let port = process::free_port().to_string();
                env.push(("TCP_LISTEN_ADDR".into(), port));
            }
            env.push(("USER_SERVICE_URL".into(), user_service_urls.clone()));
            let process = Process::spawn(Binary::OrderService, &id, i, env);
            if i == 0 {
                process.wait_ready(START_TIMEOUT).await;
            }
            order_services.push(process);
        }
        let mut env = common.clone();
        env.extend([db("notifications"), amqp(Binary::NotificationService)]);
        env.extend(tls(Binary::NotificationService));
        env.extend(requests_over(Binary::NotificationService));
        let notification_service = Process::spawn(Binary::NotificationService, &id, 0, env);
        let mut env = common.clone();
        env.extend([
            amqp(Binary::ApiGateway),
            ("USER_SERVICE_URL".into(), user_service_urls),
        ]);
        env.extend(tls(Binary::ApiGateway));
        env.extend(requests_over(Binary::ApiGateway));
        let gateway = Process::spawn(Binary::ApiGateway, &id, 0, env);

        let mut system = Self {
            id,
            http: client::http(None),
            anonymous: client::http(None),
            tokens: client::Tokens::default(),
            signing_key,
            gateway,
            user_services,
            order_services,
            notification_service,
            orders_queue,
            notifications_queue,
            notification_events_queue,
            events_exchange,
            vhost,
            certs,
            databases,
            service_database_urls: service_urls,
            pubsub,
            order_service_tcp: (transport == messaging::Transport::Tcp).then_some(order_tcp),
        };
        for process in system.processes() {
            process.wait_ready(START_TIMEOUT).await;
        }
        system.wait_healthy(START_TIMEOUT).await;
        let admin = system.log_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        system.http = client::http(Some(&admin));
        system
    }

    pub fn processes(&self) -> impl Iterator<Item = &Process> {
        self.user_services
            .iter()
            .chain(&self.order_services)
            .chain([&self.notification_service, &self.gateway])
    }

    /// `http://127.0.0.1:<port><path>` on the gateway.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.gateway.listen_addr.unwrap())
    }

    /// Waits until the gateway's `/health` reports every service up.
    pub async fn wait_healthy(&self, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        let mut last = String::new();
        while tokio::time::Instant::now() < deadline {
            match self.http.get(self.url("/health")).send().await {
                Ok(r) if r.status() == 200 => return,
                Ok(r) => last = r.text().await.unwrap_or_default(),
                Err(e) => last = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "the system was not healthy within {within:?}: {last}\n{}",
            self.logs_hint()
        );
    }

    /// A pool on one service's database: `"users"`, `"orders"` or
    /// `"notifications"`.
    pub async fn db(&self, name: &str) -> PgPool {
        PgPool::connect(&self.database_url(name)).await.unwrap()
    }

    /// The name of one service's database.
    pub fn database_name(&self, name: &str) -> &str {
        &self.databases.0[name]
    }

    /// The URL of one service's database, as the superuser.
    pub fn database_url(&self, name: &str) -> String {
        database_url(&self.databases.0[name])
    }

    /// The `DATABASE_URL` a service connects with: its own role, its own
    /// database (`"users"`, `"orders"` or `"notifications"`).
    pub fn service_database_url(&self, name: &str) -> &str {
        &self.service_database_urls[name]
    }

    /// Where the services' logs are, for failure messages.
    pub fn logs_hint(&self) -> String {
        let dir = process::log_dir(&self.id);
        format!("service logs: {}", dir.display())
    }
}

impl Drop for System {
    fn drop(&mut self) {
        let processes = self
            .user_services
            .iter_mut()
            .chain(&mut self.order_services)
            .chain([&mut self.notification_service, &mut self.gateway]);
        for process in processes {
            process.kill();
        }
        // Logs are kept when the test failed: they are what explains it.
        // (The databases go when `databases` drops, the vhost with every
        // queue in it when `vhost` does, the NATS or Redis server with `pubsub`.)
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(process::log_dir(&self.id));
        }
    }
}

/// A system's databases by service; dropping this drops them.
#[derive(Debug)]
struct Databases(BTreeMap<&'static str, String>);

impl Drop for Databases {
    fn drop(&mut self) {
        if let Ok(server) = postgres_url().parse() {
            let names = self.0.values().cloned().collect();
            test_support::databases::drop_databases(server, names);
        }
    }
}

/// The URL of database `name` on the test Postgres server, as the server
/// URL's (super)user.
fn database_url(name: &str) -> String {
    database_url_on(&postgres_url(), name)
}

/// The URL of database `name` on the test Postgres server, as `role`.
fn database_url_as(role: &str, password: &str, name: &str) -> String {
    let server = postgres_url();
    let (scheme, rest) = server.split_once("://").unwrap();
    let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    database_url_on(&format!("{scheme}://{role}:{password}@{host}"), name)
}

/// The URL of database `name` on `server`, without TLS unless the server
/// URL asks for it (on loopback it only costs CPU).
fn database_url_on(server: &str, name: &str) -> String {
    let (path, query) = server.split_once('?').unwrap_or((server, ""));
    let base = path.rsplit_once('/').map_or(path, |(b, _)| b);
    let query = if query.contains("sslmode=") {
        query.to_owned()
    } else if query.is_empty() {
        "sslmode=disable".to_owned()
    } else {
        format!("{query}&sslmode=disable")
    };
    format!("{base}/{name}?{query}")
}
