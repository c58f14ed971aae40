//! No code: this crate exists for its tests, which check the deployment
//! files that cannot be exercised on a machine without a Docker engine.
//!
//! # Layout
//! - `postgres/init.sql`: creates one database per service in compose.
//! - `tests/compose.rs`: parses `docker-compose.yml` and the `Dockerfile` and
//!   checks them against the workspace (every binary built and run, every
//!   service healthy before its dependents start, only the gateway public).
