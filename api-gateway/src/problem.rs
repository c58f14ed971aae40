//! RFC 9457 problem details, the body of every error response, and how an
//! [`ApiError`] is rendered as one — with the headers some statuses need
//! (`WWW-Authenticate` for 401 and 403, `Retry-After` for 429).

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;

use crate::error::{ApiError, FieldError};

pub(crate) const PROBLEM_JSON: &str = "application/problem+json";

/// An RFC 9457 problem details object. `type` is `about:blank` (the status
/// says what kind of problem it is, `title` is the status's reason phrase);
/// `detail` says what to fix. Extension members may follow (`/health`'s
/// `dependencies`, a rejected order's `order_id`, a failed log-in's
/// `error`).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub(crate) struct Problem {
    /// `about:blank`.
    #[serde(rename = "type")]
    #[schema(value_type = String, example = "about:blank")]
    pub kind: &'static str,
    /// The status's reason phrase.
    #[schema(value_type = String, example = "Not Found")]
    pub title: &'static str,
    /// The HTTP status.
    #[serde(serialize_with = "serialize_status")]
    #[schema(value_type = u16, example = 404)]
    pub status: StatusCode,
    /// What went wrong, and what to fix.
    pub detail: String,
    /// The invalid fields, when there are any.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// Extension members (RFC 9457 §3.2), e.g. `/health`'s dependency report.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    #[schema(ignore)]
    pub extensions: Option<serde_json::Map<String, serde_json::Value>>,
}

impl Problem {
    pub(crate) fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            kind: "about:blank",
            title: status.canonical_reason().unwrap_or("Error"),
            status,
            detail: detail.into(),
            errors: Vec::new(),
            extensions: None,
        }
    }

    pub(crate) fn with_errors(mut self, errors: Vec<FieldError>) -> Self {
        self.errors = errors;
        self
    }

    pub(crate) fn with_extensions(
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

impl ApiError {
    /// The problem details this error is rendered as.
    pub(crate) fn problem(&self) -> Problem {
        if let Self::WithDetails { error, details } = self {
            let extensions = details
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                .collect();
            return error.problem().with_extensions(extensions);
        }
        let status = self.status();
        let (detail, errors) = match self {
            Self::BadRequest { detail, errors } => (detail.clone(), errors.clone()),
            Self::Internal(_) => ("an unexpected error occurred".to_owned(), Vec::new()),
            Self::Unauthenticated {
                detail,
                error: Some(error),
            } => {
                let mut members = serde_json::Map::new();
                members.insert("error".into(), (*error).into());
                return Problem::new(status, detail.clone()).with_extensions(members);
            }
            other => (other.to_string(), Vec::new()),
        };
        Problem::new(status, detail).with_errors(errors)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let inner = match &self {
            Self::WithDetails { error, .. } => error.as_ref(),
            other => other,
        };
        if let Self::Internal(cause) = inner {
            tracing::error!(error = %cause, "internal error");
        }
        let mut response = self.problem().into_response();
        let headers = response.headers_mut();
        match inner {
            Self::Unauthenticated { detail, error } => {
                headers.insert(header::WWW_AUTHENTICATE, bearer_challenge(*error, detail));
            }
            // RFC 6750 §3.1: the token is fine, its privileges are not.
            Self::Forbidden(_) => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(
                        r#"Bearer realm="rust-shop", error="insufficient_scope""#,
                    ),
                );
            }
            Self::TooManyRequests { retry_after, .. } | Self::Overloaded { retry_after, .. } => {
                // Whole seconds, rounded up: never "retry after 0".
                let seconds = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
                headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
            }
            _ => {}
        }
        response
    }
}

/// `WWW-Authenticate: Bearer realm="rust-shop"[, error="..", error_description=".."]`
/// (RFC 6750 §3). The description is ours (never the client's input), but
/// quotes and control characters are dropped all the same.
fn bearer_challenge(error: Option<&str>, detail: &str) -> HeaderValue {
    let mut value = String::from(r#"Bearer realm="rust-shop""#);
    if let Some(error) = error {
        let description: String = detail
            .chars()
            .filter(|c| *c != '"' && *c != '\\' && !c.is_control() && c.is_ascii())
            .collect();
        value.push_str(&format!(
            r#", error="{error}", error_description="{description}""#
        ));
    }
    HeaderValue::from_str(&value).unwrap_or(HeaderValue::from_static(r#"Bearer realm="rust-shop""#))
}
