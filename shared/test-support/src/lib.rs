//! Helpers the crates' integration tests share. A dev-dependency only: no
//! service links it.
//!
//! # Layout
//! - [`amqp_url`]: the broker tests use.
//! - [`nestjs`]: real NestJS RabbitMQ peers from `interop/nestjs/`.

// A panic is how a test helper reports failure.
#![allow(clippy::unwrap_used)]

pub mod nestjs;

/// `AMQP_URL`, or the local RabbitMQ the README asks for.
pub fn amqp_url() -> String {
    std::env::var("AMQP_URL").unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}
