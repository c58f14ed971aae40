//! Extractors whose rejections are problem+json. axum's own reject with plain
//! text; these wrap them (`via`) and turn each rejection into an [`ApiError`]
//! with the status axum chose and a detail that says what to fix.

use axum::{
    extract::{
        FromRequest, FromRequestParts,
        rejection::{JsonRejection, PathRejection, QueryRejection},
    },
    http::StatusCode,
};

use crate::error::ApiError;

/// `axum::Json` with problem+json rejections: 415 without a JSON content
/// type, 400 for malformed JSON, 422 for a wrong shape, 413 for a body over
/// the limit.
#[derive(Debug, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct Json<T>(pub T);

/// `axum::extract::Path` with problem+json rejections (400).
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct Path<T>(pub T);

/// `axum::extract::Query` with problem+json rejections (400).
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct Query<T>(pub T);

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        let detail = rejection.body_text();
        match rejection.status() {
            StatusCode::UNSUPPORTED_MEDIA_TYPE => Self::UnsupportedMediaType(
                "expected a JSON body with `Content-Type: application/json`".into(),
            ),
            StatusCode::PAYLOAD_TOO_LARGE => {
                Self::PayloadTooLarge("the request body is larger than the gateway accepts".into())
            }
            StatusCode::UNPROCESSABLE_ENTITY => Self::Unprocessable(detail),
            _ => Self::bad_request(detail),
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        Self::bad_request(rejection.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        Self::bad_request(rejection.body_text())
    }
}
