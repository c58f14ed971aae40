//! The message patterns order-service answers, like a NestJS controller's
//! `@MessagePattern`s: each takes its typed request
//! (`contracts::requests::Request`: decoded by the router, which
//! dead-letters what does not decode), checks its caller, calls the domain,
//! and returns the typed reply. Access: `list_products` is public; the
//! others need a caller (the `x-caller-*` headers), who reads and orders
//! for themselves — an admin for anyone. Errors become settlements through
//! `From<Error> for HandlerError`.

use contracts::{
    ErrorCode,
    orders::{
        CreateOrder, GetOrder, ListOrders, ListProducts, Order, OrderList, OrderStatus, ProductList,
    },
};
use messaging::{Call, Router};
use sqlx::PgPool;

use crate::{error::Error, new_order::NewOrder, orders, placing, products, saga::Saga};

/// Most orders `list_orders` returns.
const ORDER_LIST_LIMIT: i64 = 100;

/// What the handlers share.
#[derive(Debug, Clone)]
pub(crate) struct State {
    pub pool: PgPool,
    pub saga: Saga,
}

pub(crate) fn router(state: State) -> Router {
    Router::new()
        .request(&state, create_order)
        .request(&state, get_order)
        .request(&state, list_orders)
        .request(&state, list_products)
}

/// Records the order (or finds it, for a retry or a redelivery), drives its
/// saga as far as it goes, and answers with the outcome: the confirmed order,
/// or an error naming the order and why it was rejected or is still pending.
async fn create_order(state: State, call: Call<CreateOrder>) -> Result<Order, Error> {
    // Decoded first (by the router): a malformed message is poison whoever
    // sent it.
    let caller = call.caller.ok_or(Error::Unauthenticated)?;
    if !caller.may_act_for(call.request.user_id) {
        return Err(Error::PermissionDenied);
    }
    let new = NewOrder::parse(call.request, &call.message_id)?;
    let order = placing::place(&state.pool, &state.saga.outbox, new).await?;
    let order = state.saga.advance(order).await?;
    outcome(&state.pool, order).await
}

async fn outcome(pool: &PgPool, order: Order) -> Result<Order, Error> {
    let id = order.id;
    match order.status {
        OrderStatus::Confirmed => Ok(order),
        OrderStatus::Rejected => {
            let code = orders::reason_code(pool, id).await?;
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

async fn get_order(state: State, call: Call<GetOrder>) -> Result<Order, Error> {
    let GetOrder { id } = call.request;
    let caller = call.caller.ok_or(Error::Unauthenticated)?;
    let order = orders::find(&state.pool, id).await?;
    // Another customer's order is as absent as one that does not exist.
    if !caller.may_act_for(order.user_id) {
        return Err(Error::OrderNotFound(id));
    }
    Ok(order)
}

async fn list_orders(state: State, call: Call<ListOrders>) -> Result<OrderList, Error> {
    let ListOrders { user_id } = call.request;
    let caller = call.caller.ok_or(Error::Unauthenticated)?;
    if !caller.may_act_for(user_id) {
        return Err(Error::UnknownUser(user_id));
    }
    let orders = orders::list_for_user(&state.pool, user_id, ORDER_LIST_LIMIT).await?;
    Ok(OrderList { orders })
}

async fn list_products(state: State, _call: Call<ListProducts>) -> Result<ProductList, Error> {
    Ok(ProductList {
        products: products::list(&state.pool).await?,
    })
}
