//! messaging against the real RabbitMQ and NATS on this machine. Each test uses its
//! own queue names (or, to cut connections, its own vhost), so the suite runs
//! in parallel without crosstalk.

// A panic is how a test reports failure; helpers unwrap like tests do.
#![allow(clippy::unwrap_used)]

mod helpers;
mod metrics;
mod nats;
mod nats_bus;
mod nestjs;
mod nestjs_nats;
mod provenance;
mod recovery;
mod request_response;
mod settlement;
mod tcp;
mod tcp_framing;
mod trace;
