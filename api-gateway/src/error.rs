//! The gateway's one error type, its one mapping to HTTP statuses, and its one
//! rendering: RFC 9457 problem details (`application/problem+json`).
//!
//! Upstream failures arrive as `tonic::Status`; [`ApiError::from_grpc`] is the
//! single place a gRPC code becomes an HTTP status.

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use tonic::Code;
use tonic_types::StatusExt;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// One invalid field, as listed in a problem's `errors` member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// A dependency is down or refused the call.
    #[error("{0}")]
    Unavailable(String),
    /// A dependency did not answer within its deadline.
    #[error("{0}")]
    Timeout(String),
    /// A bug or an unexpected upstream failure. The detail is logged, never
    /// shown: clients get a generic message.
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::BadRequest {
            detail: detail.into(),
            errors: Vec::new(),
        }
    }

    /// Maps a failed gRPC call to `service` onto an HTTP error. This is the
    /// only place gRPC codes become HTTP statuses; see docs/errors.md.
    pub fn from_grpc(service: &str, status: tonic::Status) -> Self {
        let message = status.message().to_owned();
        match status.code() {
            Code::InvalidArgument | Code::OutOfRange => Self::BadRequest {
                errors: field_errors(&status),
                detail: message,
            },
            Code::NotFound => Self::NotFound(message),
            Code::AlreadyExists | Code::Aborted | Code::FailedPrecondition => {
                Self::Conflict(message)
            }
            // tonic enforces a request's `grpc-timeout` on the client side too
            // and reports its expiry as CANCELLED ("Timeout expired"); the
            // gateway cancels nothing else, so both codes mean "too slow".
            Code::DeadlineExceeded | Code::Cancelled => {
                Self::Timeout(format!("{service} did not answer in time"))
            }
            Code::Unavailable | Code::ResourceExhausted => {
                // Transport failures (connection refused, reset) arrive as
                // UNAVAILABLE with a hyper error as message: log it, do not
                // show it.
                tracing::warn!(service, code = ?status.code(), error = %message, "upstream unavailable");
                Self::Unavailable(format!("{service} is unavailable; try again shortly"))
            }
            code => Self::Internal(format!("{service} failed with {code:?}: {message}")),
        }
    }

    fn problem(&self) -> Problem {
        let status = self.status();
        let (detail, errors) = match self {
            Self::BadRequest { detail, errors } => (detail.clone(), errors.clone()),
            Self::Internal(_) => ("an unexpected error occurred".to_owned(), Vec::new()),
            other => (other.to_string(), Vec::new()),
        };
        Problem::new(status, detail).with_errors(errors)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Self::Internal(cause) = &self {
            tracing::error!(error = %cause, "internal error");
        }
        self.problem().into_response()
    }
}

/// An RFC 9457 problem details object. `type` is `about:blank` (the status
/// says what kind of problem it is, `title` is the status's reason phrase);
/// `detail` says what to fix.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub title: &'static str,
    #[serde(serialize_with = "serialize_status")]
    pub status: StatusCode,
    pub detail: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// Extension members (RFC 9457 §3.2), e.g. `/health`'s dependency report.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub extensions: Option<serde_json::Map<String, serde_json::Value>>,
}

impl Problem {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            kind: "about:blank",
            title: status.canonical_reason().unwrap_or("Error"),
            status,
            detail: detail.into(),
            errors: Vec::new(),
            extensions: None,
        }
    }

    pub fn with_errors(mut self, errors: Vec<FieldError>) -> Self {
        self.errors = errors;
        self
    }

    pub fn with_extensions(
        mut self,
        extensions: serde_json::Map<String, serde_json::Value>,
    ) -> Self {
        self.extensions = Some(extensions);
        self
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.status;
        let mut response = (status, axum::Json(self)).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        response
    }
}

fn serialize_status<S: serde::Serializer>(status: &StatusCode, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u16(status.as_u16())
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
    use super::*;

    #[test]
    fn maps_each_grpc_code_to_one_http_status() {
        let cases = [
            (Code::InvalidArgument, StatusCode::BAD_REQUEST),
            (Code::NotFound, StatusCode::NOT_FOUND),
            (Code::AlreadyExists, StatusCode::CONFLICT),
            (Code::FailedPrecondition, StatusCode::CONFLICT),
            (Code::Unavailable, StatusCode::SERVICE_UNAVAILABLE),
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
