//! One test's corner of the shared NATS server: NATS subjects are global,
//! so every pattern a test serves carries the test's own suffix, and its
//! servers share a queue group of its own.

use std::time::Duration;

use messaging::{
    AmqpConfig, Router, ServerConfig,
    nats::{NatsClient, NatsConfig},
};
use tokio_util::sync::CancellationToken;

pub(crate) struct NatsBus {
    pub(crate) config: ServerConfig,
    pub(crate) client: async_nats::Client,
    id: String,
    servers: Vec<(CancellationToken, tokio::task::JoinHandle<()>)>,
}

impl NatsBus {
    pub(crate) async fn new() -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string();
        // The AMQP part of the config is unused on NATS.
        let mut config = ServerConfig::new(AmqpConfig::new("amqp://unused"), format!("test_{id}"));
        config.retry_delay = Duration::from_millis(10);
        let client = messaging::nats::connect(&NatsConfig::new(test_support::nats_url(), "tests"))
            .await
            .unwrap();
        let bus = Self {
            config,
            client,
            id,
            servers: Vec::new(),
        };
        assert!(
            bus.rpc(Duration::from_secs(1))
                .wait_connected(Duration::from_secs(5))
                .await,
            "NATS must run on 127.0.0.1:4222 (see README)"
        );
        bus
    }

    /// `name`, made this test's own.
    pub(crate) fn pattern(&self, name: &str) -> String {
        format!("{name}.{}", self.id)
    }

    /// Serves `router` in the test's queue group, subscribed before it
    /// returns (a flush: the server has the subscriptions).
    pub(crate) async fn start_server(&mut self, router: Router) -> CancellationToken {
        let shutdown = CancellationToken::new();
        let client = messaging::nats::connect(&NatsConfig::new(test_support::nats_url(), "server"))
            .await
            .unwrap();
        let connected = messaging::Connected::default();
        let server = tokio::spawn(messaging::nats::serve(
            client,
            self.config.clone(),
            router,
            connected.clone(),
            shutdown.clone(),
        ));
        for _ in 0..250 {
            if connected.get() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(connected.get(), "the NATS server never subscribed");
        self.servers.push((shutdown.clone(), server));
        shutdown
    }

    pub(crate) fn rpc(&self, timeout: Duration) -> NatsClient {
        NatsClient::new(&self.client, &self.config.queue, timeout)
    }

    /// Stops every server and waits for each to return.
    pub(crate) async fn stop(self) {
        for (shutdown, server) in self.servers {
            shutdown.cancel();
            tokio::time::timeout(Duration::from_secs(15), server)
                .await
                .expect("a NATS server did not stop")
                .unwrap();
        }
    }
}
