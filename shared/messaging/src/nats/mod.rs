//! NestJS's NATS transport (`Transport.NATS`): core NATS request-reply, one
//! subject per pattern, queue groups for competing consumers.
//!
//! The wire format is `@nestjs/microservices`' own (`server-nats.js`,
//! `client-nats.js`): a request is the JSON envelope `{pattern, data, id}`
//! published on the subject named by the pattern with a reply subject; the
//! reply `{id, response | err, isDisposed}` goes to that reply subject. An
//! event is the envelope without `id`, and no reply. Headers (NATS 2.2
//! message headers, NestJS's `NatsRecord`) carry what the AMQP transport
//! carries in AMQP headers: the deadline, the caller, the trace context.
//!
//! Guarantees (docs/transports.md): core NATS delivers at most once and
//! keeps nothing — a request no server is subscribed for fails at once
//! (no responders), one lost in flight is a timeout its client retries with
//! its idempotency key. Replicas of a service share its subjects in one
//! queue group (the service's queue name), so each request runs once.
//!
//! - [`client`]: the carrier of [`crate::Client::nats`], request-response
//!   and events to NestJS or Rust servers.
//! - [`server`]: [`serve`], a [`crate::Router`] on NATS.

pub mod client;
pub mod server;

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

pub use self::server::serve;

/// Where NATS is and who this process is to it.
#[derive(Debug, Clone)]
pub struct NatsConfig {
    /// `nats://[user:password@]host:port`; a secret, for its password.
    pub url: SecretString,
    /// The connection's name, as the server's monitoring shows it.
    pub name: String,
}

impl NatsConfig {
    pub fn new(url: impl Into<SecretString>, name: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            name: name.into(),
        }
    }
}

/// Why a NATS connection could not even be attempted.
#[derive(Debug, thiserror::Error)]
pub enum NatsError {
    /// The URL does not parse (the URL itself is not shown: it may carry a
    /// password).
    #[error("NATS_URL is not a valid NATS URL: {0}")]
    Url(String),
    #[error("NATS: {0}")]
    Connect(#[from] async_nats::ConnectError),
}

/// A client connecting in the background: like the AMQP [`crate::Link`], a
/// service starts (and answers "not ready") while NATS is down, and
/// async-nats reconnects — resubscribing — whenever the connection drops.
pub async fn connect(config: &NatsConfig) -> Result<async_nats::Client, NatsError> {
    let url = config.url.expose_secret();
    let address: async_nats::ServerAddr = url
        .parse()
        .map_err(|e: std::io::Error| NatsError::Url(e.kind().to_string()))?;
    let mut options = async_nats::ConnectOptions::new()
        .name(&config.name)
        .retry_on_initial_connect()
        .connection_timeout(Duration::from_secs(2))
        // Our calls carry their own deadlines.
        .request_timeout(None);
    // async-nats does not read credentials from the URL by itself.
    if let (Some(user), Some(password)) = (address.username(), address.password()) {
        options = options.user_and_password(user.to_owned(), password.to_owned());
    }
    Ok(options.connect(address).await?)
}

/// Whether `client` is connected right now (it reconnects by itself).
pub(crate) fn is_connected(client: &async_nats::Client) -> bool {
    client.connection_state() == async_nats::connection::State::Connected
}

/// Waits (bounded) until `client` is connected.
pub(crate) async fn wait_connected(client: &async_nats::Client, within: Duration) -> bool {
    crate::connected::wait_until(within, || is_connected(client)).await
}

/// A readiness check named `name` that passes while `client` is connected.
pub(crate) fn readiness_check(
    client: &async_nats::Client,
    name: &'static str,
) -> platform::admin::Check {
    let client = client.clone();
    platform::admin::Check::flag(
        name,
        move || is_connected(&client),
        "not connected to NATS; reconnecting",
    )
}
