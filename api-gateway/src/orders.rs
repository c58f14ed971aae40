//! `/orders`, `/users/{id}/orders` and `/products`: RabbitMQ request-response
//! to order-service, in the NestJS wire format.

use axum::{
    Router,
    extract::State,
    http::{StatusCode, header},
    response::IntoResponse,
    routing::{get, post},
};
use contracts::{
    orders::{
        CreateOrder, CreateOrderRequest, GetOrder, ListOrders, Order, OrderList, ProductList,
    },
    patterns::{CREATE_ORDER, GET_ORDER, LIST_ORDERS, LIST_PRODUCTS},
};
use serde::{Serialize, de::DeserializeOwned};
use uuid::Uuid;

use crate::{
    AppState,
    error::ApiError,
    extract::{IdempotencyKey, Json, Path},
};

const SERVICE: &str = "order-service";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/orders", post(create))
        .route("/orders/{id}", get(find_one))
        .route("/users/{id}/orders", get(list_for_user))
        .route("/products", get(list_products))
}

/// `POST /orders`. With an `Idempotency-Key`, a retry after a timeout or a
/// dropped connection returns the original order instead of placing a
/// second one; without one, a 504 leaves the outcome unknown.
async fn create(
    State(state): State<AppState>,
    IdempotencyKey(idempotency_key): IdempotencyKey,
    Json(body): Json<CreateOrderRequest>,
) -> Result<impl IntoResponse, ApiError> {
    parse_uuid("user_id", &body.user_id)?;
    let request = CreateOrder {
        user_id: body.user_id,
        items: body.items,
        idempotency_key,
    };
    let order: Order = send(&state, CREATE_ORDER, &request).await?;
    let location = format!("/orders/{}", order.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        axum::Json(order),
    ))
}

async fn find_one(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<axum::Json<Order>, ApiError> {
    let id = parse_uuid("order id", &id)?;
    let order = send(&state, GET_ORDER, &GetOrder { id: id.to_string() }).await?;
    Ok(axum::Json(order))
}

async fn list_for_user(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<axum::Json<OrderList>, ApiError> {
    let user_id = parse_uuid("user id", &id)?;
    let orders = send(
        &state,
        LIST_ORDERS,
        &ListOrders {
            user_id: user_id.to_string(),
        },
    )
    .await?;
    Ok(axum::Json(orders))
}

async fn list_products(State(state): State<AppState>) -> Result<axum::Json<ProductList>, ApiError> {
    let products = send(&state, LIST_PRODUCTS, &serde_json::json!({})).await?;
    Ok(axum::Json(products))
}

async fn send<D: Serialize, R: DeserializeOwned>(
    state: &AppState,
    pattern: &str,
    data: &D,
) -> Result<R, ApiError> {
    state
        .orders()
        .send(pattern, data)
        .await
        .map_err(|e| ApiError::from_rpc(SERVICE, e))
}

fn parse_uuid(what: &str, raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw)
        .map_err(|_| ApiError::bad_request(format!("{raw:?} is not a {what}: expected a UUID")))
}
