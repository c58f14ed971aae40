//! Why a client's `send` or `emit` failed, on any transport: one error for
//! every [`crate::Client`], so a caller maps outcomes (503, 504, the
//! remote's own error) in one place whatever carries the request.

use std::time::Duration;

/// Why a `send` or `emit` failed.
#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    /// Not connected to the broker (RabbitMQ, NATS) right now: it is down or
    /// restarting, and the client reconnects in the background. Fail fast
    /// rather than queue up.
    #[error("not connected to the broker")]
    NotConnected,
    /// The connection was lost while waiting for the reply: the outcome is
    /// unknown (the request may or may not have run).
    #[error("the connection to the broker was lost before the reply arrived")]
    ConnectionLost,
    /// Nobody serves the pattern (NATS: no responders). The request was not
    /// run: safe to retry.
    #[error("no server is listening for this pattern")]
    NoServer,
    /// No reply within the deadline: the outcome is unknown.
    #[error("no reply within {0:?}")]
    Timeout(Duration),
    /// The broker refused the message (publisher confirm nack).
    #[error("RabbitMQ refused the message")]
    Rejected,
    /// The remote handler answered with an error (the reply's `err`).
    #[error("remote error: {0}")]
    Remote(serde_json::Value),
    /// The transport itself failed; the outcome is unknown.
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error("cannot encode or decode JSON: {0}")]
    Codec(#[from] serde_json::Error),
}

/// How a transport failed under a call, by transport: a caller maps them
/// all alike (503), a log line tells them apart.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("AMQP: {0}")]
    Amqp(#[from] lapin::Error),
    /// The NATS client's own error, as text (its kinds are generic).
    #[error("NATS: {0}")]
    Nats(String),
    #[error("Redis: {0}")]
    Redis(String),
    /// The TLS handshake failed: a certificate refused, either way.
    #[error("TLS: {0}")]
    Tls(std::io::Error),
    /// A server name no certificate can carry.
    #[error("{0:?} is not a valid server name")]
    ServerName(String),
    /// Not published: an event before it in the batch failed, and events
    /// are published in order.
    #[error("not published: an event before it in the batch failed")]
    AfterFailure,
}

impl From<lapin::Error> for RpcError {
    fn from(error: lapin::Error) -> Self {
        Self::Transport(error.into())
    }
}
