//! `/users/{id}/notifications`: RabbitMQ request-response to
//! notification-service, whose queue also carries the events it consumes.
//! A customer reads their own; another's are 404.

use axum::{extract::State, http::Method};
use contracts::{
    notifications::{GetNotifications, NotificationList},
    patterns::GET_NOTIFICATIONS,
};

use crate::{
    AppState,
    auth::Authenticated,
    error::ApiError,
    extract::Path,
    routes::{Access, Routes},
    users::own_user,
};

pub fn routes(routes: Routes) -> Routes {
    routes.route(
        Method::GET,
        "/users/{id}/notifications",
        Access::User,
        list_for_user,
    )
}

async fn list_for_user(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> Result<axum::Json<NotificationList>, ApiError> {
    let user_id = own_user(&caller, &id)?;
    let request = GetNotifications {
        user_id: user_id.to_string(),
    };
    let list = state
        .notifications()
        .on_behalf_of(caller)
        .send(GET_NOTIFICATIONS, &request)
        .await
        .map_err(|e| ApiError::from_rpc("notification-service", e))?;
    Ok(axum::Json(list))
}
