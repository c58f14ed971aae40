//! Extractors whose rejections are problem+json. axum's own reject with plain
//! text; these wrap them (`via`) and turn each rejection into an [`ApiError`]
//! with the status axum chose and a detail that says what to fix.

use axum::{
    extract::{
        FromRequest, FromRequestParts, Request,
        rejection::{JsonRejection, PathRejection, QueryRejection},
    },
    http::{StatusCode, request::Parts},
};

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::ApiError;

/// `axum::Json` with problem+json rejections: 415 without a JSON content
/// type, 400 for malformed JSON, 413 for a body over the limit, 422 for a
/// wrong shape.
///
/// Every body this API accepts is a JSON object, and only an object is
/// accepted: serde would otherwise also read a struct from a positional
/// array (`["Ada", "ada@example.com"]`), a form no client should rely on.
#[derive(Debug)]
pub struct Json<T>(pub T);

impl<S, T> FromRequest<S> for Json<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let axum::Json(object) = axum::Json::<Map<String, Value>>::from_request(req, state).await?;
        T::deserialize(Value::Object(object))
            .map(Json)
            .map_err(|e| ApiError::Unprocessable(format!("invalid request body: {e}")))
    }
}

/// `axum::extract::Path` with problem+json rejections (400).
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct Path<T>(pub T);

/// `axum::extract::Query` with problem+json rejections (400).
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct Query<T>(pub T);

/// The optional `Idempotency-Key` header (draft-ietf-httpapi-idempotency-key-header):
/// with it, a retried request is applied once. A present but unusable key is
/// a 400, not silently ignored — the client is counting on it.
#[derive(Debug)]
pub struct IdempotencyKey(pub Option<String>);

pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let Some(value) = parts.headers.get("idempotency-key") else {
            return Ok(Self(None));
        };
        // `to_str` also lets tabs through; a key is visible characters and
        // spaces (HTTP has already trimmed the ends).
        match value.to_str() {
            Ok(key)
                if !key.is_empty()
                    && key.len() <= MAX_IDEMPOTENCY_KEY_LEN
                    && key.bytes().all(|b| b == b' ' || b.is_ascii_graphic()) =>
            {
                Ok(Self(Some(key.to_owned())))
            }
            _ => Err(ApiError::bad_request(format!(
                "Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_LEN} visible ASCII characters"
            ))),
        }
    }
}

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
