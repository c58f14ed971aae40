//! `/users`: create, list and fetch users through user-service's gRPC API.

use axum::{
    Router,
    extract::State,
    http::{StatusCode, header},
    response::IntoResponse,
    routing::{get, post},
};
use contracts::{
    user as pb,
    users::{BalanceResponse, CreateUserRequest, TopUpRequest, UserList, UserResponse},
};
use serde::Deserialize;
use uuid::Uuid;

use crate::{
    AppState,
    error::ApiError,
    extract::{IdempotencyKey, Json, Path, Query},
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/users", get(list).post(create))
        .route("/users/{id}", get(find_one))
        .route("/users/{id}/credit", post(top_up))
}

/// Query of `GET /users`. `limit` above the server's maximum is capped.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Page {
    #[serde(default)]
    limit: u32,
    #[serde(default)]
    offset: u64,
}

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
    Query(page): Query<Page>,
) -> Result<axum::Json<UserList>, ApiError> {
    let users = state
        .users()
        .find_all(pb::ListUsers {
            limit: page.limit,
            offset: page.offset,
        })
        .await?;
    Ok(axum::Json(users.into()))
}

async fn find_one(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<axum::Json<UserResponse>, ApiError> {
    let id = parse_id(&id)?;
    let user = state
        .users()
        .find_one(pb::UserById { id: id.to_string() })
        .await?;
    Ok(axum::Json(user.into()))
}

/// `POST /users/{id}/credit`: adds store credit and returns the balance.
/// With an `Idempotency-Key`, a retried top-up is counted once.
async fn top_up(
    State(state): State<AppState>,
    Path(id): Path<String>,
    IdempotencyKey(idempotency_key): IdempotencyKey,
    Json(body): Json<TopUpRequest>,
) -> Result<axum::Json<BalanceResponse>, ApiError> {
    let id = parse_id(&id)?;
    let balance = state
        .users()
        .top_up(pb::CreditChange {
            user_id: id.to_string(),
            amount_cents: body.amount_cents,
            idempotency_key: idempotency_key.unwrap_or_default(),
        })
        .await?;
    Ok(axum::Json(balance.into()))
}

/// Rejects a malformed id here, without a round trip to user-service.
fn parse_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw)
        .map_err(|_| ApiError::bad_request(format!("{raw:?} is not a user id: expected a UUID")))
}
