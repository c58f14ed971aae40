//! Service-to-service trust (docs/security.md): what holding one service's
//! credentials allows, tried against the real binaries, broker and database.
//!
//! - [`broker`]: a broker account per service; forged events dead-lettered.
//! - [`grpc`]: mutual TLS and a grant per RPC on user-service.
//! - [`postgres`]: a role per service, owning only its database.

mod broker;
mod grpc;
mod postgres;
