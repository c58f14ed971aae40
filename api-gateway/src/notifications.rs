//! `/users/{id}/notifications`: request-response to notification-service
//! (a typed call, `contracts::requests`), over the transport configured.
//! A customer reads their own; another's are 404.

use axum::extract::State;
use contracts::notifications::{GetNotifications, NotificationList};
use utoipa_axum::routes;

use crate::{
    AppState,
    auth::Authenticated,
    error::ApiError,
    extract::Path,
    routing::{Access, Routes},
    users::own_user,
};

pub(crate) fn routes(routes: Routes) -> Routes {
    routes.route(Access::User, routes!(list_for_user))
}

/// A user's notifications
///
/// The emails notification-service sent them (sign-up, each order's
/// outcome). A customer may list their own; another's are 404.
#[utoipa::path(
    get,
    path = "/users/{id}/notifications",
    operation_id = "listUserNotifications",
    tag = "notifications",
    params(("id" = Uuid, Path, description = "The user's id.")),
    responses(
        (status = 200, description = "The user's notifications.", body = NotificationList),
        (status = 404, description = "Not your notifications."),
    ),
)]
async fn list_for_user(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> Result<axum::Json<NotificationList>, ApiError> {
    let user_id = own_user(&caller, &id)?;
    let request = GetNotifications { user_id };
    let list = state
        .notifications()
        .on_behalf_of(caller)
        .call(&request)
        .await
        .map_err(|e| ApiError::from_rpc("notification-service", e))?;
    Ok(axum::Json(list))
}
