//! user-service integration tests: the real gRPC server on port 0, a fresh
//! Postgres database per test (`#[sqlx::test]` with the service's migrator),
//! real tonic clients.

mod helpers;
mod ops;
mod users;
