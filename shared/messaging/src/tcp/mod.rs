//! NestJS's TCP transport (`Transport.TCP`): JSON frames over a connection
//! ([`framing`]), a carrier for [`crate::Client::tcp`] and a [`serve`]r — plain, as NestJS's
//! default, or mutual TLS with the services' certificates, which is how a
//! service serving `TRANSPORTS=tcp` knows its caller is the gateway
//! (docs/transports.md).

pub mod client;
pub mod framing;
pub mod server;

pub use self::server::{TcpTrust, serve};
