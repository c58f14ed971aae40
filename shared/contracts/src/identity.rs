//! Who a request is made for: the subject and role the gateway verified in
//! the caller's access token, carried to the services beside the message —
//! as gRPC metadata to user-service, as AMQP headers to order-service and
//! notification-service — so each service checks access again (defence in
//! depth) while the NestJS envelope stays exactly as it is.
//!
//! The services trust these values because only the gateway and the other
//! services can reach them, each authenticated as itself: its own broker
//! account, its own client certificate (docs/security.md, "service-to-service
//! trust"). The services' names below are those identities.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The `iss` of the tokens user-service signs by default, and what the
/// gateway expects by default: one constant, so the two cannot drift.
pub const TOKEN_ISSUER: &str = "rust-shop";
/// The `aud` of the tokens user-service signs by default, likewise.
pub const TOKEN_AUDIENCE: &str = "rust-shop-api";

/// The services by name: each one's broker account and the DNS name its TLS
/// certificate carries.
pub const API_GATEWAY: &str = "api-gateway";
pub const USER_SERVICE: &str = "user-service";
pub const ORDER_SERVICE: &str = "order-service";
pub const NOTIFICATION_SERVICE: &str = "notification-service";
pub const SERVICES: [&str; 4] = [
    API_GATEWAY,
    USER_SERVICE,
    ORDER_SERVICE,
    NOTIFICATION_SERVICE,
];

/// The metadata key / AMQP header carrying the caller's user id.
pub const CALLER_ID_HEADER: &str = "x-caller-id";
/// The metadata key / AMQP header carrying the caller's role.
pub const CALLER_ROLE_HEADER: &str = "x-caller-role";

/// What a user may do: their own things (`customer`), or everyone's (`admin`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "sqlx",
    derive(sqlx::Type),
    sqlx(type_name = "text", rename_all = "lowercase")
)]
pub enum Role {
    Customer,
    Admin,
}

impl Role {
    /// The wire name, as in tokens and headers: `"customer"`, `"admin"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Customer => "customer",
            Self::Admin => "admin",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "customer" => Some(Self::Customer),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }
}

impl TryFrom<String> for Role {
    type Error = String;

    /// For database rows and other stored names.
    fn try_from(name: String) -> Result<Self, Self::Error> {
        Self::parse(&name).ok_or_else(|| format!("{name:?} is not a role"))
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A verified caller: a user id and a role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Caller {
    pub user_id: Uuid,
    pub role: Role,
}

impl Caller {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// May this caller read or act on `user`'s things? Their own, or
    /// anyone's for an admin.
    pub fn may_act_for(&self, user: Uuid) -> bool {
        self.is_admin() || self.user_id == user
    }

    /// From the two header values, both required and well-formed; anything
    /// else is no caller at all (never a default role).
    pub fn from_headers(id: Option<&str>, role: Option<&str>) -> Option<Self> {
        Some(Self {
            user_id: Uuid::parse_str(id?).ok()?,
            role: Role::parse(role?)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_customer_acts_for_itself_and_an_admin_for_anyone() {
        let (me, other) = (Uuid::now_v7(), Uuid::now_v7());
        let customer = Caller {
            user_id: me,
            role: Role::Customer,
        };
        let admin = Caller {
            role: Role::Admin,
            ..customer
        };
        assert!(customer.may_act_for(me));
        assert!(!customer.may_act_for(other));
        assert!(admin.may_act_for(other));
    }

    #[test]
    fn headers_need_both_values_well_formed() {
        let id = Uuid::now_v7().to_string();
        assert!(Caller::from_headers(Some(&id), Some("admin")).is_some());
        assert_eq!(Caller::from_headers(Some(&id), None), None);
        assert_eq!(Caller::from_headers(Some(&id), Some("root")), None);
        assert_eq!(Caller::from_headers(Some("42"), Some("customer")), None);
    }
}
