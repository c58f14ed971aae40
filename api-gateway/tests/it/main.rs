//! api-gateway end-to-end tests: the real gateway and the real user-service,
//! both in-process on port 0, fresh Postgres databases per test (one per
//! service, as in production), driven over HTTP with reqwest.

// A panic is how a test reports failure; helpers unwrap like tests do.
#![allow(clippy::unwrap_used)]

mod auth;
mod helpers;
mod journey;
mod openapi;
mod orders;
mod outage;
mod queues;
mod rejections;
mod resilience;
mod users;
