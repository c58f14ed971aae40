//! Runtime plumbing every service binary uses, kept apart from the wire
//! contracts (`contracts`) so that depending on a contract never drags in a
//! runtime.
//!
//! # Layout
//! - [`env`]: typed configuration from environment variables; a bad value
//!   fails start-up with an error naming the variable.
//! - [`telemetry`]: one `init()` for structured logs.
//! - [`shutdown`]: the SIGINT/SIGTERM future every service runs until.

pub mod env;
pub mod shutdown;
pub mod telemetry;

pub use shutdown::shutdown_signal;
