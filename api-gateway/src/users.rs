//! `/users`: sign-up, the list (admins), a user (its owner or an admin; `me`
//! for the signed-in one), and store credit top-ups (admins), through
//! user-service's gRPC API.

use axum::{
    Extension,
    extract::State,
    http::{StatusCode, header},
    response::IntoResponse,
};
use contracts::{
    identity::Caller,
    user as pb,
    users::{BadField, BalanceResponse, CreateUserRequest, TopUpRequest, UserList, UserResponse},
};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::{
    AppState,
    auth::Authenticated,
    clients::ClientAddr,
    error::ApiError,
    extract::{IdempotencyKey, Json, Path, Query},
    routing::{Access, Routes},
};

pub(crate) fn routes(routes: Routes) -> Routes {
    routes
        .route(Access::Public, routes!(create))
        .route(Access::Admin, routes!(list))
        .route(Access::User, routes!(me))
        .route(Access::User, routes!(find_one))
        .route(Access::Admin, routes!(top_up))
}

/// Query of `GET /users`. `limit` above the server's maximum is capped;
/// `offset` is at most `contracts::limits::MAX_OFFSET`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct Page {
    /// Users per page; 0 or none means 50, more than 100 means 100.
    #[serde(default)]
    // A u32 is documented as int32 by default, which the maximum exceeds.
    #[param(value_type = u64, maximum = 4_294_967_295_u64)]
    limit: u32,
    /// Users to skip.
    #[serde(default)]
    offset: u64,
}

/// Sign up
///
/// Creates a customer account (never an admin). The answer's `Location`
/// names the new user.
#[utoipa::path(
    post,
    path = "/users",
    operation_id = "createUser",
    tag = "users",
    request_body = CreateUserRequest,
    responses(
        (status = 201, description = "Created.", body = UserResponse,
            headers(("Location" = String, description = "The new user's URL."))),
        (status = 409, description = "An account with this email exists."),
        (status = 429, description = "Too many sign-ups from this address; wait `Retry-After` seconds."),
    ),
)]
async fn create(
    State(state): State<AppState>,
    Extension(client): Extension<ClientAddr>,
    Json(body): Json<CreateUserRequest>,
) -> Result<impl IntoResponse, ApiError> {
    // Each sign-up costs user-service a password hash: limited per address
    // before it is asked (login_limit.rs).
    if let Err(retry_after) = state.login_limit().check_sign_up(client.key()) {
        return Err(ApiError::TooManyRequests {
            detail: "too many sign-ups from this address; wait and try again".into(),
            retry_after,
        });
    }
    let user = state.users().create(pb::CreateUser::from(body)).await?;
    let location = format!("/users/{}", user.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        axum::Json(UserResponse::try_from(user).map_err(from_user_service)?),
    ))
}

/// List users
///
/// Admins only; ordered by sign-up, oldest first.
#[utoipa::path(
    get,
    path = "/users",
    operation_id = "listUsers",
    tag = "users",
    params(Page),
    responses((status = 200, description = "A page of users.", body = UserList)),
)]
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
    Ok(axum::Json(users.try_into().map_err(from_user_service)?))
}

/// The signed-in user
///
/// Whose id a client otherwise only finds inside its token.
#[utoipa::path(
    get,
    path = "/users/me",
    operation_id = "getSignedInUser",
    tag = "users",
    responses(
        (status = 200, description = "The signed-in user.", body = UserResponse),
        (status = 404, description = "The account no longer exists."),
    ),
)]
async fn me(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
) -> Result<axum::Json<UserResponse>, ApiError> {
    let id = caller.user_id.to_string();
    let user = state.users().find_one(&caller, pb::UserById { id }).await?;
    Ok(axum::Json(user.try_into().map_err(from_user_service)?))
}

/// A user
///
/// A customer may read their own; another's is 404, exactly like one that
/// does not exist. An admin may read anyone's.
#[utoipa::path(
    get,
    path = "/users/{id}",
    operation_id = "getUser",
    tag = "users",
    params(("id" = Uuid, Path, description = "The user's id.")),
    responses(
        (status = 200, description = "The user.", body = UserResponse),
        (status = 404, description = "No such user, or not yours."),
    ),
)]
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
    Ok(axum::Json(user.try_into().map_err(from_user_service)?))
}

/// Add store credit
///
/// Admins only. Answers the new balance. With an `Idempotency-Key`, a
/// retried top-up is counted once.
#[utoipa::path(
    post,
    path = "/users/{id}/credit",
    operation_id = "topUpCredit",
    tag = "users",
    params(("id" = Uuid, Path, description = "The user's id."), IdempotencyKey),
    request_body = TopUpRequest,
    responses(
        (status = 200, description = "The balance after the top-up.", body = BalanceResponse),
        (status = 404, description = "No such user."),
        (status = 409, description = "This `Idempotency-Key` was used for a different top-up."),
    ),
)]
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
    Ok(axum::Json(balance.try_into().map_err(from_user_service)?))
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

/// An answer of user-service's that breaks its own contract: a 500, logged
/// once by the middleware, with nothing of the answer in the reply.
fn from_user_service(bad: BadField) -> ApiError {
    ApiError::Internal(format!("user-service answered with {bad}"))
}

/// Rejects a malformed id here, without a round trip to user-service.
pub(crate) fn parse_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw)
        .map_err(|_| ApiError::bad_request(format!("{raw:?} is not a user id: expected a UUID")))
}
