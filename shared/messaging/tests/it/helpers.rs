use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use lapin::{
    BasicProperties, Channel, Connection, ConnectionProperties,
    message::BasicGetMessage,
    options::{BasicGetOptions, BasicPublishOptions, QueueDeclareOptions, QueueDeleteOptions},
    types::FieldTable,
};
use messaging::{AmqpConfig, Client, Link, Router, ServerConfig};
use tokio_util::sync::CancellationToken;

pub(crate) use test_support::amqp_url;

/// One test's queues, a client bound to them, and an admin channel to
/// publish raw bytes and inspect queues. Queues are deleted by `cleanup`.
pub(crate) struct Bus {
    pub(crate) config: ServerConfig,
    pub(crate) admin: Channel,
    _admin_connection: Connection,
    servers: Vec<(CancellationToken, tokio::task::JoinHandle<()>)>,
    /// Whether each started server consumes yet.
    serving: Vec<messaging::Connected>,
}

impl Bus {
    pub(crate) async fn new() -> Self {
        Self::with_url(amqp_url()).await
    }

    pub(crate) async fn with_url(url: String) -> Self {
        let queue = format!("test.{}", uuid::Uuid::new_v4());
        let amqp = AmqpConfig::new(url.clone());
        // The test's own account is the one allowed to send requests (the
        // gateway's, in the services).
        let callers = vec![amqp.user()];
        let mut config = ServerConfig::new(amqp, queue, callers);
        config.retry_delay = Duration::from_millis(10);
        let connection = Connection::connect(&url, ConnectionProperties::default())
            .await
            .expect("RabbitMQ must run on 127.0.0.1:5672 (see README)");
        let admin = connection.create_channel().await.unwrap();
        Self {
            config,
            admin,
            _admin_connection: connection,
            servers: Vec::new(),
            serving: Vec::new(),
        }
    }

    pub(crate) fn start_server(&mut self, router: Router) {
        let shutdown = CancellationToken::new();
        let serving = messaging::Connected::default();
        let server = tokio::spawn(messaging::serve(
            self.config.clone(),
            router,
            serving.clone(),
            shutdown.clone(),
        ));
        self.servers.push((shutdown, server));
        self.serving.push(serving);
    }

    /// Waits (bounded: 5 s) until every started server consumes: its queue
    /// exists then, and a request to it is not returned as unroutable.
    pub(crate) async fn wait_serving(&self) {
        for _ in 0..500 {
            if self.serving.iter().all(messaging::Connected::get) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("a server of {} never started consuming", self.config.queue);
    }

    /// Declares `queue` as its server does (durable, no arguments): for a
    /// work queue, a server that ran before and is down now — for tests that
    /// send with none running.
    pub(crate) async fn declare(&self, queue: &str) {
        self.admin
            .queue_declare(
                queue.into(),
                QueueDeclareOptions {
                    durable: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .unwrap();
    }

    /// A client of the bus's queue, once its servers consume.
    pub(crate) async fn client(&self, timeout: Duration) -> Client {
        self.wait_serving().await;
        let client = Client::amqp(
            &Link::start(self.config.amqp.clone()),
            &self.config.queue,
            timeout,
        );
        assert!(
            client.wait_connected(Duration::from_secs(5)).await,
            "client never connected"
        );
        client
    }

    /// Publishes `body` straight to the queue, as the account allowed to
    /// call (its `user_id`) unless `properties` name none other.
    pub(crate) async fn publish_raw(&self, body: &[u8], properties: BasicProperties) {
        let properties = match properties.user_id() {
            Some(_) => properties,
            None => properties.with_user_id(self.config.amqp.user().into()),
        };
        self.admin
            .basic_publish(
                "".into(),
                self.config.queue.as_str().into(),
                BasicPublishOptions::default(),
                body,
                properties,
            )
            .await
            .unwrap()
            .await
            .unwrap();
    }

    /// Polls the dead-letter queue (bounded: 5 s) for its next message.
    pub(crate) async fn next_dead_letter(&self) -> BasicGetMessage {
        for _ in 0..500 {
            if let Some(message) = self
                .admin
                .basic_get(
                    self.config.dead_letter_queue.as_str().into(),
                    BasicGetOptions { no_ack: true },
                )
                .await
                .unwrap()
            {
                return message;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("nothing arrived in {}", self.config.dead_letter_queue);
    }

    pub(crate) async fn depth(&self, queue: &str) -> u32 {
        self.admin
            .queue_declare(
                queue.into(),
                QueueDeclareOptions {
                    passive: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .unwrap()
            .message_count()
    }

    /// Stops the servers, then deletes the queues. In that order: a server
    /// whose queue disappears under it reconnects and declares it again.
    pub(crate) async fn cleanup(self) {
        for (shutdown, server) in self.servers {
            shutdown.cancel();
            let _ = tokio::time::timeout(std::time::Duration::from_secs(15), server).await;
        }
        for queue in [&self.config.queue, &self.config.dead_letter_queue] {
            let _ = self
                .admin
                .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
                .await;
        }
    }
}

/// Counts the runs of a handler.
#[derive(Clone, Default)]
pub(crate) struct Counter(Arc<AtomicUsize>);

impl Counter {
    pub(crate) fn bump(&self) -> usize {
        self.0.fetch_add(1, Ordering::SeqCst) + 1
    }

    pub(crate) fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}
