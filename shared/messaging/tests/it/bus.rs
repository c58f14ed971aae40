//! One test's corner of the shared NATS or Redis server: subjects and
//! channels are global, so every pattern a test serves carries the test's
//! own suffix, and its servers share a queue group of their own.

use std::time::Duration;

use messaging::{
    AmqpConfig, Client, Connected, Router, ServerConfig, Transport,
    nats::NatsConfig,
    redis::{RedisConfig, RedisLink},
};
use tokio_util::sync::CancellationToken;

pub(crate) struct Bus {
    pub(crate) transport: Transport,
    pub(crate) config: ServerConfig,
    client: Client,
    id: String,
    servers: Vec<(CancellationToken, tokio::task::JoinHandle<()>)>,
}

impl Bus {
    pub(crate) async fn new(transport: Transport) -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string();
        // The AMQP part of the config is unused here.
        let callers = vec!["api-gateway".to_owned()];
        let amqp = AmqpConfig::new("amqp://unused");
        let mut config = ServerConfig::new(amqp, format!("test_{id}"), callers);
        config.retry_delay = Duration::from_millis(10);
        let timeout = Duration::from_secs(5);
        let client = match transport {
            Transport::Nats => {
                let connection = messaging::nats::connect(&nats_config()).await.unwrap();
                Client::nats(&connection, &config.queue, timeout)
            }
            Transport::Redis => {
                let link = RedisLink::start(&redis_config()).unwrap();
                Client::redis(&link, &config.queue, timeout)
            }
            Transport::Amqp | Transport::Tcp => unreachable!("they have helpers of their own"),
        };
        let bus = Self {
            transport,
            config,
            client,
            id,
            servers: Vec::new(),
        };
        assert!(
            wait(Duration::from_secs(5), || bus.client.is_connected()).await,
            "{transport} must run on 127.0.0.1 (see README)"
        );
        bus
    }

    /// `name`, made this test's own.
    pub(crate) fn pattern(&self, name: &str) -> String {
        format!("{name}.{}", self.id)
    }

    /// Serves `router` in the test's queue group, subscribed before it
    /// returns.
    pub(crate) async fn start_server(&mut self, router: Router) -> CancellationToken {
        let shutdown = CancellationToken::new();
        let connected = Connected::default();
        let (config, flag, stop) = (self.config.clone(), connected.clone(), shutdown.clone());
        let server = match self.transport {
            Transport::Nats => {
                let client = messaging::nats::connect(&nats_config()).await.unwrap();
                tokio::spawn(messaging::nats::serve(client, config, router, flag, stop))
            }
            Transport::Redis => {
                let client = redis_config().client().unwrap();
                tokio::spawn(messaging::redis::serve(client, config, router, flag, stop))
            }
            Transport::Amqp | Transport::Tcp => unreachable!(),
        };
        assert!(
            wait(Duration::from_secs(5), || connected.get()).await,
            "the {} server never subscribed",
            self.transport
        );
        self.servers.push((shutdown.clone(), server));
        shutdown
    }

    /// A client of the test's servers; its requests wait at most 5 s.
    pub(crate) fn rpc(&self) -> Client {
        self.client.clone()
    }

    /// Stops every server and waits for each to return.
    pub(crate) async fn stop(self) {
        for (shutdown, server) in self.servers {
            shutdown.cancel();
            tokio::time::timeout(Duration::from_secs(15), server)
                .await
                .expect("a server did not stop")
                .unwrap();
        }
    }
}

fn nats_config() -> NatsConfig {
    NatsConfig::new(test_support::nats_url(), "tests")
}

fn redis_config() -> RedisConfig {
    RedisConfig::new(test_support::redis_url())
}

async fn wait(within: Duration, up: impl Fn() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    while tokio::time::Instant::now() < deadline {
        if up() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    up()
}
