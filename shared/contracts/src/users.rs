//! The JSON shapes of users at the gateway, and their conversions from the
//! gRPC messages. Both sides of a conversion live here, beside the generated
//! code, so a field added to the proto is added to the JSON in the same place.

use serde::{Deserialize, Serialize};

use crate::user;

/// Body of `POST /users`. Unknown fields are rejected rather than ignored, so
/// a typo such as `"emial"` is a clear 422 instead of a confusing 400 about a
/// missing email.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    pub name: String,
    pub email: String,
}

/// A user as the gateway returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserResponse {
    pub id: String,
    pub name: String,
    pub email: String,
    pub created_at: String,
    pub balance_cents: i64,
}

/// Body of `POST /users/{id}/credit`: a top-up of store credit.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopUpRequest {
    pub amount_cents: i64,
}

/// A user's store credit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BalanceResponse {
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
pub struct UserList {
    pub users: Vec<UserResponse>,
}

impl From<CreateUserRequest> for user::CreateUser {
    fn from(req: CreateUserRequest) -> Self {
        Self {
            name: req.name,
            email: req.email,
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
