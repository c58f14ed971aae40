//! Every AMQP header this crate writes or reads beyond the NestJS
//! envelope, in one place: a NestJS peer ignores them all, and a reader of
//! a message in the management UI finds what each means here.
//! (Trace context travels as W3C `traceparent`/`tracestate`: `trace.rs`.)

pub use contracts::identity::{CALLER_ID_HEADER, CALLER_ROLE_HEADER};

/// A request's deadline (Unix epoch milliseconds), so a server that
/// dequeues it late — it sat in a prefetch buffer — skips it instead of
/// doing work nobody waits for. NestJS peers neither send nor need it.
pub const DEADLINE_HEADER: &str = "x-deadline";

/// Why a message was dead-lettered.
pub const REASON_HEADER: &str = "x-dead-letter-reason";
/// The queue a dead-lettered message came from.
pub const ORIGINAL_QUEUE_HEADER: &str = "x-original-queue";
/// The times a message was delivered and never settled — its consumer died
/// or lost its connection while handling it. Classic queues keep no such
/// count, so the message carries it (dispatch.rs).
pub const REDELIVERIES_HEADER: &str = "x-redeliveries";

/// The account that published a requeued or dead-lettered message (its
/// AMQP `user_id`, which the copy cannot keep: the broker only accepts the
/// copier's own).
pub const ORIGINAL_USER_HEADER: &str = "x-original-user-id";
/// The exchange a requeued message was first published to.
pub const ORIGINAL_EXCHANGE_HEADER: &str = "x-original-exchange";
