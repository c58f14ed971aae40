//! The JSON shapes of users at the gateway, and their conversions from the
//! gRPC messages. Both sides of a conversion live here, beside the generated
//! code, so a field added to the proto is added to the JSON in the same place.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{identity::Role, user};

/// Body of `POST /users` (sign-up). Unknown fields are rejected rather than
/// ignored, so a typo such as `"emial"` is a clear 422 instead of a confusing
/// 400 about a missing email.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateUserRequest {
    // Without control characters, and not blank: user-service trims a name
    // before it counts it.
    #[cfg_attr(
        feature = "openapi",
        schema(
            pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$",
            example = "Ada Lovelace"
        )
    )]
    pub name: String,
    #[cfg_attr(feature = "openapi", schema(format = Email, example = "ada@example.com"))]
    pub email: String,
    #[cfg_attr(feature = "openapi", schema(format = Password, example = "correct horse battery"))]
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
    pub id: Uuid,
    pub name: String,
    pub email: String,
    #[serde(with = "crate::timestamp")]
    pub created_at: DateTime<Utc>,
    /// Store credit, in cents.
    pub balance_cents: i64,
    pub role: Role,
}

/// Body of `POST /users/{id}/credit`: a top-up of store credit.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TopUpRequest {
    /// Cents to add, from 1 to the `maximum` (`MAX_AMOUNT_CENTS`).
    #[serde(deserialize_with = "crate::integer::deserialize")]
    #[cfg_attr(feature = "openapi", schema(example = 5000))]
    pub amount_cents: i64,
}

/// A user's store credit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BalanceResponse {
    pub user_id: Uuid,
    pub balance_cents: i64,
}

impl TryFrom<user::Balance> for BalanceResponse {
    type Error = BadField;

    fn try_from(b: user::Balance) -> Result<Self, BadField> {
        Ok(Self {
            user_id: uuid("Balance.user_id", &b.user_id)?,
            balance_cents: b.balance_cents,
        })
    }
}

/// A gRPC message whose string field does not hold what the proto says it
/// does (a UUID, an RFC 3339 timestamp): a fault of the service that sent
/// it, never of the gateway's caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadField {
    /// `Message.field`.
    pub field: &'static str,
    pub value: String,
}

impl fmt::Display for BadField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} is not valid: {:?}", self.field, self.value)
    }
}

impl std::error::Error for BadField {}

fn uuid(field: &'static str, value: &str) -> Result<Uuid, BadField> {
    Uuid::parse_str(value).map_err(|_| BadField {
        field,
        value: value.to_owned(),
    })
}

fn timestamp(field: &'static str, value: &str) -> Result<DateTime<Utc>, BadField> {
    DateTime::parse_from_rfc3339(value)
        .map(|at| at.with_timezone(&Utc))
        .map_err(|_| BadField {
            field,
            value: value.to_owned(),
        })
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

impl TryFrom<user::User> for UserResponse {
    type Error = BadField;

    fn try_from(u: user::User) -> Result<Self, BadField> {
        Ok(Self {
            id: uuid("User.id", &u.id)?,
            name: u.name,
            email: u.email,
            created_at: timestamp("User.created_at", &u.created_at)?,
            balance_cents: u.balance_cents,
            role: Role::parse(&u.role).ok_or_else(|| BadField {
                field: "User.role",
                value: u.role.clone(),
            })?,
        })
    }
}

impl TryFrom<user::Users> for UserList {
    type Error = BadField;

    fn try_from(list: user::Users) -> Result<Self, BadField> {
        Ok(Self {
            users: list
                .users
                .into_iter()
                .map(TryInto::try_into)
                .collect::<Result<_, _>>()?,
        })
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

    fn grpc_user() -> user::User {
        user::User {
            id: "0191e5f0-7a1e-7cc3-8f0e-8d1f4a2b3c4d".into(),
            name: "Ada".into(),
            email: "ada@example.com".into(),
            created_at: "2026-11-29T15:21:35.876Z".into(),
            balance_cents: 5000,
            role: "customer".into(),
        }
    }

    #[test]
    fn users_are_written_as_when_their_fields_were_the_protos_strings() {
        // The JSON as it was, byte for byte.
        let user = r#"{"id":"0191e5f0-7a1e-7cc3-8f0e-8d1f4a2b3c4d","name":"Ada","email":"ada@example.com","created_at":"2026-11-29T15:21:35.876Z","balance_cents":5000,"role":"customer"}"#;
        let converted = UserResponse::try_from(grpc_user()).unwrap();
        assert_eq!(serde_json::to_string(&converted).unwrap(), user);
        let read: UserResponse = serde_json::from_str(user).unwrap();
        assert_eq!(read, converted);

        let list = UserList::try_from(user::Users {
            users: vec![grpc_user()],
        })
        .unwrap();
        assert_eq!(
            serde_json::to_string(&list).unwrap(),
            format!(r#"{{"users":[{user}]}}"#)
        );

        let balance = BalanceResponse::try_from(user::Balance {
            user_id: "0191e5f0-7a1e-7cc3-8f0e-8d1f4a2b3c4d".into(),
            balance_cents: 5000,
        })
        .unwrap();
        assert_eq!(
            serde_json::to_string(&balance).unwrap(),
            r#"{"user_id":"0191e5f0-7a1e-7cc3-8f0e-8d1f4a2b3c4d","balance_cents":5000}"#
        );
    }

    #[test]
    fn a_grpc_answer_breaking_its_contract_names_the_field() {
        let bad_id = user::User {
            id: "nope".into(),
            ..grpc_user()
        };
        let bad_time = user::User {
            created_at: "yesterday".into(),
            ..grpc_user()
        };
        let bad_role = user::User {
            role: "root".into(),
            ..grpc_user()
        };
        assert_eq!(
            UserResponse::try_from(bad_role).unwrap_err().field,
            "User.role"
        );
        assert_eq!(UserResponse::try_from(bad_id).unwrap_err().field, "User.id");
        assert_eq!(
            UserResponse::try_from(bad_time).unwrap_err().field,
            "User.created_at"
        );
    }
}
