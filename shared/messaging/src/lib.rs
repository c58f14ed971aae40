//! RabbitMQ messaging in the NestJS wire format, with two faces, like
//! `@nestjs/microservices`:
//!
//! - [`RpcClient`]: `send` (request-response over direct reply-to, with a
//!   deadline) and `emit` (events), both with publisher confirms;
//! - [`serve`] with a [`Router`]: consume a durable queue with manual ack
//!   and prefetch, route by pattern, reply, retry transient failures, and
//!   dead-letter what can never succeed.
//!
//! Both reconnect with backoff when the broker goes away. See
//! docs/messaging.md for the wire format, the settlement policy and why
//! dead-lettering is done by publishing.
//!
//! # Layout
//! - [`wire`]: envelopes and pattern routing, NestJS byte for byte.
//! - [`client`]: the [`RpcClient`]; `supervisor`: its connection and replies.
//! - [`router`]: [`Router`], [`Message`], [`HandlerError`]: what handlers see.
//! - [`server`]: [`serve`] and its [`ServerConfig`].
//! - `dispatch`: handling and settling one delivery (`retry`: running its
//!   handler; `headers`: what its properties say).
//! - `settle`: the exactly-once settlement of a delivery.
//! - `provenance`: where a delivery really came from; whether an event may
//!   be trusted from there.
//! - `trace`: W3C trace context in AMQP headers.
//! - `outbox` (feature `outbox`): the transactional outbox and its relay.
//! - `publish`: publishing with confirms.
//! - `topology`, `connection`: declarations, connecting, backoff.

pub mod client;
mod connection;
mod dispatch;
#[cfg(feature = "outbox")]
pub mod outbox;
mod provenance;
mod publish;
pub mod router;
pub mod server;
mod settle;
mod supervisor;
mod topology;
mod trace;
pub mod wire;

use std::time::Duration;

pub use client::RpcClient;
pub use connection::AmqpConfig;
pub use provenance::{ORIGINAL_EXCHANGE_HEADER, ORIGINAL_USER_HEADER};
pub use router::{HandlerError, Message, Router};
pub use server::{Connected, ServerConfig, serve};
pub use settle::{ORIGINAL_QUEUE_HEADER, REASON_HEADER, REDELIVERIES_HEADER};

/// The `# HELP` text of the metrics this crate records; `serve` and the
/// outbox's sampler call it (after installing the recorder, so it sticks).
pub(crate) fn describe_metrics() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    platform::admin::prometheus();
    describe_counter!(
        "messages_total",
        "Deliveries settled (or retried), by queue and outcome."
    );
    describe_histogram!(
        "message_handling_duration_seconds",
        Unit::Seconds,
        "Time a handler took, by queue and routed pattern."
    );
    describe_gauge!(
        "outbox_pending",
        "Events committed to the outbox and not yet published, read at each scrape."
    );
    describe_gauge!(
        "outbox_oldest_pending_seconds",
        Unit::Seconds,
        "Age of the oldest unpublished outbox event, read at each scrape."
    );
}

/// Why a `send` or `emit` failed.
#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    /// Not connected to RabbitMQ right now (it is down or restarting); the
    /// client reconnects in the background. Fail fast rather than queue up.
    #[error("not connected to RabbitMQ")]
    NotConnected,
    /// The connection was lost while waiting for the reply: the outcome is
    /// unknown (the request may or may not have run).
    #[error("the connection to RabbitMQ was lost before the reply arrived")]
    ConnectionLost,
    /// No reply within the deadline: the outcome is unknown.
    #[error("no reply within {0:?}")]
    Timeout(Duration),
    /// The broker refused the message (publisher confirm nack).
    #[error("RabbitMQ refused the message")]
    Rejected,
    /// The remote handler answered with an error (the reply's `err`).
    #[error("remote error: {0}")]
    Remote(serde_json::Value),
    #[error("AMQP error: {0}")]
    Amqp(#[from] lapin::Error),
    #[error("cannot encode or decode JSON: {0}")]
    Codec(#[from] serde_json::Error),
}
