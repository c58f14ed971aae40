//! What notification-service handles: three events (`@EventPattern`s in
//! NestJS terms), each trusted only from the service that owns it, on the
//! events queue; and one request (`@MessagePattern`), which needs a caller
//! (the `x-caller-*` headers) reading their own notifications, on the
//! request queue.

use contracts::{
    events::{ORDER_CONFIRMED, ORDER_REJECTED, USER_CREATED},
    notifications::{GetNotifications, NotificationList},
};
use messaging::{Call, Message, Router};
use serde::de::DeserializeOwned;
use serde_json::Value;
use sqlx::PgPool;

use crate::{
    Error,
    config::Publishers,
    notifications::{self, Recorder},
};

/// The events, each run only when it came through the events exchange from
/// its owner's broker account. The order events — one per order, the bulk —
/// are recorded through one group commit.
pub fn events(pool: PgPool, publishers: &Publishers) -> Router {
    let (users, orders) = (&publishers.user_events, &publishers.order_events);
    let recorder = notifications::recorder(&pool);
    Router::new()
        .event_with(USER_CREATED, users, &pool, user_created)
        .event_with(ORDER_CONFIRMED, orders, &recorder, order_confirmed)
        .event_with(ORDER_REJECTED, orders, &recorder, order_rejected)
}

/// The requests, typed (`contracts::requests::Request`): the router
/// decodes each and dead-letters what does not decode.
pub fn requests(pool: PgPool) -> Router {
    Router::new().request(&pool, get_notifications)
}

async fn user_created(pool: PgPool, message: Message) -> Result<Value, Error> {
    notifications::user_created(&pool, decode(message.data)?).await?;
    Ok(Value::Null)
}

async fn order_confirmed(recorder: Recorder, message: Message) -> Result<Value, Error> {
    notifications::order_confirmed(&recorder, decode(message.data)?).await?;
    Ok(Value::Null)
}

async fn order_rejected(recorder: Recorder, message: Message) -> Result<Value, Error> {
    notifications::order_rejected(&recorder, decode(message.data)?).await?;
    Ok(Value::Null)
}

async fn get_notifications(
    pool: PgPool,
    call: Call<GetNotifications>,
) -> Result<NotificationList, Error> {
    let GetNotifications { user_id } = call.request;
    let caller = call
        .caller
        .ok_or(Error::Unauthenticated("this request needs a caller"))?;
    // Only the user's own (an admin: anyone's); another's look absent.
    if !caller.may_act_for(user_id) {
        return Err(Error::NotFound(user_id));
    }
    let notifications = notifications::list(&pool, user_id).await?;
    Ok(NotificationList { notifications })
}

fn decode<T: DeserializeOwned>(data: Value) -> Result<T, Error> {
    serde_json::from_value(data).map_err(|e| Error::Malformed(e.to_string()))
}
