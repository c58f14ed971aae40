//! NestJS's RabbitMQ transport (`Transport.RMQ`): one supervised connection
//! per process ([`Link`]), the client's carrier over it, event publishers,
//! and the server consuming a durable queue with manual ack.

pub mod client;
pub(crate) mod connection;
pub(crate) mod depth;
pub(crate) mod dispatch;
pub mod link;
pub(crate) mod provenance;
pub(crate) mod publish;
pub mod publisher;
pub mod server;
pub(crate) mod settle;
pub(crate) mod supervisor;
pub(crate) mod topology;
pub(crate) mod trace;

pub use link::Link;
pub use publisher::EventPublisher;
pub use server::serve;
