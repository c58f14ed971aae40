//! The contracts every service shares, and nothing else: generated gRPC code
//! for `proto/`, the JSON shapes the gateway speaks, and the error type that
//! crosses service boundaries. No runtime plumbing lives here (that is the
//! `platform` crate beside it), so depending on the contracts is cheap.
//! Two features, off by default, add derives for the one edge that needs
//! each: `openapi` (utoipa schemas, for the gateway's document) and `sqlx`
//! ([`orders::OrderStatus`] as a text column, for order-service).
//!
//! # Layout
//! - [`user`]: the `user.UserService` gRPC contract, generated at build time,
//!   plus [`user::FILE_DESCRIPTOR_SET`] for server reflection.
//! - [`users`]: the gateway's JSON request/response bodies for users, with
//!   conversions from the gRPC messages.
//! - [`patterns`]: RabbitMQ message pattern names and queue names.
//! - [`requests`]: [`requests::Request`], each request's pattern and reply
//!   named once, for typed handlers and calls.
//! - [`events`]: domain events (`user_created`, `order_confirmed`, …).
//! - [`notifications`]: what notification-service recorded.
//! - [`orders`]: order and product shapes, shared by the gateway's JSON and
//!   order-service's messages.
//! - [`timestamp`]: how timestamps are written on the wire (milliseconds,
//!   `Z`), for `#[serde(with = ..)]`.
//! - [`integer`]: integers read as JSON Schema counts them (`137.0` is
//!   `137`), for the integer fields of request bodies.
//! - [`error`]: [`ErrorCode`], the cross-service error vocabulary.
//! - [`identity`]: [`identity::Caller`], who a request is made for, and how
//!   it travels (gRPC metadata, AMQP headers).

pub mod error;
pub mod events;
pub mod identity;
pub mod integer;
pub mod limits;
pub mod notifications;
pub mod orders;
pub mod patterns;
pub mod requests;
pub mod timestamp;
pub mod users;

pub use error::{ErrorCode, ServiceError};

/// The `user` proto package: messages, client and server.
#[allow(unreachable_pub, missing_debug_implementations, clippy::all)]
pub mod user {
    tonic::include_proto!("user");

    /// Encoded `FileDescriptorSet` of every proto in `proto/`, for gRPC
    /// server reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        include_bytes!(concat!(env!("OUT_DIR"), "/descriptors.bin"));
}
