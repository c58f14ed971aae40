//! `/users/{id}/notifications`: RabbitMQ request-response to
//! notification-service, whose queue also carries the events it consumes.

use axum::{Router, extract::State, routing::get};
use contracts::{
    notifications::{GetNotifications, NotificationList},
    patterns::GET_NOTIFICATIONS,
};
use uuid::Uuid;

use crate::{AppState, error::ApiError, extract::Path};

pub fn router() -> Router<AppState> {
    Router::new().route("/users/{id}/notifications", get(list_for_user))
}

async fn list_for_user(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<axum::Json<NotificationList>, ApiError> {
    let user_id = Uuid::parse_str(&id)
        .map_err(|_| ApiError::bad_request(format!("{id:?} is not a user id: expected a UUID")))?;
    let request = GetNotifications {
        user_id: user_id.to_string(),
    };
    let list = state
        .notifications()
        .send(GET_NOTIFICATIONS, &request)
        .await
        .map_err(|e| ApiError::from_rpc("notification-service", e))?;
    Ok(axum::Json(list))
}
