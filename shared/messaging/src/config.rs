//! How a server consumes its queue, and where RabbitMQ is: what a service
//! configures, read once at start. (What changes while it runs — whether it is connected — is
//! [`crate::Connected`], passed to [`crate::serve`] beside it.)

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub amqp: AmqpConfig,
    /// The work queue, e.g. `orders_queue`.
    pub queue: String,
    /// Where poison messages go, e.g. `orders_queue.dead-letter`.
    pub dead_letter_queue: String,
    /// Unacked deliveries in flight at once (AMQP `basic.qos`): bounds memory
    /// and concurrency, and leaves the rest of the queue to other replicas.
    pub prefetch: u16,
    /// Runs of a handler failing transiently before a request is answered
    /// UNAVAILABLE or an event requeued.
    pub max_attempts: u32,
    /// Deliveries of one message that may end unsettled — its consumer died
    /// or lost its connection — before it is dead-lettered as the likely
    /// cause (docs/messaging.md).
    pub max_redeliveries: u32,
    /// Largest body handled; a bigger one is dead-lettered unparsed. No
    /// request or event of ours comes near it; it stops one sender from
    /// making a consumer parse megabytes of JSON.
    pub max_message_bytes: usize,
    /// Delay before the second run; doubles for each further run, jittered
    /// (`platform::backoff`).
    pub retry_delay: Duration,
    /// How long shutdown waits for in-flight deliveries to finish and ack.
    pub grace_period: Duration,
    /// `(exchange, routing key)` pairs the queue is bound to, for services
    /// that consume events: each service binds its own queue, so every
    /// service gets every event and its replicas share them.
    pub bindings: Vec<(String, String)>,
    /// The broker accounts whose requests run, and whose caller headers
    /// (`x-caller-id`, `x-caller-role`) are believed: the service's to say
    /// (its `REQUEST_CALLERS`), given to [`ServerConfig::new`]. RabbitMQ vouches for the account — a message's AMQP
    /// `user_id`, which it refuses unless it is the publisher's own login.
    /// A request from any other account, or with no `user_id`, is refused
    /// UNAUTHENTICATED and dead-lettered with the reason: another service's
    /// credentials cannot send requests as someone they name
    /// (docs/security.md). Events are judged by their publisher instead
    /// ([`crate::Router::event_with`]).
    pub callers: Vec<String>,
}

/// [`ServerConfig::max_message_bytes`] unless configured: 256 KiB.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 256 * 1024;

impl ServerConfig {
    /// Consuming `queue`, taking requests from `callers` only; the rest at
    /// the library's defaults.
    pub fn new(amqp: AmqpConfig, queue: impl Into<String>, callers: Vec<String>) -> Self {
        let queue = queue.into();
        Self {
            amqp,
            dead_letter_queue: format!("{queue}.dead-letter"),
            queue,
            prefetch: 10,
            max_attempts: 3,
            max_redeliveries: 5,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            retry_delay: Duration::from_millis(100),
            grace_period: Duration::from_secs(10),
            bindings: Vec::new(),
            callers,
        }
    }
}

/// Where the broker is and how hard to retry it.
#[derive(Debug, Clone)]
pub struct AmqpConfig {
    /// `amqp://user:pass@host:port/vhost`. Secret: it holds a password, and
    /// `SecretString` never prints it.
    pub url: SecretString,
    /// First wait after a lost connection; doubles up to `reconnect_max`.
    pub reconnect_min: Duration,
    pub reconnect_max: Duration,
}

impl AmqpConfig {
    pub fn new(url: impl Into<SecretString>) -> Self {
        Self {
            url: url.into(),
            reconnect_min: Duration::from_millis(100),
            reconnect_max: Duration::from_secs(5),
        }
    }

    /// The account the URL logs in as (`""` when the URL names none or does
    /// not parse; connecting then fails with the reason). Published events
    /// carry it as their AMQP `user_id`, which RabbitMQ checks against the
    /// connection's login: consumers learn who really published an event.
    pub fn user(&self) -> String {
        self.url
            .expose_secret()
            .parse::<lapin::uri::AMQPUri>()
            .map(|uri| uri.authority.userinfo.username)
            .unwrap_or_default()
    }
}
