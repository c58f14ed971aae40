//! Notifications: what notification-service recorded (the emails it would
//! send), and how to ask for them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// `data` of [`crate::patterns::GET_NOTIFICATIONS`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetNotifications {
    pub user_id: Uuid,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Notification {
    pub id: Uuid,
    pub user_id: Uuid,
    /// The event that caused it: `user_created`, `order_confirmed`, …
    pub event: String,
    pub event_id: Uuid,
    pub recipient: String,
    pub subject: String,
    pub body: String,
    #[serde(with = "crate::timestamp")]
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NotificationList {
    pub notifications: Vec<Notification>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notifications_read_and_write_the_same_json() {
        // The JSON as it was when these fields were strings, byte for byte.
        let list = r#"{"notifications":[{"id":"019ad083-8b9c-7a31-9d2e-3f4a5b6c7d8e","user_id":"0191e5f0-7a1e-7cc3-8f0e-8d1f4a2b3c4d","event":"order_confirmed","event_id":"019ad083-8b9c-7a31-9d2e-000000000001","recipient":"ada@example.com","subject":"Order confirmed","body":"Your order is confirmed.","created_at":"2026-11-29T15:21:35.876Z"}]}"#;
        let read: NotificationList = serde_json::from_str(list).unwrap();
        assert_eq!(serde_json::to_string(&read).unwrap(), list);

        let get = r#"{"user_id":"0191e5f0-7a1e-7cc3-8f0e-8d1f4a2b3c4d"}"#;
        let read: GetNotifications = serde_json::from_str(get).unwrap();
        assert_eq!(serde_json::to_string(&read).unwrap(), get);
    }
}
