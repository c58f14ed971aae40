//! Connecting to RabbitMQ, and the backoff between reconnection attempts.

use std::time::Duration;

use lapin::{Connection, ConnectionProperties};

/// Where the broker is and how hard to retry it.
#[derive(Debug, Clone)]
pub struct AmqpConfig {
    /// `amqp://user:pass@host:port/vhost`.
    pub url: String,
    /// First wait after a lost connection; doubles up to `reconnect_max`.
    pub reconnect_min: Duration,
    pub reconnect_max: Duration,
}

impl AmqpConfig {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            reconnect_min: Duration::from_millis(100),
            reconnect_max: Duration::from_secs(5),
        }
    }
}

pub(crate) async fn connect(config: &AmqpConfig, name: &str) -> lapin::Result<Connection> {
    // The connection name shows up in the management UI and `rabbitmqctl
    // list_connections`, which is how an operator tells services apart.
    let properties = ConnectionProperties::default().with_connection_name(name.into());
    Connection::connect(&config.url, properties).await
}

/// Exponential backoff without jitter: there are few clients per broker here,
/// and a predictable schedule is easier to reason about in tests.
#[derive(Debug)]
pub(crate) struct Backoff {
    next: Duration,
    min: Duration,
    max: Duration,
}

impl Backoff {
    pub(crate) fn new(config: &AmqpConfig) -> Self {
        Self {
            next: config.reconnect_min,
            min: config.reconnect_min,
            max: config.reconnect_max,
        }
    }

    pub(crate) fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(self.max);
        delay
    }

    pub(crate) fn reset(&mut self) {
        self.next = self.min;
    }
}
