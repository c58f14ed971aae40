//! notification-service's one error type, and its one mapping onto the
//! settlement of a message — the same contract as order-service's
//! (`order-service/src/error.rs`): the caller's fault is answered and
//! acked (or, for a malformed message, dead-lettered), a passing outage is
//! retried, and our own fault is INTERNAL with nothing of its cause in the
//! reply.

use contracts::{ErrorCode, ServiceError};
use messaging::HandlerError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid request: {0}")]
    Invalid(String),
    /// A request without a caller, or for another user's notifications
    /// (answered as if there were none to find).
    #[error("{0}")]
    Unauthenticated(&'static str),
    #[error("no user with id {0}")]
    NotFound(uuid::Uuid),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The service is stopping and its writer with it: the event is
    /// requeued for the next run.
    #[error("the service is stopping")]
    Stopping,
}

impl From<Error> for HandlerError {
    fn from(e: Error) -> Self {
        let reply = |code| HandlerError::Reply(ServiceError::new(code, e.to_string()));
        match &e {
            Error::Invalid(reason) => HandlerError::Reply(ServiceError::new(
                ErrorCode::InvalidArgument,
                reason.clone(),
            )),
            Error::Unauthenticated(_) => reply(ErrorCode::Unauthenticated),
            Error::NotFound(_) => reply(ErrorCode::NotFound),
            // Postgres down or restarting (or a deadlock it broke): retried,
            // then requeued until it is back — an event nobody else knows of
            // must not be parked.
            Error::Database(source) if platform::db::is_transient(source) => {
                HandlerError::Transient(source.to_string())
            }
            // Any other database error is ours, and retrying will not fix
            // it: INTERNAL to a caller (no SQL in the reply), the message
            // dead-lettered with the cause.
            Error::Database(source) => HandlerError::Internal(format!("database: {source}")),
            Error::Stopping => HandlerError::Transient(e.to_string()),
        }
    }
}
