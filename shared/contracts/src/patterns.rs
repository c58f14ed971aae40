//! Message pattern names: the `pattern` of a request or event (a RabbitMQ
//! message's envelope, a NATS subject), the
//! equivalent of a NestJS `@MessagePattern('create_order')`. Both sides use
//! these constants, so a renamed pattern breaks the build, not production.

/// The queue order-service consumes (NestJS `queue` option).
pub const ORDERS_QUEUE: &str = "orders_queue";

/// [`crate::orders::CreateOrder`] → [`crate::orders::Order`].
pub const CREATE_ORDER: &str = "create_order";
/// [`crate::orders::GetOrder`] → [`crate::orders::Order`].
pub const GET_ORDER: &str = "get_order";
/// [`crate::orders::ListOrders`] → [`crate::orders::OrderList`].
pub const LIST_ORDERS: &str = "list_orders";
/// `{}` → [`crate::orders::ProductList`].
pub const LIST_PRODUCTS: &str = "list_products";

/// Every request pattern order-service serves (but the health check): what
/// the gateway may send it, and it may serve, on NATS
/// (deploy/nats/nats.conf).
pub const ORDER_SERVICE_PATTERNS: [&str; 4] = [CREATE_ORDER, GET_ORDER, LIST_ORDERS, LIST_PRODUCTS];

/// The queue of notification-service's requests (`get_notifications`).
pub const NOTIFICATIONS_QUEUE: &str = "notifications_queue";

/// notification-service's own queue for events, bound to the events
/// exchange. Apart from the request queue so that the two can be told apart
/// and permitted apart: the gateway may send requests, only the exchange
/// delivers events (docs/security.md).
pub const NOTIFICATION_EVENTS_QUEUE: &str = "notification-service.events";

/// [`crate::notifications::GetNotifications`] →
/// [`crate::notifications::NotificationList`].
pub const GET_NOTIFICATIONS: &str = "get_notifications";

/// Every request pattern notification-service serves (but the health
/// check), as [`ORDER_SERVICE_PATTERNS`].
pub const NOTIFICATION_SERVICE_PATTERNS: [&str; 1] = [GET_NOTIFICATIONS];

/// `{}` → `{"status": "up", "checks": {..}}`, or an `UNAVAILABLE` error
/// naming the failing dependency. Every consuming service answers it on its
/// queue; the gateway's `/health` asks each one.
pub const HEALTH_CHECK: &str = "health_check";
