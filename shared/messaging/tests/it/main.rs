//! messaging against the real RabbitMQ, NATS and Redis on this machine. Each test uses its
//! own queue names (or, to cut connections, its own vhost), so the suite runs
//! in parallel without crosstalk.

// A panic is how a test reports failure; helpers unwrap like tests do.
#![allow(clippy::unwrap_used)]

mod bus;
mod helpers;
mod metrics;
mod nestjs;
mod nestjs_pubsub;
mod provenance;
mod pubsub;
mod recovery;
mod request_response;
mod settlement;
mod tcp;
mod tcp_framing;
mod tcp_tls;
mod trace;
