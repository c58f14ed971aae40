//! `/users`: sign-up, the list (admins), a user (its owner or an admin; `me`
//! for the signed-in one), and store credit top-ups (admins), through
//! user-service's gRPC API.

use axum::{
    extract::State,
    http::{Method, StatusCode, header},
    response::IntoResponse,
};
use contracts::{
    identity::Caller,
    user as pb,
    users::{BalanceResponse, CreateUserRequest, TopUpRequest, UserList, UserResponse},
};
use serde::Deserialize;
use uuid::Uuid;

use crate::{
    AppState,
    auth::Authenticated,
    error::ApiError,
    extract::{IdempotencyKey, Json, Path, Query},
    routes::{Access, Routes},
};

pub fn routes(routes: Routes) -> Routes {
    routes
        .route(Method::POST, "/users", Access::Public, create)
        .route(Method::GET, "/users", Access::Admin, list)
        .route(Method::GET, "/users/me", Access::User, me)
        .route(Method::GET, "/users/{id}", Access::User, find_one)
        .route(Method::POST, "/users/{id}/credit", Access::Admin, top_up)
}

/// Query of `GET /users`. `limit` above the server's maximum is capped;
/// `offset` is at most user-service's `MAX_OFFSET`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Page {
    #[serde(default)]
    limit: u32,
    #[serde(default)]
    offset: u64,
}

/// `POST /users`: public sign-up, always as a customer.
async fn create(
    State(state): State<AppState>,
    Json(body): Json<CreateUserRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let user = state.users().create(pb::CreateUser::from(body)).await?;
    let location = format!("/users/{}", user.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        axum::Json(UserResponse::from(user)),
    ))
}

async fn list(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Query(page): Query<Page>,
) -> Result<axum::Json<UserList>, ApiError> {
    let users = state
        .users()
        .find_all(
            &caller,
            pb::ListUsers {
                limit: page.limit,
                offset: page.offset,
            },
        )
        .await?;
    Ok(axum::Json(users.into()))
}

/// `GET /users/me`: the signed-in user, whose id a client otherwise only
/// finds inside its token.
async fn me(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
) -> Result<axum::Json<UserResponse>, ApiError> {
    let id = caller.user_id.to_string();
    let user = state.users().find_one(&caller, pb::UserById { id }).await?;
    Ok(axum::Json(user.into()))
}

/// A customer's own user; another's is 404, like one that does not exist.
async fn find_one(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> Result<axum::Json<UserResponse>, ApiError> {
    let id = own_user(&caller, &id)?;
    let user = state
        .users()
        .find_one(&caller, pb::UserById { id: id.to_string() })
        .await?;
    Ok(axum::Json(user.into()))
}

/// `POST /users/{id}/credit`: an admin adds store credit; returns the
/// balance. With an `Idempotency-Key`, a retried top-up is counted once.
async fn top_up(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
    IdempotencyKey(idempotency_key): IdempotencyKey,
    Json(body): Json<TopUpRequest>,
) -> Result<axum::Json<BalanceResponse>, ApiError> {
    let id = parse_id(&id)?;
    let balance = state
        .users()
        .top_up(
            &caller,
            pb::CreditChange {
                user_id: id.to_string(),
                amount_cents: body.amount_cents,
                idempotency_key: idempotency_key.unwrap_or_default(),
            },
        )
        .await?;
    Ok(axum::Json(balance.into()))
}

/// The user `raw` names, if `caller` may act for them (themselves, or anyone
/// for an admin). Another customer's is 404, exactly like one that does not
/// exist: a customer learns nothing of who else has an account.
pub(crate) fn own_user(caller: &Caller, raw: &str) -> Result<Uuid, ApiError> {
    let id = parse_id(raw)?;
    if caller.may_act_for(id) {
        Ok(id)
    } else {
        Err(ApiError::NotFound(format!("no user with id {id}")))
    }
}

/// Rejects a malformed id here, without a round trip to user-service.
pub(crate) fn parse_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw)
        .map_err(|_| ApiError::bad_request(format!("{raw:?} is not a user id: expected a UUID")))
}
