//! user-service's one error type and its one mapping to gRPC status codes.

use std::time::Duration;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};
use uuid::Uuid;

/// How long a caller refused [`Error::HashersBusy`] is told to wait.
pub(crate) const HASHERS_BUSY_RETRY_AFTER: Duration = Duration::from_secs(1);

/// A field that failed validation, and why, in words a client can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    pub field: &'static str,
    pub description: String,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid request: {}", describe(.0))]
    InvalidArgument(Vec<FieldViolation>),
    #[error("no user with id {0}")]
    NotFound(Uuid),
    #[error("a user with email {0:?} already exists")]
    EmailTaken(String),
    #[error("insufficient credit: {requested_cents} cents requested, {balance_cents} available")]
    InsufficientCredit {
        balance_cents: i64,
        requested_cents: i64,
    },
    #[error("this idempotency key was already used for a different credit change")]
    IdempotencyKeyReused,
    #[error("this debit was cancelled by its refund before it arrived; nothing was charged")]
    DebitVoided,
    /// A wrong password, an unknown email, or a call without a caller: one
    /// message for all, so the answer reveals nothing.
    #[error("{0}")]
    Unauthenticated(&'static str),
    #[error("{0}")]
    PermissionDenied(&'static str),
    /// The password hasher failed: a bug, not the caller's fault.
    #[error("internal error")]
    Hashing,
    /// Every password hasher is taken and the queue is full, or none came
    /// free in time ([`crate::hash_pool`]): the caller may try again shortly.
    #[error("too many passwords are being checked; try again shortly")]
    HashersBusy,
    #[error("internal error")]
    Signing,
    #[error("the database is unavailable or busy; try again")]
    Unavailable(#[source] sqlx::Error),
    #[error("internal error")]
    Internal(#[source] sqlx::Error),
}

impl Error {
    pub(crate) fn invalid(field: &'static str, description: impl Into<String>) -> Self {
        Self::InvalidArgument(vec![FieldViolation {
            field,
            description: description.into(),
        }])
    }
}

impl From<sqlx::Error> for Error {
    /// Sorts database failures into "try again later" and "bug". Connection
    /// and pool failures mean Postgres is down or overloaded, and a deadlock
    /// or serialization failure that it aborted us to break: UNAVAILABLE
    /// tells clients that a retry may succeed.
    fn from(e: sqlx::Error) -> Self {
        if platform::db::is_transient(&e) {
            Self::Unavailable(e)
        } else {
            Self::Internal(e)
        }
    }
}

impl From<Error> for Status {
    /// The only place user-service errors become gRPC statuses. Database
    /// errors are logged here, once, with their source; the status a client
    /// sees never carries SQL.
    fn from(e: Error) -> Self {
        match &e {
            Error::InvalidArgument(violations) => {
                let mut details = ErrorDetails::new();
                for v in violations {
                    details.add_bad_request_violation(v.field, &v.description);
                }
                Status::with_error_details(Code::InvalidArgument, e.to_string(), details)
            }
            Error::NotFound(_) => Status::not_found(e.to_string()),
            Error::EmailTaken(_) => Status::already_exists(e.to_string()),
            Error::InsufficientCredit { .. } | Error::IdempotencyKeyReused | Error::DebitVoided => {
                Status::failed_precondition(e.to_string())
            }
            Error::Unauthenticated(_) => Status::unauthenticated(e.to_string()),
            Error::PermissionDenied(_) => Status::permission_denied(e.to_string()),
            // RESOURCE_EXHAUSTED, not UNAVAILABLE: the service is up, its
            // hashers are not free, and a retry in about a second (RetryInfo,
            // google/rpc/error_details.proto) may well succeed.
            Error::HashersBusy => Status::with_error_details(
                Code::ResourceExhausted,
                e.to_string(),
                ErrorDetails::with_retry_info(Some(HASHERS_BUSY_RETRY_AFTER)),
            ),
            Error::Hashing | Error::Signing => {
                tracing::error!(error = ?e, "hashing or signing failed");
                Status::internal(e.to_string())
            }
            Error::Unavailable(source) => {
                tracing::warn!(error = %source, "database unavailable");
                Status::unavailable(e.to_string())
            }
            Error::Internal(source) => {
                tracing::error!(error = %source, "database error");
                Status::internal(e.to_string())
            }
        }
    }
}

fn describe(violations: &[FieldViolation]) -> String {
    violations
        .iter()
        .map(|v| format!("{}: {}", v.field, v.description))
        .collect::<Vec<_>>()
        .join("; ")
}
