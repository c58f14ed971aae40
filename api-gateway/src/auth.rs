//! Who is calling: the bearer token (RFC 6750) of a request, verified —
//! signature by the key its `kid` names ([`crate::keys`]), the algorithm
//! that key is for (never `none`, never one the token picks), `iss`, `aud`,
//! `exp`, `nbf` — and turned into a [`Caller`], who then takes one of their
//! requests in flight ([`PerUser`]).
//!
//! Verified tokens are remembered until they expire, so a client sending
//! the same token with every request pays for one signature check, not one
//! per request. The cache is bounded; when full it is emptied, which costs
//! only re-verification.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use axum::{
    extract::{FromRequestParts, Request},
    http::{header, request::Parts},
    middleware::Next,
    response::{IntoResponse, Response},
};
use contracts::identity::{Caller, Role};
use jsonwebtoken::{Validation, decode, decode_header};
use serde::Deserialize;
use uuid::Uuid;

use crate::{
    config::AuthConfig,
    error::ApiError,
    keys::{KeyError, KeySet},
};

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, without a token.
    Public,
    /// Any signed-in user (a customer, or an admin); what they may reach is
    /// then checked by ownership in the handler and again in the service.
    User,
    /// Admins only; a customer gets 403.
    Admin,
}

/// Verified tokens remembered at most.
const CACHE_CAPACITY: usize = 10_000;
/// Tolerated clock difference with the issuer.
const LEEWAY: Duration = Duration::from_secs(30);
/// Longer headers are not tokens; refused before any parsing.
const MAX_TOKEN_BYTES: usize = 4096;

/// Shared by every request (`Arc`): one key set, one cache.
pub(crate) struct Authenticator {
    keys: KeySet,
    config: AuthConfig,
    /// Verified tokens and their callers, with their expiry.
    verified: Mutex<HashMap<String, (Caller, u64)>>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("issuer", &self.config.issuer)
            .field("audience", &self.config.audience)
            .finish_non_exhaustive()
    }
}

/// Built-in tokens always carry a role; an external issuer's may not, and
/// then the caller is a customer.
#[derive(Debug, Deserialize)]
struct Claims {
    sub: String,
    #[serde(default)]
    role: Option<String>,
    exp: u64,
}

impl Authenticator {
    pub(crate) fn new(keys: KeySet, config: AuthConfig) -> Self {
        Self {
            keys,
            config,
            verified: Mutex::default(),
        }
    }

    /// The caller a bearer token proves, or why it proves nothing.
    pub(crate) async fn verify(&self, token: &str) -> Result<Caller, ApiError> {
        // Before the cache: a megabyte of header is never hashed as a key.
        if token.len() > MAX_TOKEN_BYTES {
            return Err(invalid("the token is too long"));
        }
        let now = now();
        if let Some((caller, exp)) = self.remembered(token)
            && exp + LEEWAY.as_secs() > now
        {
            return Ok(caller);
        }
        let header = decode_header(token).map_err(|_| invalid("the token is not a signed JWT"))?;
        let kid = header
            .kid
            .ok_or_else(|| invalid("the token names no key (`kid`)"))?;
        let key = self.keys.get(&kid).await.map_err(|e| match e {
            KeyError::UnknownKid => invalid("the token is not signed by a key of the issuer"),
            KeyError::Unavailable(error) => error,
        })?;
        // The key decides the algorithm; a token claiming another one (an
        // RSA key used as an HMAC secret, `none`) fails here.
        let mut validation = Validation::new(key.algorithm);
        validation.set_issuer(&[&self.config.issuer]);
        validation.set_audience(&[&self.config.audience]);
        validation.set_required_spec_claims(&["exp", "iat", "sub", "iss", "aud"]);
        validation.leeway = LEEWAY.as_secs();
        // A token with `nbf` (RFC 7519 §4.1.5) is refused until then.
        validation.validate_nbf = true;
        let claims = decode::<Claims>(token, &key.key, &validation)
            .map_err(|e| invalid(describe(&e)))?
            .claims;
        let caller = Caller {
            user_id: Uuid::parse_str(&claims.sub)
                .map_err(|_| invalid("the token's subject is not a user id"))?,
            role: match claims.role.as_deref() {
                None => Role::Customer,
                Some(name) => {
                    Role::parse(name).ok_or_else(|| invalid("the token's role is unknown"))?
                }
            },
        };
        self.remember(token, caller, claims.exp);
        Ok(caller)
    }

    fn remembered(&self, token: &str) -> Option<(Caller, u64)> {
        self.verified
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(token)
            .copied()
    }

    fn remember(&self, token: &str, caller: Caller, exp: u64) {
        let mut verified = self.verified.lock().unwrap_or_else(PoisonError::into_inner);
        if verified.len() >= CACHE_CAPACITY {
            verified.clear();
        }
        verified.insert(token.to_owned(), (caller, exp));
    }
}

/// Enforces a route's [`Access`]: installed by [`crate::routes`] on every
/// route that is not public, so a route cannot be added without saying who
/// may call it. Puts the [`Caller`] in the request for [`Authenticated`].
pub(crate) async fn require(access: Access, mut req: Request, next: Next) -> Response {
    let Some(auth) = req.extensions().get::<Arc<Authenticator>>().cloned() else {
        return ApiError::Internal("no authenticator installed".into()).into_response();
    };
    let caller = match bearer(req.headers()) {
        Ok(token) => auth.verify(token).await,
        Err(e) => Err(e),
    };
    let caller = match caller {
        Ok(caller) => caller,
        Err(e) => {
            refused(match &e {
                ApiError::Unauthenticated { error: None, .. } => "missing",
                ApiError::Unauthenticated { .. } => "invalid",
                _ => "unavailable",
            });
            return e.into_response();
        }
    };
    if access == Access::Admin && !caller.is_admin() {
        refused("forbidden");
        return ApiError::Forbidden("only an admin may do this".into()).into_response();
    }
    // A user's share, wherever their requests come from (one token on many
    // addresses): held until the response is ready.
    let _slot = match req.extensions().get::<PerUser>() {
        Some(PerUser(per_user)) => match per_user.try_take(caller.user_id) {
            Some(slot) => Some(slot),
            None => {
                metrics::counter!("http_fair_share_refusals_total", "limit" => "user").increment(1);
                return crate::fair_share::too_many_in_flight();
            }
        },
        None => None,
    };
    req.extensions_mut().insert(caller);
    next.run(req).await
}

/// Requests in flight per signed-in user (`MAX_CONCURRENT_REQUESTS_PER_CLIENT`),
/// in the request's extensions for [`require`].
#[derive(Debug, Clone)]
pub(crate) struct PerUser(pub Arc<crate::fair_share::PerClient<Uuid>>);

/// Counts a refused request by why (`auth_refusals_total{reason}`: missing,
/// invalid, forbidden, unavailable — a bounded label): a rise in `invalid`
/// is someone trying tokens.
fn refused(reason: &'static str) {
    metrics::counter!("auth_refusals_total", "reason" => reason).increment(1);
}

/// The `Authorization: Bearer <token>` of a request.
fn bearer(headers: &axum::http::HeaderMap) -> Result<&str, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(ApiError::Unauthenticated {
            detail:
                "this request needs `Authorization: Bearer <token>`; get one from POST /auth/token"
                    .into(),
            error: None,
        });
    };
    value
        .to_str()
        .ok()
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|token| !token.is_empty())
        .ok_or_else(|| ApiError::Unauthenticated {
            detail: "expected `Authorization: Bearer <token>`".into(),
            error: Some("invalid_request"),
        })
}

/// The verified caller of a request, as [`require`] left it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Authenticated(pub Caller);

impl<S: Send + Sync> FromRequestParts<S> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Caller>()
            .copied()
            .map(Self)
            .ok_or_else(|| ApiError::Internal("a handler needs a caller on a public route".into()))
    }
}

fn invalid(detail: impl Into<String>) -> ApiError {
    ApiError::Unauthenticated {
        detail: detail.into(),
        error: Some("invalid_token"),
    }
}

fn describe(error: &jsonwebtoken::errors::Error) -> &'static str {
    use jsonwebtoken::errors::ErrorKind;
    match error.kind() {
        ErrorKind::ExpiredSignature => "the token has expired",
        ErrorKind::ImmatureSignature => "the token is not valid yet (`nbf`)",
        ErrorKind::InvalidIssuer => "the token is from another issuer",
        ErrorKind::InvalidAudience => "the token is for another audience",
        ErrorKind::InvalidAlgorithm => "the token's algorithm is not its key's",
        ErrorKind::InvalidSignature => "the token's signature does not verify",
        ErrorKind::MissingRequiredClaim(_) => "the token lacks a required claim",
        _ => "the token is malformed",
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}
