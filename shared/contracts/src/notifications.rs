//! Notifications: what notification-service recorded (the emails it would
//! send), and how to ask for them.

use serde::{Deserialize, Serialize};

/// `data` of [`crate::patterns::GET_NOTIFICATIONS`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetNotifications {
    pub user_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Notification {
    #[cfg_attr(feature = "openapi", schema(format = Uuid))]
    pub id: String,
    #[cfg_attr(feature = "openapi", schema(format = Uuid))]
    pub user_id: String,
    /// The event that caused it: `user_created`, `order_confirmed`, …
    pub event: String,
    #[cfg_attr(feature = "openapi", schema(format = Uuid))]
    pub event_id: String,
    pub recipient: String,
    pub subject: String,
    pub body: String,
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub created_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NotificationList {
    pub notifications: Vec<Notification>,
}
