use contracts::identity::{Caller, ORDER_SERVICE, Role, USER_SERVICE};
use std::time::Duration;
use user_service::dev_pki::DevPki;

use lapin::{Channel, Connection, ConnectionProperties, options::QueueDeleteOptions};
use messaging::{AmqpConfig, Client, Link};
use order_service::{App, Config};
use serde_json::{Value, json};
use sqlx::PgPool;
use test_support::databases::OwnDatabase;
use tokio::sync::oneshot;
use uuid::Uuid;

/// The development CA and certificates of this test binary's services
/// (user-service serves mutual TLS, as in production).
pub(crate) fn pki() -> &'static DevPki {
    static PKI: std::sync::OnceLock<DevPki> = std::sync::OnceLock::new();
    PKI.get_or_init(|| DevPki::generate().unwrap())
}

/// A channel to user-service presenting order-service's certificate: what
/// the saga's own calls look like.
pub(crate) async fn user_service_channel(url: &str) -> tonic::transport::Channel {
    tonic::transport::Endpoint::from_shared(url.to_owned())
        .unwrap()
        .tls_config(pki().tls(ORDER_SERVICE).unwrap().client(USER_SERVICE))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

pub(crate) use test_support::amqp_url;

pub(crate) struct TestApp {
    pub(crate) client: Client,
    /// order-service's database (the one `#[sqlx::test]` made).
    pub(crate) pool: PgPool,
    /// user-service's, beside it.
    pub(crate) users_db: OwnDatabase,
    pub(crate) queue: String,
    pub(crate) user_service_url: String,
    pub(crate) admin: Channel,
    pub(crate) admin_connection: Connection,
    _shutdown: Vec<oneshot::Sender<()>>,
    order_service: (
        oneshot::Sender<()>,
        tokio::task::JoinHandle<anyhow::Result<()>>,
    ),
}

impl TestApp {
    pub(crate) async fn spawn(pool: PgPool) -> Self {
        let users_db = OwnDatabase::create(&pool, "users", &user_service::MIGRATOR).await;
        let mut shutdown = Vec::new();

        let mut users = user_service::Config::new("127.0.0.1:0".parse().unwrap());
        users.tls = pki().tls(USER_SERVICE);
        let users = user_service::App::with_pool(users, users_db.pool.clone())
            .await
            .unwrap();
        let user_service_url = format!("https://{}", users.local_addr());
        shutdown.push(spawn_until_dropped(|rx| {
            users.run_until(async {
                let _ = rx.await;
            })
        }));

        let queue = format!("test.orders.{}", Uuid::new_v4());
        let mut config = Config::new("postgres://unused", amqp_url());
        config.queue = queue.clone();
        // The tests send requests as the broker's guest (the gateway's
        // account in a deployment).
        config.serving.callers = vec!["guest".into()];
        config.user_service_url = user_service_url.clone();
        config.tls = pki().tls(ORDER_SERVICE);
        config.retry_delay = Duration::from_millis(10);
        let app = App::with_pool(config, pool.clone()).await.unwrap();
        let (stop_orders, stopped) = oneshot::channel::<()>();
        let orders = (
            stop_orders,
            tokio::spawn(app.run_until(async {
                let _ = stopped.await;
            })),
        );

        // Requests are made as an admin, who may act for any user: these
        // tests are about orders; tests/it/access.rs is about who may ask.
        let client = Client::amqp(
            &Link::start(AmqpConfig::new(amqp_url())),
            &queue,
            Duration::from_secs(10),
        )
        .on_behalf_of(Caller {
            user_id: Uuid::now_v7(),
            role: Role::Admin,
        });
        assert!(client.wait_connected(Duration::from_secs(5)).await);
        let admin_connection = Connection::connect(&amqp_url(), ConnectionProperties::default())
            .await
            .unwrap();
        let admin = admin_connection.create_channel().await.unwrap();
        Self {
            client,
            pool,
            users_db,
            queue,
            user_service_url,
            admin,
            admin_connection,
            _shutdown: shutdown,
            order_service: orders,
        }
    }

    /// A user with plenty of credit (1,000.00).
    pub(crate) async fn user(&self) -> Uuid {
        self.user_with_credit(100_000).await
    }

    /// A user row straight in the users table, with a top-up in the ledger
    /// when `cents` > 0 (user-service's own API is tested in its crate).
    pub(crate) async fn user_with_credit(&self, cents: i64) -> Uuid {
        let id = Uuid::now_v7();
        sqlx::query(
            "INSERT INTO users (id, name, email, balance_cents) VALUES ($1, 'Buyer', $2, $3)",
        )
        .bind(id)
        .bind(format!("{id}@example.com"))
        .bind(cents)
        .execute(&self.users_db.pool)
        .await
        .unwrap();
        if cents > 0 {
            sqlx::query(
                "INSERT INTO credit_entries (id, user_id, kind, amount_cents, idempotency_key)
                 VALUES ($1, $2, 'top_up', $3, $4)",
            )
            .bind(Uuid::now_v7())
            .bind(id)
            .bind(cents)
            .bind(format!("seed:{id}"))
            .execute(&self.users_db.pool)
            .await
            .unwrap();
        }
        id
    }

    pub(crate) async fn balance(&self, user: Uuid) -> i64 {
        sqlx::query_scalar("SELECT balance_cents FROM users WHERE id = $1")
            .bind(user)
            .fetch_one(&self.users_db.pool)
            .await
            .unwrap()
    }

    pub(crate) async fn stock(&self, sku: &str) -> i32 {
        sqlx::query_scalar("SELECT stock FROM products WHERE sku = $1")
            .bind(sku)
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }

    pub(crate) async fn order_count(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM orders")
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }

    pub(crate) async fn create_order(
        &self,
        user: Uuid,
        items: Value,
    ) -> Result<Value, messaging::RpcError> {
        self.client
            .send_value("create_order", json!({"user_id": user, "items": items}))
            .await
    }

    /// Stops order-service, then deletes the queues. In that order: a
    /// consumer whose queue disappears under it declares it again.
    pub(crate) async fn cleanup(self) {
        let (stop, stopped) = self.order_service;
        let _ = stop.send(());
        let _ = tokio::time::timeout(Duration::from_secs(15), stopped).await;
        for queue in [self.queue.clone(), format!("{}.dead-letter", self.queue)] {
            let _ = self
                .admin
                .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
                .await;
        }
    }
}

/// The `code` of a remote error, or a panic naming what came back instead.
pub(crate) fn error_code(result: Result<Value, messaging::RpcError>) -> String {
    remote_error(result)["code"].as_str().unwrap().to_owned()
}

/// The `err` a remote handler answered, or a panic naming what came back.
pub(crate) fn remote_error(result: Result<Value, messaging::RpcError>) -> Value {
    match result {
        Err(messaging::RpcError::Remote(err)) => err,
        other => panic!("expected a remote error, got {other:?}"),
    }
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
