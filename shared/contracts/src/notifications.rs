//! Notifications: what notification-service recorded (the emails it would
//! send), and how to ask for them.

use serde::{Deserialize, Serialize};

/// `data` of [`crate::patterns::GET_NOTIFICATIONS`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetNotifications {
    pub user_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    pub id: String,
    pub user_id: String,
    /// The event that caused it: `user_created`, `order_confirmed`, …
    pub event: String,
    pub event_id: String,
    pub recipient: String,
    pub subject: String,
    pub body: String,
    pub created_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationList {
    pub notifications: Vec<Notification>,
}
