//! api-gateway end-to-end tests: the real gateway and the real user-service,
//! both in-process on port 0, a fresh Postgres database per test, driven over
//! HTTP with reqwest.

// A panic is how a test reports failure; helpers unwrap like tests do.
#![allow(clippy::unwrap_used)]

mod auth;
mod helpers;
mod journey;
mod openapi;
mod orders;
mod outage;
mod rejections;
mod resilience;
mod users;
