//! Orders and products: the JSON bodies of the gateway's `/orders` and
//! `/products`, which are also the `data` and `response` of order-service's
//! message patterns ([`crate::patterns`]).

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One line of an order request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OrderLine {
    // Without control characters, and not blank: order-service trims a SKU
    // before it looks it up.
    #[cfg_attr(
        feature = "openapi",
        schema(
            pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$",
            example = "CAP-NAVY"
        )
    )]
    pub sku: String,
    /// Signed on purpose: a negative quantity must reach validation and get
    /// a clear answer, not a JSON type error.
    /// `2.0` counts as `2`, as in JSON Schema.
    #[serde(deserialize_with = "crate::integer::deserialize")]
    #[cfg_attr(feature = "openapi", schema(example = 1))]
    pub quantity: i64,
}

/// Body of `POST /orders`. The order is the caller's: `user_id` may be
/// left out, and when given must be the caller's (an admin's may name any).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateOrderRequest {
    /// Whom the order is for: the signed-in user when left out; only an
    /// admin may name another.
    // A string, unlike the `Uuid`s past the gateway: the gateway answers a
    // malformed id in a body with a 400 naming it, as it does one in a
    // path, where a `Uuid` would make it the JSON extractor's 422.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(format = Uuid))]
    pub user_id: Option<String>,
    /// What to order, one line per product.
    pub items: Vec<OrderLine>,
}

/// `data` of [`crate::patterns::CREATE_ORDER`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateOrder {
    pub user_id: Uuid,
    pub items: Vec<OrderLine>,
    /// The client's `Idempotency-Key` header, if it sent one: a retry with
    /// the same key returns the original order instead of placing another.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
}

/// `data` of [`crate::patterns::GET_ORDER`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetOrder {
    pub id: Uuid,
}

/// `data` of [`crate::patterns::LIST_ORDERS`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListOrders {
    pub user_id: Uuid,
}

/// `data` of [`crate::patterns::LIST_PRODUCTS`]: nothing. Sent as `{}`;
/// whatever a sender puts there is ignored, as it always was (its serde
/// impls: `requests::without_data!`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ListProducts;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OrderItem {
    pub sku: String,
    pub quantity: i64,
    pub unit_price_cents: i64,
}

/// An order. Money is integer cents: no floating-point rounding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Order {
    pub id: Uuid,
    pub user_id: Uuid,
    pub status: OrderStatus,
    pub total_cents: i64,
    pub items: Vec<OrderItem>,
    #[serde(with = "crate::timestamp")]
    pub created_at: DateTime<Utc>,
    /// Why a `rejected` order was rejected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Where an order stands: `pending` while the saga runs, then `confirmed` or
/// `rejected`, for good. The names are the wire's and the `orders.status`
/// column's (its CHECK constraint lists the same three).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "sqlx",
    derive(sqlx::Type),
    sqlx(type_name = "text", rename_all = "lowercase")
)]
pub enum OrderStatus {
    Pending,
    Confirmed,
    Rejected,
}

impl OrderStatus {
    /// The wire name: `"pending"`, `"confirmed"`, `"rejected"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Confirmed => "confirmed",
            Self::Rejected => "rejected",
        }
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OrderList {
    pub orders: Vec<Order>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Product {
    pub sku: String,
    pub name: String,
    pub price_cents: i64,
    pub stock: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProductList {
    pub products: Vec<Product>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The JSON as it was when these fields were strings, byte for byte.
    const ORDER: &str = r#"{"id":"019ad083-8b9c-7a31-9d2e-3f4a5b6c7d8e","user_id":"0191e5f0-7a1e-7cc3-8f0e-8d1f4a2b3c4d","status":"rejected","total_cents":4999,"items":[{"sku":"HOODIE-GREY-L","quantity":1,"unit_price_cents":4999}],"created_at":"2026-11-29T15:21:35.876Z","reason":"insufficient stock"}"#;

    #[test]
    fn an_order_reads_and_writes_the_same_json() {
        let order: Order = serde_json::from_str(ORDER).unwrap();
        assert_eq!(order.status, OrderStatus::Rejected);
        assert_eq!(serde_json::to_string(&order).unwrap(), ORDER);
        let list = format!(r#"{{"orders":[{ORDER}]}}"#);
        let read: OrderList = serde_json::from_str(&list).unwrap();
        assert_eq!(serde_json::to_string(&read).unwrap(), list);
    }

    #[test]
    fn a_database_timestamp_is_written_as_before() {
        // Postgres keeps microseconds; the wire had milliseconds and `Z`.
        let mut order: Order = serde_json::from_str(ORDER).unwrap();
        order.created_at = "2026-11-29T15:21:35.876543Z".parse().unwrap();
        order.reason = None;
        order.status = OrderStatus::Confirmed;
        let json = serde_json::to_value(&order).unwrap();
        assert_eq!(json["created_at"], "2026-11-29T15:21:35.876Z");
        assert_eq!(json["status"], "confirmed");
        assert!(json.get("reason").is_none());
    }

    #[test]
    fn statuses_have_their_wire_names_and_no_others() {
        for status in [
            OrderStatus::Pending,
            OrderStatus::Confirmed,
            OrderStatus::Rejected,
        ] {
            let json = serde_json::to_string(&status).unwrap();
            assert_eq!(json, format!("\"{status}\""));
            assert_eq!(serde_json::from_str::<OrderStatus>(&json).unwrap(), status);
        }
        assert!(serde_json::from_str::<OrderStatus>(r#""Pending""#).is_err());
    }

    #[test]
    fn the_requests_between_services_read_and_write_the_same_json() {
        let cases = [
            r#"{"user_id":"0191e5f0-7a1e-7cc3-8f0e-8d1f4a2b3c4d","items":[{"sku":"MUG","quantity":2}],"idempotency_key":"k"}"#,
            r#"{"user_id":"0191e5f0-7a1e-7cc3-8f0e-8d1f4a2b3c4d","items":[]}"#,
        ];
        for json in cases {
            let read: CreateOrder = serde_json::from_str(json).unwrap();
            assert_eq!(serde_json::to_string(&read).unwrap(), json);
        }
        let get = r#"{"id":"019ad083-8b9c-7a31-9d2e-3f4a5b6c7d8e"}"#;
        let read: GetOrder = serde_json::from_str(get).unwrap();
        assert_eq!(serde_json::to_string(&read).unwrap(), get);
        let list = r#"{"user_id":"0191e5f0-7a1e-7cc3-8f0e-8d1f4a2b3c4d"}"#;
        let read: ListOrders = serde_json::from_str(list).unwrap();
        assert_eq!(serde_json::to_string(&read).unwrap(), list);
        // What was an `Invalid` answer after decoding is now a decoding error.
        assert!(serde_json::from_str::<GetOrder>(r#"{"id":"nope"}"#).is_err());
    }
}
