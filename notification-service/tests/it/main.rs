//! notification-service against the real RabbitMQ and Postgres: events
//! published to this test's own exchange, consumed from this test's own
//! queue, recorded in a fresh database.

// A panic is how a test reports failure; helpers unwrap like tests do.
#![allow(clippy::unwrap_used)]

mod notifications;
