//! The JSON shapes of users at the gateway, and their conversions from the
//! gRPC messages. Both sides of a conversion live here, beside the generated
//! code, so a field added to the proto is added to the JSON in the same place.

use serde::{Deserialize, Serialize};

use crate::user;

/// Body of `POST /users` (sign-up). Unknown fields are rejected rather than
/// ignored, so a typo such as `"emial"` is a clear 422 instead of a confusing
/// 400 about a missing email.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateUserRequest {
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 100,
            pattern = r"^[^\x00-\x1f\x7f-\x9f]*$",
            example = "Ada Lovelace"
        )
    )]
    pub name: String,
    #[cfg_attr(feature = "openapi", schema(format = Email, max_length = 254, example = "ada@example.com"))]
    pub email: String,
    #[cfg_attr(feature = "openapi", schema(format = Password, min_length = 12, max_length = 128, example = "correct horse battery"))]
    pub password: String,
}

/// Body of `POST /auth/token` as JSON. (The OAuth 2.0 form with
/// `grant_type=password` is read by the gateway into the same shape.)
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenRequest {
    #[cfg_attr(feature = "openapi", schema(example = "ada@example.com"))]
    pub email: String,
    #[cfg_attr(feature = "openapi", schema(format = Password, example = "correct horse battery"))]
    pub password: String,
}

/// An access token, as RFC 6749 §5.1 answers it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenResponse {
    pub access_token: String,
    /// Always `Bearer` (RFC 6750).
    #[cfg_attr(feature = "openapi", schema(example = "Bearer"))]
    pub token_type: String,
    /// Seconds until the token expires.
    pub expires_in: u64,
}

/// A user as the gateway returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserResponse {
    #[cfg_attr(feature = "openapi", schema(format = Uuid))]
    pub id: String,
    pub name: String,
    pub email: String,
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub created_at: String,
    /// Store credit, in cents.
    pub balance_cents: i64,
    /// `customer` or `admin`.
    #[cfg_attr(feature = "openapi", schema(pattern = "^(customer|admin)$"))]
    pub role: String,
}

/// Body of `POST /users/{id}/credit`: a top-up of store credit.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TopUpRequest {
    /// Cents to add: 1 to 100,000,000 (user-service's `MAX_AMOUNT_CENTS`).
    #[cfg_attr(
        feature = "openapi",
        schema(minimum = 1, maximum = 100_000_000, example = 5000)
    )]
    pub amount_cents: i64,
}

/// A user's store credit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BalanceResponse {
    #[cfg_attr(feature = "openapi", schema(format = Uuid))]
    pub user_id: String,
    pub balance_cents: i64,
}

impl From<user::Balance> for BalanceResponse {
    fn from(b: user::Balance) -> Self {
        Self {
            user_id: b.user_id,
            balance_cents: b.balance_cents,
        }
    }
}

/// Body of `GET /users`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserList {
    pub users: Vec<UserResponse>,
}

impl From<CreateUserRequest> for user::CreateUser {
    fn from(req: CreateUserRequest) -> Self {
        Self {
            name: req.name,
            email: req.email,
            password: req.password,
        }
    }
}

impl From<user::User> for UserResponse {
    fn from(u: user::User) -> Self {
        Self {
            id: u.id,
            name: u.name,
            email: u.email,
            created_at: u.created_at,
            balance_cents: u.balance_cents,
            role: u.role,
        }
    }
}

impl From<user::Users> for UserList {
    fn from(list: user::Users) -> Self {
        Self {
            users: list.users.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<user::AccessToken> for TokenResponse {
    fn from(token: user::AccessToken) -> Self {
        Self {
            access_token: token.access_token,
            token_type: "Bearer".to_owned(),
            expires_in: token.expires_in,
        }
    }
}

// What carries a password or a token prints without it: a request or a
// response that reaches a log line, a span or a panic message leaks nothing.
// (Generated with `skip_debug`, see build.rs.)
macro_rules! redacted_debug {
    ($type:ty, $name:literal, [$($shown:ident),*], [$($hidden:ident),*]) => {
        impl std::fmt::Debug for $type {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct($name)
                    $(.field(stringify!($shown), &self.$shown))*
                    $(.field(stringify!($hidden), &"<redacted>"))*
                    .finish()
            }
        }
    };
}

redacted_debug!(
    CreateUserRequest,
    "CreateUserRequest",
    [name],
    [email, password]
);
redacted_debug!(TokenRequest, "TokenRequest", [], [email, password]);
redacted_debug!(
    TokenResponse,
    "TokenResponse",
    [token_type, expires_in],
    [access_token]
);
redacted_debug!(user::CreateUser, "CreateUser", [name], [email, password]);
redacted_debug!(user::Credentials, "Credentials", [], [email, password]);
redacted_debug!(
    user::AccessToken,
    "AccessToken",
    [expires_in],
    [access_token]
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_carries_no_password_email_or_token() {
        let printed = [
            format!(
                "{:?}",
                user::CreateUser {
                    name: "Ada".into(),
                    email: "ada@example.com".into(),
                    password: "correct horse battery".into(),
                }
            ),
            format!(
                "{:?}",
                user::Credentials {
                    email: "ada@example.com".into(),
                    password: "correct horse battery".into(),
                }
            ),
            format!(
                "{:?}",
                TokenResponse::from(user::AccessToken {
                    access_token: "eyJhbGciOi.secret.sig".into(),
                    expires_in: 900,
                })
            ),
        ];
        for line in printed {
            for secret in ["correct horse", "ada@example.com", "eyJhbGciOi"] {
                assert!(!line.contains(secret), "{line}");
            }
            assert!(line.contains("<redacted>"), "{line}");
        }
    }
}
