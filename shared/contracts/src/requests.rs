//! Typed message contracts: a request names its pattern and its reply in
//! one place ([`Request`]), so a handler registered for it
//! (`messaging::Router::request`) and a client calling it
//! (`messaging::Client::call`) cannot disagree on either. The pattern
//! strings stay those of [`crate::patterns`], which the deploy files
//! (deploy/nats/nats.conf, deploy/redis/users.acl) are checked against; the
//! wire is unchanged — a NestJS client still sends `{"pattern":
//! "create_order", "data": {…}}`.
//!
//! Adding a request: its `data` type with a `Request` impl here, and its
//! handler in the service's router (docs/messaging.md, "Adding a pattern").

use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value;

use crate::{
    notifications::{GetNotifications, NotificationList},
    orders::{CreateOrder, GetOrder, ListOrders, ListProducts, Order, OrderList, ProductList},
    patterns,
};

/// A request without data (`ListProducts`, `HealthCheck`): sent as `{}`,
/// and whatever a sender puts there is ignored, as it always was.
macro_rules! without_data {
    ($($request:ty),*) => {$(
        impl serde::Serialize for $request {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeMap;
                serializer.serialize_map(Some(0))?.end()
            }
        }

        impl<'de> serde::Deserialize<'de> for $request {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                serde::de::IgnoredAny::deserialize(deserializer).map(|_| Self)
            }
        }
    )*};
}

without_data!(ListProducts, HealthCheck);

/// The `data` of a request some service answers: its pattern, and what the
/// reply holds.
pub trait Request: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The envelope's `pattern` (a NestJS `@MessagePattern`).
    const PATTERN: &'static str;
    /// The reply's `response`.
    type Reply: Serialize + DeserializeOwned + Send + 'static;
}

impl Request for CreateOrder {
    const PATTERN: &'static str = patterns::CREATE_ORDER;
    type Reply = Order;
}

impl Request for GetOrder {
    const PATTERN: &'static str = patterns::GET_ORDER;
    type Reply = Order;
}

impl Request for ListOrders {
    const PATTERN: &'static str = patterns::LIST_ORDERS;
    type Reply = OrderList;
}

impl Request for ListProducts {
    const PATTERN: &'static str = patterns::LIST_PRODUCTS;
    type Reply = ProductList;
}

impl Request for GetNotifications {
    const PATTERN: &'static str = patterns::GET_NOTIFICATIONS;
    type Reply = NotificationList;
}

/// [`patterns::HEALTH_CHECK`]: `{}` in, the service's checks out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HealthCheck;

impl Request for HealthCheck {
    const PATTERN: &'static str = patterns::HEALTH_CHECK;
    type Reply = Value;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_without_data_are_an_empty_object_and_take_anything() {
        assert_eq!(
            serde_json::to_value(ListProducts).unwrap(),
            serde_json::json!({})
        );
        assert_eq!(
            serde_json::to_value(HealthCheck).unwrap(),
            serde_json::json!({})
        );
        for sent in [serde_json::json!({}), Value::Null, serde_json::json!([1])] {
            assert_eq!(
                serde_json::from_value::<ListProducts>(sent).unwrap(),
                ListProducts
            );
        }
    }

    #[test]
    fn each_pattern_is_the_one_the_deploy_files_know() {
        assert_eq!(
            [
                CreateOrder::PATTERN,
                GetOrder::PATTERN,
                ListOrders::PATTERN,
                ListProducts::PATTERN
            ],
            patterns::ORDER_SERVICE_PATTERNS
        );
        assert_eq!(
            [GetNotifications::PATTERN],
            patterns::NOTIFICATION_SERVICE_PATTERNS
        );
    }
}
