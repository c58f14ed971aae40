//! Runtime plumbing every service binary uses, kept apart from the wire
//! contracts (`contracts`) so that depending on a contract never drags in a
//! runtime.
//!
//! # Layout
//! - [`admin`]: the admin HTTP port (`/livez`, `/readyz`, `/metrics`) and
//!   its probe.
//! - [`metrics`]: HTTP and gRPC request metrics.
//! - [`backoff`]: the back-off (exponential, jittered) of every retrying loop.
//! - [`balance`]: gRPC calls spread over every server of a service.
//! - [`batch`]: group commit — concurrent writes gathered into one.
//! - [`config`]: configuration declared once with `clap` (each variable's
//!   name, default, parser and help), the groups several services share,
//!   and the step after parsing (secret files, checks across fields).
//! - [`env`]: the configuration error, secret files, URLs with a password.
//! - [`telemetry`]: one `init()` for structured logs and OpenTelemetry traces.
//! - [`propagation`]: W3C trace context across HTTP, gRPC and AMQP.
//! - [`shutdown`]: the SIGINT/SIGTERM future every service runs until.
//! - [`tls`]: mutual TLS between services over gRPC, and who the peer is.
//! - `db` (feature `postgres`): create-if-missing, pool, migrations.

pub mod admin;
pub mod backoff;
pub mod balance;
pub mod batch;
pub mod config;
#[cfg(feature = "postgres")]
pub mod db;
pub mod env;
pub mod metrics;
pub mod propagation;
pub mod shutdown;
pub mod telemetry;
pub mod tls;

pub use shutdown::shutdown_signal;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The address a process on the same host dials to reach a server listening
/// on `listen`: a wildcard (`0.0.0.0`, `::`) becomes loopback. Container
/// health probes use it.
pub fn local_dial_addr(listen: SocketAddr) -> SocketAddr {
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, listen.port())
}
