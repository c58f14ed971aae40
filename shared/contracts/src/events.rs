//! Domain events: what happened, published through each service's
//! transactional outbox to the `events` topic exchange (routing key = event
//! name) in the NestJS event envelope `{"pattern": name, "data": event}`.
//!
//! Every event carries an id (consumers de-duplicate by it), when it
//! happened, and a schema version (consumers can tell old shapes from new).

use serde::{Deserialize, Serialize};

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

/// The schema version of the event shapes below.
pub const SCHEMA_VERSION: u32 = 1;

/// What every event carries besides its own fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event<T> {
    pub event_id: String,
    /// RFC 3339, UTC.
    pub occurred_at: String,
    pub schema_version: u32,
    #[serde(flatten)]
    pub body: T,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserCreated {
    pub user_id: String,
    pub name: String,
    pub email: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderConfirmed {
    pub order_id: String,
    pub user_id: String,
    pub total_cents: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderRejected {
    pub order_id: String,
    pub user_id: String,
    pub total_cents: i64,
    pub reason: String,
}
