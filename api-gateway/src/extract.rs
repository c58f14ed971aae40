//! Extractors whose rejections are problem+json. axum's own reject with plain
//! text; these wrap them (`via`) and turn each rejection into an [`ApiError`]
//! with the status axum chose and a detail that says what to fix. The body
//! extractors, [`Json`] and [`Form`], also hold every field to the text rule
//! of [`crate::text`] (UTF-8, no control characters) before a handler sees it.

use axum::{
    body::{Body, Bytes},
    extract::{
        FromRequest, FromRequestParts, Request,
        rejection::{BytesRejection, JsonRejection, PathRejection, QueryRejection},
    },
    http::{StatusCode, header, request::Parts},
};

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::{error::ApiError, text};

/// `axum::Json` with problem+json rejections: 415 without a JSON content
/// type, 400 for malformed JSON, 413 for a body over the limit, 422 for a
/// wrong shape; and 400 naming each field that breaks the text rule
/// ([`crate::text`]).
///
/// Every body this API accepts is a JSON object, and only an object is
/// accepted: serde would otherwise also read a struct from a positional
/// array (`["Ada", "ada@example.com"]`), a form no client should rely on.
#[derive(Debug)]
pub(crate) struct Json<T>(pub T);

impl<S, T> FromRequest<S> for Json<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        // The bytes are kept beside axum's parse: for a body that is not
        // UTF-8, serde_json says only where, and `text` names the field.
        let headers = req.headers().clone();
        let bytes = Bytes::from_request(req, state).await?;
        let mut req = Request::new(Body::from(bytes.clone()));
        *req.headers_mut() = headers;
        let object = match axum::Json::<Map<String, Value>>::from_request(req, state).await {
            Ok(axum::Json(object)) => Value::Object(object),
            Err(JsonRejection::JsonSyntaxError(_)) if std::str::from_utf8(&bytes).is_err() => {
                return Err(text::json_not_utf8(&bytes));
            }
            Err(rejection) => return Err(rejection.into()),
        };
        text::check(&object)?;
        T::deserialize(object)
            .map(Json)
            .map_err(|e| ApiError::Unprocessable(format!("invalid request body: {e}")))
    }
}

/// An `application/x-www-form-urlencoded` body (the OAuth 2.0 password
/// grant's), read as [`Json`] reads one: every field a string that must be
/// UTF-8 without control characters (400 naming it, where axum's `Form`
/// would decode bad bytes to U+FFFD and let a NUL through), a field given
/// twice a 400, a wrong shape (a missing field) 422, another content type
/// 415, a body over the limit 413.
#[derive(Debug)]
pub(crate) struct Form<T>(pub T);

pub(crate) const FORM_URLENCODED: &str = "application/x-www-form-urlencoded";

impl<S, T> FromRequest<S> for Form<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_form(req.headers().get(header::CONTENT_TYPE)) {
            return Err(ApiError::UnsupportedMediaType(format!(
                "expected a form with `Content-Type: {FORM_URLENCODED}`"
            )));
        }
        let bytes = Bytes::from_request(req, state).await?;
        let fields = text::form_fields(&bytes)?;
        T::deserialize(fields)
            .map(Form)
            .map_err(|e| ApiError::Unprocessable(format!("invalid form: {e}")))
    }
}

/// Whether `content_type` is a form's (`application/x-www-form-urlencoded`,
/// with or without parameters such as `charset`).
pub(crate) fn is_form(content_type: Option<&axum::http::HeaderValue>) -> bool {
    content_type
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case(FORM_URLENCODED))
}

/// `axum::extract::Path` with problem+json rejections (400).
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub(crate) struct Path<T>(pub T);

/// `axum::extract::Query` with problem+json rejections (400).
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub(crate) struct Query<T>(pub T);

/// The optional `Idempotency-Key` header (draft-ietf-httpapi-idempotency-key-header):
/// with it, a retried request is applied once. A present but unusable key is
/// a 400, not silently ignored — the client is counting on it.
#[derive(Debug)]
pub(crate) struct IdempotencyKey(pub Option<String>);

use contracts::limits::MAX_IDEMPOTENCY_KEY_CHARS;

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
                    && key.len() <= MAX_IDEMPOTENCY_KEY_CHARS
                    && key.bytes().all(|b| b == b' ' || b.is_ascii_graphic()) =>
            {
                Ok(Self(Some(key.to_owned())))
            }
            _ => Err(ApiError::bad_request(format!(
                "Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_CHARS} visible ASCII characters"
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

impl From<BytesRejection> for ApiError {
    fn from(rejection: BytesRejection) -> Self {
        match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => {
                Self::PayloadTooLarge("the request body is larger than the gateway accepts".into())
            }
            _ => Self::bad_request(rejection.body_text()),
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
