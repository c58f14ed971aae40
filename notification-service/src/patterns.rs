//! What notification-service handles: three events (`@EventPattern`s in
//! NestJS terms) and one request (`@MessagePattern`).

use std::future::Future;

use contracts::{
    events::{ORDER_CONFIRMED, ORDER_REJECTED, USER_CREATED},
    notifications::{GetNotifications, NotificationList},
    patterns::GET_NOTIFICATIONS,
};
use messaging::{HandlerError, Message, Router};
use serde::de::DeserializeOwned;
use serde_json::Value;
use sqlx::PgPool;

use crate::{Error, notifications};

pub fn router(pool: PgPool) -> Router {
    Router::new()
        .route(
            USER_CREATED,
            handler(&pool, |pool, data| async move {
                notifications::user_created(&pool, decode(data)?)
                    .await
                    .map(|()| Value::Null)
            }),
        )
        .route(
            ORDER_CONFIRMED,
            handler(&pool, |pool, data| async move {
                notifications::order_confirmed(&pool, decode(data)?)
                    .await
                    .map(|()| Value::Null)
            }),
        )
        .route(
            ORDER_REJECTED,
            handler(&pool, |pool, data| async move {
                notifications::order_rejected(&pool, decode(data)?)
                    .await
                    .map(|()| Value::Null)
            }),
        )
        .route(
            GET_NOTIFICATIONS,
            handler(&pool, |pool, data| async move {
                let GetNotifications { user_id } = decode(data)?;
                let user_id = uuid::Uuid::parse_str(&user_id)
                    .map_err(|_| Error::Invalid(format!("user_id {user_id:?} is not a UUID")))?;
                let notifications = notifications::list(&pool, user_id).await?;
                Ok(serde_json::to_value(NotificationList { notifications }).unwrap_or_default())
            }),
        )
}

fn handler<F, Fut>(
    pool: &PgPool,
    f: F,
) -> impl Fn(Message) -> std::pin::Pin<Box<dyn Future<Output = Result<Value, HandlerError>> + Send>>
+ Send
+ Sync
+ 'static
where
    F: Fn(PgPool, Value) -> Fut + Copy + Send + Sync + 'static,
    Fut: Future<Output = Result<Value, Error>> + Send + 'static,
{
    let pool = pool.clone();
    move |message| {
        let pool = pool.clone();
        Box::pin(async move { f(pool, message.data).await.map_err(HandlerError::from) })
    }
}

fn decode<T: DeserializeOwned>(data: Value) -> Result<T, Error> {
    serde_json::from_value(data).map_err(|e| Error::Malformed(e.to_string()))
}
