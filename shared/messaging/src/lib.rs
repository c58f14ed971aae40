//! NestJS microservices messaging in the NestJS wire format, over RabbitMQ,
//! NATS, Redis or TCP ([`transport`]), with two faces, like
//! `@nestjs/microservices`.
//! On RabbitMQ:
//!
//! - [`RpcClient`]: `send` (request-response over direct reply-to, with a
//!   deadline) and NestJS's `emit`, both with publisher confirms, over a
//!   [`Link`] that several clients (and [`EventPublisher`]s, which the
//!   outbox relays publish events with) share;
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
//! - [`link`]: a [`Link`], one supervised connection shared by the clients
//!   and publishers made from it; `supervisor`: the task keeping it up, and
//!   the state they share with it (the channel, the pending replies).
//! - [`client`]: the [`RpcClient`], request-response (and NestJS `emit`) to
//!   one queue.
//! - [`publisher`]: the [`EventPublisher`], events to a topic exchange (the
//!   outbox relays').
//! - [`router`]: [`Router`], [`Message`], [`HandlerError`]: what handlers see.
//! - [`config`]: [`ServerConfig`], what a server is configured with.
//! - [`server`]: [`serve`], its sessions, and [`Connected`], whether one
//!   consumes right now.
//! - [`headers`]: every AMQP header the crate writes or reads.
//! - `dispatch`: handling and settling one delivery (`headers`: what its
//!   properties say).
//! - `handling`: what every transport does with a message once it has one
//!   (`retry`: running its handler).
//! - [`nats`]: NestJS's NATS transport, client and server.
//! - [`redis`]: NestJS's Redis transport, client and server (`subscriber`
//!   inside: a subscription that outlives its connection).
//! - [`tcp`]: NestJS's TCP transport, its framing, client and server, plain
//!   or mutual TLS.
//! - `text_headers`: deadline, caller and trace context where a transport
//!   carries text (NATS headers, the Redis and TCP envelope's `headers`);
//!   `pending`: requests waiting for their reply by id.
//! - [`transport`]: [`Transport`], and one [`Client`] over any of them;
//!   [`connections`]: [`Connections`], the connections a process's clients
//!   share; [`listeners`]: [`Listeners`] and [`Serving`], one router served
//!   on several transports at once.
//! - `settle`: the exactly-once settlement of a delivery.
//! - `provenance`: where a delivery really came from; whether an event may
//!   be trusted from there.
//! - `trace`: W3C trace context in AMQP headers.
//! - `metrics`: what the crate records, described in one place;
//!   `depth`: the consumed queues' depth and consumers, sampled.
//! - `outbox` (feature `outbox`): the transactional outbox and its relay.
//! - `publish`: publishing with confirms.
//! - `topology`, `connection`: declarations, connecting, backoff.
//! - `error`: [`RpcError`], why a `send` or `emit` failed, on any transport.
//!
//! shared/messaging/README.md shows a NestJS-compatible server and client
//! in a few lines; its examples compile with the crate's doctests.

pub mod client;
pub mod config;
mod connection;
pub mod connections;
mod depth;
mod dispatch;
mod error;
mod handling;
pub mod headers;
pub mod link;
pub mod listeners;
mod metrics;
pub mod nats;
#[cfg(feature = "outbox")]
pub mod outbox;
mod pending;
mod provenance;
mod publish;
pub mod publisher;
pub mod redis;
pub mod router;
pub mod server;
mod settle;
mod supervisor;
pub mod tcp;
mod text_headers;
mod topology;
mod trace;
pub mod transport;
pub mod wire;

/// The README's examples, compiled by `cargo test --doc`.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeExamples;

pub use client::RpcClient;
pub use config::ServerConfig;
pub use connection::AmqpConfig;
pub use connections::{Brokers, ConnectError, Connections, Target};
pub use error::RpcError;
pub use headers::{
    ORIGINAL_EXCHANGE_HEADER, ORIGINAL_QUEUE_HEADER, ORIGINAL_USER_HEADER, REASON_HEADER,
    REDELIVERIES_HEADER,
};
pub use link::Link;
pub use listeners::Listeners;
pub use listeners::Serving;
pub use publisher::EventPublisher;
pub use router::{Call, HandlerError, Message, Router};
pub use server::{Connected, serve};
pub use transport::{Client, Transport};
