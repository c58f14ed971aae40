//! Log-in and the keys to check what it gives: `POST /auth/token` and
//! `GET /.well-known/jwks.json`, both public.
//!
//! `POST /auth/token` takes JSON `{"email", "password"}`, or the OAuth 2.0
//! form `grant_type=password&username=..&password=..` (RFC 6749 §4.3) so
//! standard tools work, and answers `{"access_token", "token_type":
//! "Bearer", "expires_in"}` (§5.1). A wrong password and an unknown email
//! are the same 401 (user-service makes them take the same time too);
//! attempts past [`crate::login_limit`] are 429 with `Retry-After`.

use std::{
    collections::BTreeMap,
    net::{IpAddr, Ipv4Addr},
};

use axum::{
    extract::{FromRequest, Request, State},
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use contracts::{
    user as pb,
    users::{TokenRequest, TokenResponse},
};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::routes;

use crate::{
    AppState,
    clients::ClientAddr,
    error::ApiError,
    extract::{Form, Json, is_form},
    routing::{Access, Routes},
};

pub(crate) fn routes(routes: Routes) -> Routes {
    routes
        .route(Access::Public, routes!(issue))
        .route(Access::Public, routes!(jwks))
}

/// Log in
///
/// Takes JSON `{"email", "password"}`, or the OAuth 2.0 password grant
/// form (RFC 6749 §4.3) so standard tools work. A wrong password and an
/// unknown email are the same 401; too many attempts from one address or
/// for one email are 429 with `Retry-After`.
#[utoipa::path(
    post,
    path = "/auth/token",
    operation_id = "issueToken",
    tag = "auth",
    request_body(content(
        (TokenRequest = "application/json"),
        (PasswordGrant = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 200, description = "An access token (RFC 6749 §5.1); never cached.",
            body = TokenResponse,
            headers(("Cache-Control" = String, description = "`no-store`."))),
        (status = 401, description = "Wrong email or password (`error`: `invalid_grant`)."),
        (status = 429, description = "Too many log-in attempts; wait `Retry-After` seconds."),
    ),
)]
async fn issue(State(state): State<AppState>, request: Credentials) -> Result<Response, ApiError> {
    let Credentials {
        email,
        password,
        client,
    } = request;
    if let Err(retry_after) = state.login_limit().check(client, &email) {
        count("limited");
        return Err(ApiError::TooManyRequests {
            detail: "too many log-in attempts; wait and try again".into(),
            retry_after,
        });
    }
    let token = match state
        .users()
        .issue_token(pb::Credentials { email, password })
        .await
    {
        Ok(token) => token,
        Err(ApiError::Unauthenticated { .. }) => {
            count("refused");
            return Err(ApiError::Unauthenticated {
                detail: "wrong email or password".into(),
                error: Some("invalid_grant"),
            });
        }
        Err(other) => {
            count("failed");
            return Err(other);
        }
    };
    count("issued");
    let mut response = axum::Json(TokenResponse::from(token)).into_response();
    // RFC 6749 §5.1: a response with a token is never cached.
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    Ok(response)
}

/// Counts a log-in by its outcome (`login_attempts_total{outcome}`: issued,
/// refused, limited, failed).
fn count(outcome: &'static str) {
    metrics::counter!("login_attempts_total", "outcome" => outcome).increment(1);
}

/// The token keys
///
/// The public keys that verify access tokens, as a JWK set (RFC 7517);
/// cacheable for a while, as verifiers refetch on an unknown `kid` anyway.
#[utoipa::path(
    get,
    path = "/.well-known/jwks.json",
    operation_id = "getKeySet",
    tag = "auth",
    responses((status = 200, description = "The key set.", content_type = "application/jwk-set+json",
        body = Object)),
)]
async fn jwks(State(state): State<AppState>) -> Result<Response, ApiError> {
    // One gRPC call per JWKS_CACHE_TTL however many ask (recent.rs).
    let json = state.jwks().try_get(|| state.users().jwks()).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/jwk-set+json"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        json,
    )
        .into_response())
}

/// A log-in's email and password, from JSON or from the OAuth form, and
/// the client's address for the rate limit.
struct Credentials {
    email: String,
    password: String,
    client: IpAddr,
}

/// RFC 6749 §4.3.2. `scope`, `client_id` and any other parameter are
/// accepted and ignored (§3.2): tools send them. Each, like every field of
/// every body, is UTF-8 text without control characters, and given once
/// (§3.1).
#[derive(Deserialize, ToSchema)]
struct PasswordGrant {
    /// `password`.
    #[schema(pattern = "^password$", example = "password")]
    grant_type: String,
    /// The email.
    #[schema(example = "ada@example.com")]
    username: String,
    #[schema(format = Password, example = "correct horse battery")]
    password: String,
    // Strings, as every form field is: a form has no `null`.
    #[serde(default, rename = "scope")]
    #[schema(value_type = String)]
    _scope: Option<String>,
    #[serde(default, rename = "client_id")]
    #[schema(value_type = String)]
    _client_id: Option<String>,
    /// Any other parameter, ignored (RFC 6749 §3.2) — text, like the rest.
    #[serde(flatten)]
    _other: BTreeMap<String, String>,
}

impl<S: Send + Sync> FromRequest<S> for Credentials {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        // Resolved by the fair-share layer (through trusted proxies).
        let client = req
            .extensions()
            .get::<ClientAddr>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |client| client.key());
        if is_form(req.headers().get(header::CONTENT_TYPE)) {
            let Form(grant) = Form::<PasswordGrant>::from_request(req, state).await?;
            if grant.grant_type != "password" {
                return Err(ApiError::bad_request(
                    "unsupported grant_type: only `password` is supported",
                ));
            }
            return Ok(Self {
                email: grant.username,
                password: grant.password,
                client,
            });
        }
        let Json(TokenRequest { email, password }) = Json::from_request(req, state).await?;
        Ok(Self {
            email,
            password,
            client,
        })
    }
}
