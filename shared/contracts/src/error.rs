//! The error vocabulary that crosses service boundaries.
//!
//! Each service maps its own failures onto an [`ErrorCode`] at its edge (gRPC
//! status, or the `err` of a message reply), and the gateway maps an
//! [`ErrorCode`] to an HTTP status in exactly one place. The codes follow the
//! gRPC canonical codes so the two transports agree on meaning.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Why a request failed, independent of the transport that carried it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    /// The input is malformed (a field is missing, too long, not a UUID...).
    InvalidArgument,
    /// The addressed entity does not exist.
    NotFound,
    /// The entity to create exists already (e.g. a taken email).
    AlreadyExists,
    /// The request is valid but the current state forbids it (e.g. stock).
    FailedPrecondition,
    /// The caller did not prove who it is (no identity, or a wrong password).
    Unauthenticated,
    /// The caller is known but may not do this (a customer acting for
    /// another user, a customer calling an admin operation).
    PermissionDenied,
    /// A dependency is down; retrying later may succeed.
    Unavailable,
    /// The deadline passed before an answer arrived.
    DeadlineExceeded,
    /// A bug or an unexpected failure; details are in the server's logs.
    Internal,
}

impl ErrorCode {
    /// The wire name, as serialized: `"NOT_FOUND"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidArgument => "INVALID_ARGUMENT",
            Self::NotFound => "NOT_FOUND",
            Self::AlreadyExists => "ALREADY_EXISTS",
            Self::FailedPrecondition => "FAILED_PRECONDITION",
            Self::Unauthenticated => "UNAUTHENTICATED",
            Self::PermissionDenied => "PERMISSION_DENIED",
            Self::Unavailable => "UNAVAILABLE",
            Self::DeadlineExceeded => "DEADLINE_EXCEEDED",
            Self::Internal => "INTERNAL",
        }
    }

    /// The code named `name`, if any.
    pub fn parse(name: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(name.to_owned())).ok()
    }
}

/// A failure as it travels between services: a code and a message a human can
/// act on. Messages never carry SQL, stack traces or other internals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceError {
    pub code: ErrorCode,
    pub message: String,
    /// Machine-readable facts about the failure, e.g. the id of the order a
    /// rejection is about. The gateway passes them on as problem+json
    /// extension members.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub details: BTreeMap<String, String>,
}

impl ServiceError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            details: BTreeMap::new(),
        }
    }

    pub fn with_detail(mut self, key: &str, value: impl Into<String>) -> Self {
        self.details.insert(key.to_owned(), value.into());
        self
    }
}

impl std::fmt::Display for ServiceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}: {}", self.code, self.message)
    }
}

impl std::error::Error for ServiceError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_as_screaming_snake_case_like_grpc_code_names() {
        let err = ServiceError::new(ErrorCode::NotFound, "no user 42");
        let json = serde_json::to_string(&err).unwrap();
        assert_eq!(json, r#"{"code":"NOT_FOUND","message":"no user 42"}"#);
        assert_eq!(serde_json::from_str::<ServiceError>(&json).unwrap(), err);
    }

    #[test]
    fn as_str_and_parse_agree_with_serde() {
        for code in [
            ErrorCode::NotFound,
            ErrorCode::FailedPrecondition,
            ErrorCode::Unavailable,
            ErrorCode::Unauthenticated,
            ErrorCode::PermissionDenied,
        ] {
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
            assert_eq!(ErrorCode::parse(code.as_str()), Some(code));
        }
        assert_eq!(ErrorCode::parse("NOPE"), None);
    }
}
