//! NestJS microservices messaging in the NestJS wire format, over RabbitMQ,
//! NATS, Redis or TCP ([`Transport`]), with two faces, like
//! `@nestjs/microservices`:
//!
//! - a [`Client`]: `send` (request-response, with a deadline) and NestJS's
//!   `emit`, the same whatever carries them. It holds the caller, the
//!   deadline and the call metrics once; a transport implements only a
//!   [`Carrier`] (send a request, emit an event, say whether it is
//!   connected) and its constructor (`Client::amqp`, `::nats`, `::redis`,
//!   `::tcp`);
//! - a server: a [`Router`] of handlers served on one transport
//!   ([`serve`], [`nats::serve`], [`redis::serve`], [`tcp::serve`]) or on
//!   several at once ([`Listeners`]). On RabbitMQ: a durable queue with
//!   manual ack and prefetch, transient failures retried, and what can
//!   never succeed dead-lettered.
//!
//! Both reconnect with jittered back-off when the broker goes away. See
//! docs/messaging.md for the wire format, the settlement policy and why
//! dead-lettering is done by publishing, and docs/transports.md for what
//! each transport guarantees.
//!
//! # What a service uses
//! About twenty names, of 90 public functions and 37 public types (6.3k
//! lines). Before the one client (issue 28) there were 114 public
//! functions, and four client types each with its own `new`,
//! `on_behalf_of`, deadline and metered send.
//! - Calling: [`Client`] from [`Connections`] (given [`Brokers`] and a
//!   [`Target`]), [`RpcError`], [`Transport`].
//! - Serving: [`Router`] with [`Call`], [`Message`], [`HandlerError`];
//!   [`ServerConfig`], [`Serving`] and [`Listeners`]; [`serve`] and
//!   [`Connected`] for one RabbitMQ queue.
//! - Events: [`EventPublisher`] on a [`Link`] from an [`AmqpConfig`], and
//!   (feature `outbox`) `outbox::{Outbox, Transaction, Row, backlog_sampler}`.
//!
//! # Layout
//! - [`client`]: [`Client`] and [`Carrier`], one client over any transport;
//!   [`transport`]: [`Transport`], the names; [`connections`]:
//!   [`Connections`], the connections a process's clients share.
//! - [`amqp`]: RabbitMQ — a [`Link`] (one supervised connection shared by
//!   the clients and publishers made from it) and its supervisor, the
//!   client's carrier, [`EventPublisher`] (events to a topic exchange, the
//!   outbox relays'), [`serve`] and the handling and settling of one
//!   delivery, declarations, publishing with confirms, where a delivery
//!   came from, trace context in AMQP headers, queue depth.
//! - [`nats`], [`redis`], [`tcp`]: NestJS's other transports, each a
//!   carrier and a server (TCP's framing; Redis's subscription that
//!   outlives its connection).
//! - [`wire`]: envelopes and pattern routing, NestJS byte for byte.
//! - [`router`]: [`Router`], [`Message`], [`HandlerError`]: what handlers
//!   see. `handling`: what every transport does with a message once it has
//!   one (`retry`: running its handler).
//! - [`config`]: [`ServerConfig`]; [`listeners`]: [`Listeners`] and
//!   [`Serving`], one router served on several transports at once.
//! - [`headers`]: every header name the crate writes or reads;
//!   `text_headers`: deadline, caller and trace context where a transport
//!   carries text (NATS headers, the Redis and TCP envelope's `headers`);
//!   `pending`: requests waiting for their reply by id; `connected`: the
//!   shared "is it up" flag.
//! - `metrics`: what the crate records, described in one place.
//! - `outbox` (feature `outbox`): the transactional outbox and its relay.
//! - `error`: [`RpcError`], why a `send` or `emit` failed on any
//!   transport, and [`TransportError`], how the transport itself failed.
//!
//! shared/messaging/README.md shows a NestJS-compatible server and client
//! in a few lines; its examples compile with the crate's doctests.

pub mod amqp;
pub mod client;
pub mod config;
mod connected;
pub mod connections;
mod error;
mod handling;
pub mod headers;
pub mod listeners;
mod metrics;
pub mod nats;
#[cfg(feature = "outbox")]
pub mod outbox;
mod pending;
pub mod redis;
pub mod router;
pub mod tcp;
mod text_headers;
pub mod transport;
pub mod wire;

/// The README's examples, compiled by `cargo test --doc`.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeExamples;

pub use amqp::{EventPublisher, Link, serve};
pub use client::{Carrier, Client};
pub use config::{AmqpConfig, ServerConfig};
pub use connected::Connected;
pub use connections::{Brokers, ConnectError, Connections, Target};
pub use error::{RpcError, TransportError};
pub use headers::{
    ORIGINAL_EXCHANGE_HEADER, ORIGINAL_QUEUE_HEADER, ORIGINAL_USER_HEADER, REASON_HEADER,
    REDELIVERIES_HEADER,
};
pub use listeners::Listeners;
pub use listeners::Serving;
pub use router::{Call, HandlerError, Message, Router};
pub use transport::Transport;
