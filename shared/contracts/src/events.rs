//! Domain events: what happened, published through each service's
//! transactional outbox to the `events` topic exchange (routing key = event
//! name) in the NestJS event envelope `{"pattern": name, "data": event}`.
//!
//! Every event carries an id (consumers de-duplicate by it), when it
//! happened, and a schema version (consumers can tell old shapes from new).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use uuid::Uuid;

/// The topic exchange every event is published to.
pub const EVENTS_EXCHANGE: &str = "events";

/// The broker accounts that alone publish each service's events, as the
/// broker's definitions name them (deploy/rabbitmq/definitions.json).
/// Consumers trust an event only with its owner's AMQP `user_id`.
pub const USER_EVENTS_PUBLISHER: &str = crate::identity::USER_SERVICE;
pub const ORDER_EVENTS_PUBLISHER: &str = crate::identity::ORDER_SERVICE;

pub const USER_CREATED: &str = "user_created";
pub const ORDER_CONFIRMED: &str = "order_confirmed";
pub const ORDER_REJECTED: &str = "order_rejected";

/// An event's body, naming itself: the routing key and envelope `pattern`
/// it travels under. A producer records one with
/// `messaging::outbox::Transaction::record`, a consumer routes it with
/// `messaging::Router::event`; neither writes the name.
pub trait EventBody: Serialize + DeserializeOwned + Send + Sync + 'static {
    const NAME: &'static str;
}

impl EventBody for UserCreated {
    const NAME: &'static str = USER_CREATED;
}

impl EventBody for OrderConfirmed {
    const NAME: &'static str = ORDER_CONFIRMED;
}

impl EventBody for OrderRejected {
    const NAME: &'static str = ORDER_REJECTED;
}

/// The schema version of the event shapes below.
pub const SCHEMA_VERSION: u32 = 1;

/// What every event carries besides its own fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event<T> {
    pub event_id: Uuid,
    /// RFC 3339, UTC, to the millisecond.
    #[serde(with = "crate::timestamp")]
    pub occurred_at: DateTime<Utc>,
    pub schema_version: u32,
    #[serde(flatten)]
    pub body: T,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserCreated {
    pub user_id: Uuid,
    pub name: String,
    pub email: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderConfirmed {
    pub order_id: Uuid,
    pub user_id: Uuid,
    pub total_cents: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderRejected {
    pub order_id: Uuid,
    pub user_id: Uuid,
    pub total_cents: i64,
    pub reason: String,
}

#[cfg(test)]
mod tests {
    use serde::de::DeserializeOwned;

    use super::*;

    fn same_json<T: Serialize + DeserializeOwned>(json: &str) {
        let read: Event<T> = serde_json::from_str(json).unwrap();
        assert_eq!(serde_json::to_string(&read).unwrap(), json);
    }

    #[test]
    fn events_read_and_write_the_same_json() {
        // The JSON as it was when the ids and times were strings, byte for
        // byte.
        same_json::<UserCreated>(
            r#"{"event_id":"019ad083-8b9c-7a31-9d2e-3f4a5b6c7d8e","occurred_at":"2026-11-29T15:21:35.876Z","schema_version":1,"user_id":"0191e5f0-7a1e-7cc3-8f0e-8d1f4a2b3c4d","name":"Ada","email":"ada@example.com"}"#,
        );
        same_json::<OrderConfirmed>(
            r#"{"event_id":"019ad083-8b9c-7a31-9d2e-3f4a5b6c7d8e","occurred_at":"2026-11-29T15:21:35.876Z","schema_version":1,"order_id":"019ad083-8b9c-7a31-9d2e-000000000001","user_id":"0191e5f0-7a1e-7cc3-8f0e-8d1f4a2b3c4d","total_cents":4999}"#,
        );
        same_json::<OrderRejected>(
            r#"{"event_id":"019ad083-8b9c-7a31-9d2e-3f4a5b6c7d8e","occurred_at":"2026-11-29T15:21:35.876Z","schema_version":1,"order_id":"019ad083-8b9c-7a31-9d2e-000000000001","user_id":"0191e5f0-7a1e-7cc3-8f0e-8d1f4a2b3c4d","total_cents":4999,"reason":"insufficient stock"}"#,
        );
    }
}
