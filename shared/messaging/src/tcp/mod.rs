//! NestJS's TCP transport (`Transport.TCP`): JSON frames over a plain
//! connection ([`framing`]), a [`TcpClient`] and a [`serve`]r. Not yet a
//! choice in `TRANSPORTS`: NestJS's TCP envelope carries no headers, so
//! before a service serves it, callers must be authenticated another way
//! (mutual TLS, as the gRPC path has it) — docs/transports.md.

pub mod client;
pub mod framing;
pub mod server;

pub use self::{client::TcpClient, server::serve};
