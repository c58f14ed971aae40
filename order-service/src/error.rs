//! order-service's one error type, and its one mapping onto the settlement
//! of a message: a business answer, a retry, or the dead-letter queue. (A
//! request whose data does not decode never reaches a handler: the router
//! dead-letters it as poison, `messaging::Router::request`.)

use contracts::{ErrorCode, ServiceError, orders::OrderStatus};
use messaging::HandlerError;
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Invalid(String),
    #[error("no user with id {0}")]
    UnknownUser(Uuid),
    #[error("no order with id {0}")]
    OrderNotFound(Uuid),
    #[error("insufficient stock for {sku}: {requested} requested, {available} available")]
    InsufficientStock {
        sku: String,
        requested: i64,
        available: i64,
    },
    #[error("this Idempotency-Key was already used for a different order")]
    IdempotencyKeyReused,
    #[error("order {order_id} was rejected: {reason}")]
    Rejected {
        order_id: Uuid,
        code: ErrorCode,
        reason: String,
    },
    #[error(
        "order {0} is pending: its payment could not be settled yet and will be resolved shortly"
    )]
    SagaPending(Uuid),
    /// A request that names no caller (see `contracts::identity`).
    #[error("this request needs a caller")]
    Unauthenticated,
    /// A customer placing an order for another user.
    #[error("a customer places orders only for themselves")]
    PermissionDenied,
    #[error("database error")]
    Database(#[from] sqlx::Error),
}

impl From<Error> for HandlerError {
    fn from(e: Error) -> Self {
        let reply = |code| HandlerError::Reply(ServiceError::new(code, e.to_string()));
        match &e {
            Error::Invalid(_) => reply(ErrorCode::InvalidArgument),
            Error::UnknownUser(_) | Error::OrderNotFound(_) => reply(ErrorCode::NotFound),
            Error::Unauthenticated => reply(ErrorCode::Unauthenticated),
            Error::PermissionDenied => reply(ErrorCode::PermissionDenied),
            Error::InsufficientStock { .. } | Error::IdempotencyKeyReused => {
                reply(ErrorCode::FailedPrecondition)
            }
            Error::Rejected {
                order_id,
                code,
                reason,
            } => HandlerError::Reply(
                ServiceError::new(*code, e.to_string())
                    .with_detail("order_id", order_id.to_string())
                    .with_detail("order_status", OrderStatus::Rejected.as_str())
                    .with_detail("reason", reason.clone()),
            ),
            Error::SagaPending(order_id) => HandlerError::Reply(
                ServiceError::new(ErrorCode::Unavailable, e.to_string())
                    .with_detail("order_id", order_id.to_string())
                    .with_detail("order_status", OrderStatus::Pending.as_str()),
            ),
            // Postgres away, or a deadlock it broke by aborting us: run
            // again (a replayed order is then found by its key).
            Error::Database(source) if platform::db::is_transient(source) => {
                HandlerError::Transient(format!("database: {source}"))
            }
            // Anything else is ours: INTERNAL, and nothing of the cause
            // (no SQL) leaves the service.
            Error::Database(source) => HandlerError::Internal(format!("database: {source}")),
        }
    }
}
