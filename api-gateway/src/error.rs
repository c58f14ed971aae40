//! The gateway's one error type, its one mapping to HTTP statuses, and its one
//! rendering: RFC 9457 problem details (`application/problem+json`).
//!
//! Upstream failures arrive as a `tonic::Status` or a messaging `RpcError`;
//! both are translated to a [`contracts::ErrorCode`], and
//! [`ApiError::from_code`] is the single place a code becomes an HTTP status.
//! The rendering (body and headers) is in [`crate::problem`].

use std::collections::BTreeMap;

use std::time::Duration;

use axum::http::StatusCode;
use contracts::{ErrorCode, ServiceError};
use messaging::RpcError;
use serde::Serialize;
use tonic::Code;
use tonic_types::StatusExt;

/// One invalid field, as listed in a problem's `errors` member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    pub field: String,
    pub detail: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed: bad JSON, bad query, bad path, bad field.
    #[error("{detail}")]
    BadRequest {
        detail: String,
        errors: Vec<FieldError>,
    },
    /// The body parsed as JSON but does not have the expected shape.
    #[error("{0}")]
    Unprocessable(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    /// No credentials, or credentials that do not hold (RFC 6750 §3): a
    /// missing token has no `error`, a bad one `invalid_token`, a failed
    /// log-in `invalid_grant` (RFC 6749 §5.2).
    #[error("{detail}")]
    Unauthenticated {
        detail: String,
        error: Option<&'static str>,
    },
    /// Authenticated, but not allowed (an admin operation, or an order for
    /// another user).
    #[error("{0}")]
    Forbidden(String),
    #[error("{detail}")]
    TooManyRequests {
        detail: String,
        retry_after: Duration,
    },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// A dependency is down or refused the call.
    #[error("{0}")]
    Unavailable(String),
    /// A dependency is up but at capacity (user-service's password hashers,
    /// gRPC RESOURCE_EXHAUSTED): 503 with `Retry-After`, nothing logged — a
    /// busy service refusing at once is the plan, not a fault.
    #[error("{detail}")]
    Overloaded {
        detail: String,
        retry_after: Duration,
    },
    /// A dependency did not answer within its deadline.
    #[error("{0}")]
    Timeout(String),
    /// A bug or an unexpected upstream failure. The detail is logged, never
    /// shown: clients get a generic message.
    #[error("{0}")]
    Internal(String),
    /// Any of the above, with facts the service attached (e.g. the id of a
    /// rejected order), rendered as problem+json extension members.
    #[error("{error}")]
    WithDetails {
        error: Box<ApiError>,
        details: BTreeMap<String, String>,
    },
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unauthenticated { .. } => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Unavailable(_) | Self::Overloaded { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::WithDetails { error, .. } => error.status(),
        }
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::BadRequest {
            detail: detail.into(),
            errors: Vec::new(),
        }
    }

    /// The only place a service's error code becomes an HTTP status, whatever
    /// transport carried it (see docs/errors.md). Messages of 4xx answers are
    /// shown to the client; those of 5xx answers are logged, not shown.
    pub fn from_code(
        service: &str,
        code: ErrorCode,
        message: String,
        errors: Vec<FieldError>,
    ) -> Self {
        match code {
            ErrorCode::InvalidArgument => Self::BadRequest {
                detail: message,
                errors,
            },
            ErrorCode::NotFound => Self::NotFound(message),
            // The gateway authenticated the caller before calling: a service
            // that still says so disagrees with it, which is the gateway's
            // problem to explain, not the client's.
            ErrorCode::Unauthenticated => Self::Unauthenticated {
                detail: message,
                error: Some("invalid_token"),
            },
            ErrorCode::PermissionDenied => Self::Forbidden(message),
            ErrorCode::AlreadyExists | ErrorCode::FailedPrecondition => Self::Conflict(message),
            ErrorCode::DeadlineExceeded => {
                Self::Timeout(format!("{service} did not answer in time"))
            }
            ErrorCode::Unavailable => {
                tracing::warn!(service, error = %message, "upstream unavailable");
                Self::Unavailable(format!("{service} is unavailable; try again shortly"))
            }
            ErrorCode::Internal => Self::Internal(format!("{service} failed: {message}")),
        }
    }

    /// A failed gRPC call: its status code translated to an [`ErrorCode`].
    pub fn from_grpc(service: &str, status: tonic::Status) -> Self {
        if status.code() == Code::ResourceExhausted {
            // The service's own hint (google.rpc.RetryInfo), else a second.
            let retry_after = status
                .get_details_retry_info()
                .and_then(|info| info.retry_delay)
                .unwrap_or(Duration::from_secs(1));
            return Self::Overloaded {
                detail: format!("{service} is busy; try again shortly"),
                retry_after,
            };
        }
        let code = match status.code() {
            Code::InvalidArgument | Code::OutOfRange => ErrorCode::InvalidArgument,
            Code::NotFound => ErrorCode::NotFound,
            Code::AlreadyExists => ErrorCode::AlreadyExists,
            Code::Unauthenticated => ErrorCode::Unauthenticated,
            Code::PermissionDenied => ErrorCode::PermissionDenied,
            Code::Aborted | Code::FailedPrecondition => ErrorCode::FailedPrecondition,
            // tonic enforces a request's `grpc-timeout` on the client side too
            // and reports its expiry as CANCELLED ("Timeout expired"); the
            // gateway cancels nothing else, so both codes mean "too slow".
            Code::DeadlineExceeded | Code::Cancelled => ErrorCode::DeadlineExceeded,
            // Transport failures (connection refused, reset) arrive as
            // UNAVAILABLE with a hyper error as message.
            Code::Unavailable => ErrorCode::Unavailable,
            _ => ErrorCode::Internal,
        };
        let errors = field_errors(&status);
        Self::from_code(service, code, status.message().to_owned(), errors)
    }

    /// A failed request (RabbitMQ or NATS): a structured `err` from the
    /// service keeps its code; a broker problem, or nobody serving the
    /// pattern, is 503; no reply in time is 504.
    pub fn from_rpc(service: &str, error: RpcError) -> Self {
        match error {
            RpcError::Remote(err) => match serde_json::from_value::<ServiceError>(err.clone()) {
                Ok(e) => {
                    let error = Self::from_code(service, e.code, e.message, Vec::new());
                    if e.details.is_empty() {
                        error
                    } else {
                        Self::WithDetails {
                            error: Box::new(error),
                            details: e.details,
                        }
                    }
                }
                // A peer (e.g. a NestJS service) that answers a bare string.
                Err(_) => {
                    Self::from_code(service, ErrorCode::Internal, err.to_string(), Vec::new())
                }
            },
            RpcError::Timeout(_) => Self::from_code(
                service,
                ErrorCode::DeadlineExceeded,
                String::new(),
                Vec::new(),
            ),
            RpcError::Codec(e) => {
                Self::from_code(service, ErrorCode::Internal, e.to_string(), Vec::new())
            }
            broker @ (RpcError::NotConnected
            | RpcError::ConnectionLost
            | RpcError::Rejected
            | RpcError::NoServer
            | RpcError::Transport(_)) => Self::from_code(
                service,
                ErrorCode::Unavailable,
                broker.to_string(),
                Vec::new(),
            ),
        }
    }
}

/// Field violations user-service attached as `google.rpc.BadRequest` details.
fn field_errors(status: &tonic::Status) -> Vec<FieldError> {
    status
        .get_details_bad_request()
        .map(|bad| {
            bad.field_violations
                .into_iter()
                .map(|v| FieldError {
                    field: v.field,
                    detail: v.description,
                })
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use axum::{http::header, response::IntoResponse};

    use super::*;

    #[test]
    fn maps_each_grpc_code_to_one_http_status() {
        let cases = [
            (Code::InvalidArgument, StatusCode::BAD_REQUEST),
            (Code::NotFound, StatusCode::NOT_FOUND),
            (Code::AlreadyExists, StatusCode::CONFLICT),
            (Code::FailedPrecondition, StatusCode::CONFLICT),
            (Code::Unavailable, StatusCode::SERVICE_UNAVAILABLE),
            (Code::ResourceExhausted, StatusCode::SERVICE_UNAVAILABLE),
            (Code::DeadlineExceeded, StatusCode::GATEWAY_TIMEOUT),
            (Code::Cancelled, StatusCode::GATEWAY_TIMEOUT),
            (Code::Internal, StatusCode::INTERNAL_SERVER_ERROR),
            (Code::Unknown, StatusCode::INTERNAL_SERVER_ERROR),
        ];
        for (code, http) in cases {
            let err = ApiError::from_grpc("user-service", tonic::Status::new(code, "x"));
            assert_eq!(err.status(), http, "{code:?}");
        }
    }

    #[test]
    fn a_busy_service_is_503_with_its_retry_hint() {
        let mut details = tonic_types::ErrorDetails::new();
        details.set_retry_info(Some(Duration::from_millis(2500)));
        let status = tonic::Status::with_error_details(Code::ResourceExhausted, "busy", details);
        let response = ApiError::from_grpc("user-service", status).into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "3");
        let bare = tonic::Status::resource_exhausted("busy");
        let response = ApiError::from_grpc("user-service", bare).into_response();
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
    }

    #[test]
    fn internal_details_are_not_shown_to_clients() {
        let err = ApiError::from_grpc("user-service", tonic::Status::internal("SELECT secret"));
        let body = serde_json::to_string(&err.problem()).unwrap();
        assert!(!body.contains("secret"), "{body}");
        assert!(body.contains(r#""status":500"#), "{body}");
    }

    #[test]
    fn carries_field_violations_from_grpc_details() {
        let mut details = tonic_types::ErrorDetails::new();
        details.add_bad_request_violation("email", "is not an email");
        let status = tonic::Status::with_error_details(Code::InvalidArgument, "invalid", details);
        match ApiError::from_grpc("user-service", status) {
            ApiError::BadRequest { errors, .. } => assert_eq!(
                errors,
                [FieldError {
                    field: "email".into(),
                    detail: "is not an email".into()
                }]
            ),
            other => panic!("expected BadRequest, got {other:?}"),
        }
    }
}
