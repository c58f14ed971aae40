//! System tests: the four real binaries as processes (see the harness in
//! `tests/src`). Each test starts its own system on its own databases,
//! queues and ports, so they run in parallel.

// A panic is how a test reports failure.
#![allow(clippy::unwrap_used)]

mod abuse;
mod bad_text;
mod balancing;
mod faults;
mod hostile;
mod internal_errors;
mod metrics;
mod openapi;
mod outages;
mod poison;
mod prometheus;
mod rabbitmq4;
mod readme;
mod security;
mod shutdown;
mod tcp;
mod trace;
mod transports;
mod trust;
