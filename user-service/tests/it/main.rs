//! user-service integration tests: the real gRPC server on port 0, a fresh
//! Postgres database per test (`#[sqlx::test]` with the service's migrator),
//! real tonic clients.

// A panic is how a test reports failure; helpers unwrap like tests do.
#![allow(clippy::unwrap_used)]

mod accounts;
mod credit;
mod events;
mod hashing;
mod helpers;
mod ops;
mod outbox_pruning;
mod outbox_schema;
mod users;
