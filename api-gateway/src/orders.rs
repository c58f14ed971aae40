//! `/orders`, `/users/{id}/orders` and `/products`: request-response to
//! order-service, in the NestJS wire format, over the transport configured
//! (`ORDERS_TRANSPORT`); each a typed call (`contracts::requests`).

use axum::{
    extract::State,
    http::{StatusCode, header},
    response::IntoResponse,
};
use contracts::{
    identity::Caller,
    orders::{
        CreateOrder, CreateOrderRequest, GetOrder, ListOrders, ListProducts, Order, OrderList,
        ProductList,
    },
    requests::Request,
};
use utoipa_axum::routes;
use uuid::Uuid;

use crate::{
    AppState,
    auth::Authenticated,
    error::ApiError,
    extract::{IdempotencyKey, Json, Path},
    routing::{Access, Routes},
    users::own_user,
};

const SERVICE: &str = "order-service";

pub(crate) fn routes(routes: Routes) -> Routes {
    routes
        .route(Access::User, routes!(create))
        .route(Access::User, routes!(find_one))
        .route(Access::User, routes!(list_for_user))
        .route(Access::Public, routes!(list_products))
}

/// Place an order
///
/// Reserves the stock and charges the store credit, and answers the
/// `confirmed` order; a rejected one (not enough stock or credit) is a 409
/// naming the order and its `reason`. An unknown SKU is a 400. With an `Idempotency-Key`, a retry after a timeout or a
/// dropped connection returns the original order instead of placing a
/// second one; without one, a 504 leaves the outcome unknown.
///
/// The order is placed for the caller; a body naming another `user_id` is
/// 403 (an admin may place one for anyone).
#[utoipa::path(
    post,
    path = "/orders",
    operation_id = "createOrder",
    tag = "orders",
    params(IdempotencyKey),
    request_body = CreateOrderRequest,
    responses(
        (status = 201, description = "The order, `confirmed`.", body = Order,
            headers(("Location" = String, description = "The order's URL."))),
        (status = 403, description = "`user_id` names someone else."),
        (status = 404, description = "The user does not exist."),
        (status = 409, description = "The order was rejected (members `order_id`, \
            `order_status`, `reason`), or this `Idempotency-Key` was used for a different order."),
    ),
)]
async fn create(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    IdempotencyKey(idempotency_key): IdempotencyKey,
    Json(body): Json<CreateOrderRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let user_id = match &body.user_id {
        None => caller.user_id,
        Some(raw) => parse_uuid("user_id", raw)?,
    };
    if !caller.may_act_for(user_id) {
        return Err(ApiError::Forbidden(
            "an order is placed for the signed-in user: leave `user_id` out or give your own"
                .into(),
        ));
    }
    let request = CreateOrder {
        user_id,
        items: body.items,
        idempotency_key,
    };
    let order: Order = call(&state, &caller, &request).await?;
    let location = format!("/orders/{}", order.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        axum::Json(order),
    ))
}

/// An order
///
/// The caller's own; another's is 404, like one that does not exist.
#[utoipa::path(
    get,
    path = "/orders/{id}",
    operation_id = "getOrder",
    tag = "orders",
    params(("id" = Uuid, Path, description = "The order's id.")),
    responses(
        (status = 200, description = "The order.", body = Order),
        (status = 404, description = "No such order, or not yours."),
    ),
)]
async fn find_one(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> Result<axum::Json<Order>, ApiError> {
    let id = parse_uuid("order id", &id)?;
    let order: Order = call(&state, &caller, &GetOrder { id }).await?;
    // order-service checked already; checked again here, so a service that
    // forgot to cannot leak an order.
    if !caller.may_act_for(order.user_id) {
        return Err(ApiError::NotFound(format!("no order with id {id}")));
    }
    Ok(axum::Json(order))
}

/// A user's orders
///
/// Newest first. A customer may list their own; another's are 404.
#[utoipa::path(
    get,
    path = "/users/{id}/orders",
    operation_id = "listUserOrders",
    tag = "orders",
    params(("id" = Uuid, Path, description = "The user's id.")),
    responses(
        (status = 200, description = "The user's orders.", body = OrderList),
        (status = 404, description = "Not your orders."),
    ),
)]
async fn list_for_user(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> Result<axum::Json<OrderList>, ApiError> {
    let user_id = own_user(&caller, &id)?;
    let orders = call(&state, &caller, &ListOrders { user_id }).await?;
    Ok(axum::Json(orders))
}

/// The catalogue
///
/// Every product with its price and the stock left.
#[utoipa::path(
    get,
    path = "/products",
    operation_id = "listProducts",
    tag = "orders",
    responses((status = 200, description = "The products.", body = ProductList)),
)]
async fn list_products(State(state): State<AppState>) -> Result<axum::Json<ProductList>, ApiError> {
    let products = state
        .orders()
        .call(&ListProducts)
        .await
        .map_err(|e| ApiError::from_rpc(SERVICE, e))?;
    Ok(axum::Json(products))
}

/// A request to order-service made for `caller`.
async fn call<R: Request>(
    state: &AppState,
    caller: &Caller,
    request: &R,
) -> Result<R::Reply, ApiError> {
    state
        .orders()
        .on_behalf_of(*caller)
        .call(request)
        .await
        .map_err(|e| ApiError::from_rpc(SERVICE, e))
}

fn parse_uuid(what: &str, raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw)
        .map_err(|_| ApiError::bad_request(format!("{raw:?} is not a {what}: expected a UUID")))
}
