//! The message patterns order-service answers, like a NestJS controller's
//! `@MessagePattern`s: each checks its caller, decodes its `data`, calls the
//! domain, and returns the reply. Access: `list_products` is public; the
//! others need a caller (the `x-caller-*` headers), who reads and orders
//! for themselves — an admin for anyone. Errors become settlements through `From<Error> for HandlerError`.

use contracts::{
    ErrorCode,
    orders::{CreateOrder, GetOrder, ListOrders, Order, OrderList, OrderStatus, ProductList},
    patterns::{CREATE_ORDER, GET_ORDER, LIST_ORDERS, LIST_PRODUCTS},
};
use messaging::{Message, Router};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value;
use sqlx::PgPool;

use crate::{error::Error, new_order::NewOrder, orders, placing, products, saga::Saga};

/// Most orders `list_orders` returns.
const ORDER_LIST_LIMIT: i64 = 100;

/// What the handlers share.
#[derive(Debug, Clone)]
pub struct State {
    pub pool: PgPool,
    pub saga: Saga,
}

pub fn router(state: State) -> Router {
    Router::new()
        .route_with(CREATE_ORDER, &state, create_order)
        .route_with(GET_ORDER, &state, get_order)
        .route_with(LIST_ORDERS, &state, list_orders)
        .route_with(LIST_PRODUCTS, &state, list_products)
}

/// Records the order (or finds it, for a retry or a redelivery), drives its
/// saga as far as it goes, and answers with the outcome: the confirmed order,
/// or an error naming the order and why it was rejected or is still pending.
async fn create_order(state: State, message: Message) -> Result<Value, Error> {
    // Decoded first: a malformed message is poison whoever sent it.
    let caller = message.caller;
    let request: CreateOrder = decode(message.data)?;
    let caller = caller.ok_or(Error::Unauthenticated)?;
    if !caller.may_act_for(request.user_id) {
        return Err(Error::PermissionDenied);
    }
    let new = NewOrder::parse(request, &message.message_id)?;
    let order = placing::place(&state.pool, new).await?;
    // A rejection at placement recorded an event: let the relay know.
    state.saga.events.notify_one();
    let order = state.saga.advance(order).await?;
    outcome(&state.pool, order).await
}

async fn outcome(pool: &PgPool, order: Order) -> Result<Value, Error> {
    let id = order.id;
    match order.status {
        OrderStatus::Confirmed => encode(order),
        OrderStatus::Rejected => {
            let code: Option<String> =
                sqlx::query_scalar("SELECT reason_code FROM orders WHERE id = $1")
                    .bind(id)
                    .fetch_one(pool)
                    .await?;
            Err(Error::Rejected {
                order_id: id,
                code: code
                    .as_deref()
                    .and_then(ErrorCode::parse)
                    .unwrap_or(ErrorCode::FailedPrecondition),
                reason: order.reason.unwrap_or_default(),
            })
        }
        OrderStatus::Pending => Err(Error::SagaPending(id)),
    }
}

async fn get_order(state: State, message: Message) -> Result<Value, Error> {
    let caller = message.caller;
    let GetOrder { id } = decode(message.data)?;
    let caller = caller.ok_or(Error::Unauthenticated)?;
    let order = orders::find(&state.pool, id).await?;
    // Another customer's order is as absent as one that does not exist.
    if !caller.may_act_for(order.user_id) {
        return Err(Error::OrderNotFound(id));
    }
    encode(order)
}

async fn list_orders(state: State, message: Message) -> Result<Value, Error> {
    let caller = message.caller;
    let ListOrders { user_id } = decode(message.data)?;
    let caller = caller.ok_or(Error::Unauthenticated)?;
    if !caller.may_act_for(user_id) {
        return Err(Error::UnknownUser(user_id));
    }
    let orders = orders::list_for_user(&state.pool, user_id, ORDER_LIST_LIMIT).await?;
    encode(OrderList { orders })
}

async fn list_products(state: State, _message: Message) -> Result<Value, Error> {
    encode(ProductList {
        products: products::list(&state.pool).await?,
    })
}

fn decode<T: DeserializeOwned>(data: Value) -> Result<T, Error> {
    serde_json::from_value(data).map_err(|e| Error::Malformed(e.to_string()))
}

fn encode<T: Serialize>(value: T) -> Result<Value, Error> {
    serde_json::to_value(value).map_err(Error::Encode)
}
