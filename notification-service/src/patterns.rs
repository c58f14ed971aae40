//! What notification-service handles: three events (`@EventPattern`s in
//! NestJS terms), each trusted only from the service that owns it, on the
//! events queue; and one request (`@MessagePattern`), which needs a caller
//! (the `x-caller-*` headers) reading their own notifications, on the
//! request queue.

use contracts::{
    events::{Event, OrderConfirmed, OrderRejected, UserCreated},
    notifications::{GetNotifications, NotificationList},
};
use messaging::{Call, Router};
use sqlx::PgPool;

use crate::{
    Error,
    config::Publishers,
    notifications::{self, Recorder},
};

/// The events, each run only when it came through the events exchange from
/// its owner's broker account. The order events — one per order, the bulk —
/// are recorded through one group commit.
pub(crate) fn events(pool: PgPool, publishers: &Publishers) -> Router {
    let (users, orders) = (&publishers.user_events, &publishers.order_events);
    let recorder = notifications::recorder(&pool);
    Router::new()
        .event(users, &pool, user_created)
        .event(orders, &recorder, order_confirmed)
        .event(orders, &recorder, order_rejected)
}

/// The requests, typed (`contracts::requests::Request`): the router
/// decodes each and dead-letters what does not decode.
pub(crate) fn requests(pool: PgPool) -> Router {
    Router::new().request(&pool, get_notifications)
}

async fn user_created(pool: PgPool, event: Event<UserCreated>) -> Result<(), Error> {
    notifications::user_created(&pool, event).await
}

async fn order_confirmed(recorder: Recorder, event: Event<OrderConfirmed>) -> Result<(), Error> {
    notifications::order_confirmed(&recorder, event).await
}

async fn order_rejected(recorder: Recorder, event: Event<OrderRejected>) -> Result<(), Error> {
    notifications::order_rejected(&recorder, event).await
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
