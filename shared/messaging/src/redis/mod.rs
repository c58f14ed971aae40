//! NestJS's Redis transport (`Transport.REDIS`): pub/sub, one channel per
//! pattern, replies on the pattern's `.reply` channel.
//!
//! The wire format is `@nestjs/microservices`' own (`server-redis.js`,
//! `client-redis.js`): a request is the JSON envelope `{pattern, data, id}`
//! published on the channel named by the pattern; the server publishes the
//! reply `{id, response | err, isDisposed}` on `<pattern>.reply`, where
//! every client of that pattern listens and keeps the replies whose id it
//! is waiting for. An event is the envelope without `id`, and no reply.
//! NestJS's envelope has no headers: what the AMQP transport carries in
//! headers (deadline, caller, trace context) travels in an envelope member
//! `headers`, which NestJS ignores (crate::text_headers).
//!
//! Guarantees (docs/transports.md): pub/sub delivers at most once, to
//! whoever is subscribed at that moment, and keeps nothing. A request no
//! server is subscribed for fails at once (PUBLISH reached no one); one
//! lost in flight is a timeout its client retries with its idempotency
//! key. There are no competing consumers: every replica subscribed to a
//! pattern runs every request (and every event) and answers it; the client
//! keeps the first answer. Run one replica per service on Redis, or handlers
//! that are idempotent (ours are: a repeated order is found by its key).
//!
//! - [`client`]: [`RedisLink`], the connections a process's clients share,
//!   and the carrier of [`crate::Client::redis`] — requests and events to
//!   NestJS or Rust servers.
//! - [`server`]: [`serve`], a [`crate::Router`] on Redis.

pub mod client;
pub mod server;
mod subscriber;

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

pub use self::{client::RedisLink, server::serve};

/// How long connecting to Redis may take before it counts as down.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Where Redis is and who this process is to it.
#[derive(Debug, Clone)]
pub struct RedisConfig {
    /// `redis://[user:password@]host:port` or `rediss://` (TLS); a secret,
    /// for its password.
    pub url: SecretString,
}

impl RedisConfig {
    pub fn new(url: impl Into<SecretString>) -> Self {
        Self { url: url.into() }
    }

    /// A client handle (no connection yet); fails only on a URL it cannot
    /// parse — which it does not show, as it may carry a password.
    pub fn client(&self) -> Result<::redis::Client, RedisError> {
        // `rediss://` builds its TLS config from the process's provider.
        platform::tls::install_crypto_provider();
        ::redis::Client::open(self.url.expose_secret())
            .map_err(|e| RedisError::Url(format!("{:?}", e.kind())))
    }
}

/// Why Redis could not even be attempted.
#[derive(Debug, thiserror::Error)]
pub enum RedisError {
    #[error("REDIS_URL is not a valid Redis URL: {0}")]
    Url(String),
    #[error("Redis: {0}")]
    Connect(#[from] ::redis::RedisError),
}

/// The connection replies and requests are published on: redis-rs'
/// `ConnectionManager`, which connects on first use and reconnects after a
/// drop. Its commands fail fast while Redis is down (no queueing behind a
/// dead connection: our calls have deadlines of their own).
pub(crate) fn publisher(
    client: ::redis::Client,
) -> Result<::redis::aio::ConnectionManager, RedisError> {
    let config = ::redis::aio::ConnectionManagerConfig::new()
        .set_connection_timeout(Some(CONNECT_TIMEOUT))
        .set_response_timeout(Some(CONNECT_TIMEOUT))
        .set_number_of_retries(1);
    Ok(::redis::aio::ConnectionManager::new_lazy_with_config(
        client, config,
    )?)
}

/// `PUBLISH channel body`: how many subscribers received it.
pub(crate) async fn publish(
    publisher: &mut ::redis::aio::ConnectionManager,
    channel: &str,
    body: Vec<u8>,
) -> Result<u64, ::redis::RedisError> {
    ::redis::cmd("PUBLISH")
        .arg(channel)
        .arg(body)
        .query_async(publisher)
        .await
}

/// The channel NestJS replies on for requests published on `channel`.
pub fn reply_channel(channel: &str) -> String {
    format!("{channel}.reply")
}
