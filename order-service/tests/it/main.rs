//! order-service end to end over the real RabbitMQ: a test's own queues, a
//! fresh Postgres database per test (holding both services' tables), the
//! real user-service in-process, and a messaging client as the gateway.

// A panic is how a test reports failure; helpers unwrap like tests do.
#![allow(clippy::unwrap_used)]

mod access;
mod helpers;
mod nestjs;
mod orders;
mod outbox_schema;
mod reliability;
mod saga;
