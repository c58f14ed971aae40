//! Orders and products: the JSON bodies of the gateway's `/orders` and
//! `/products`, which are also the `data` and `response` of order-service's
//! message patterns ([`crate::patterns`]).

use serde::{Deserialize, Serialize};

/// One line of an order request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OrderLine {
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 64,
            pattern = r"^[^\x00-\x1f\x7f-\x9f]*$",
            example = "CAP-NAVY"
        )
    )]
    pub sku: String,
    /// Signed on purpose: a negative quantity must reach validation and get
    /// a clear answer, not a JSON type error. 1 to 1,000 per product.
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 1000, example = 1))]
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
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(format = Uuid))]
    pub user_id: Option<String>,
    /// 1 to 50 lines.
    #[cfg_attr(feature = "openapi", schema(min_items = 1, max_items = 50))]
    pub items: Vec<OrderLine>,
}

/// `data` of [`crate::patterns::CREATE_ORDER`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateOrder {
    pub user_id: String,
    pub items: Vec<OrderLine>,
    /// The client's `Idempotency-Key` header, if it sent one: a retry with
    /// the same key returns the original order instead of placing another.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
}

/// `data` of [`crate::patterns::GET_ORDER`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetOrder {
    pub id: String,
}

/// `data` of [`crate::patterns::LIST_ORDERS`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListOrders {
    pub user_id: String,
}

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
    #[cfg_attr(feature = "openapi", schema(format = Uuid))]
    pub id: String,
    #[cfg_attr(feature = "openapi", schema(format = Uuid))]
    pub user_id: String,
    /// `pending` while the saga runs, then `confirmed` or `rejected`.
    #[cfg_attr(
        feature = "openapi",
        schema(pattern = "^(pending|confirmed|rejected)$")
    )]
    pub status: String,
    pub total_cents: i64,
    pub items: Vec<OrderItem>,
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub created_at: String,
    /// Why a `rejected` order was rejected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
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
