//! The saga's statements on an order: reading where it stands, moving it on
//! ([`crate::saga`]), and finding the ones left behind (recovery).

use std::time::Duration;

use contracts::{ErrorCode, orders::OrderStatus};
use messaging::outbox;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::SagaStep;
use crate::error::Error;

/// Where an order's saga stands.
pub(crate) struct SagaState {
    pub(crate) user_id: Uuid,
    pub(crate) total_cents: i64,
    pub(crate) status: OrderStatus,
    pub(crate) saga_step: SagaStep,
}

/// A rejected order, as its `order_rejected` event tells it.
pub(crate) struct Rejected {
    pub(crate) user_id: Uuid,
    pub(crate) total_cents: i64,
    pub(crate) reason: Option<String>,
}

/// Where order `id`'s saga stands, if the order exists.
pub(crate) async fn saga_state(pool: &PgPool, id: Uuid) -> Result<Option<SagaState>, Error> {
    Ok(sqlx::query_as!(
        SagaState,
        r#"
        SELECT user_id, total_cents, status AS "status: OrderStatus",
               saga_step AS "saga_step: SagaStep"
        FROM orders WHERE id = $1
        "#,
        id,
    )
    .fetch_optional(pool)
    .await?)
}

/// Moves a pending order from saga step `from` to `to`, recording a
/// rejection reason when one is given. Does nothing if another driver moved
/// it first.
pub(crate) async fn move_step(
    pool: &PgPool,
    id: Uuid,
    from: SagaStep,
    to: SagaStep,
    reason: Option<(ErrorCode, &str)>,
) -> Result<(), Error> {
    sqlx::query!(
        r#"
        UPDATE orders
        SET saga_step = $4,
            reason = COALESCE($5, reason), reason_code = COALESCE($6, reason_code), updated_at = now()
        WHERE id = $1 AND status = $3 AND saga_step = $2
        "#,
        id,
        from as _,
        OrderStatus::Pending as _,
        to as _,
        reason.map(|(_, text)| text),
        reason.map(|(code, _)| code.as_str()),
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Rejects a compensating order, once: `None` if another driver did.
pub(crate) async fn reject(tx: &mut PgConnection, id: Uuid) -> Result<Option<Rejected>, Error> {
    Ok(sqlx::query_as!(
        Rejected,
        r#"
        UPDATE orders SET status = $2, saga_step = $3, updated_at = now()
        WHERE id = $1 AND status = $4 AND saga_step = $5
        RETURNING user_id, total_cents, reason
        "#,
        id,
        OrderStatus::Rejected as _,
        SagaStep::Done as _,
        OrderStatus::Pending as _,
        SagaStep::Compensating as _,
    )
    .fetch_optional(tx)
    .await?)
}

/// Confirms a charging order and inserts its `order_confirmed` row — one
/// statement, so both or neither, without a transaction around it — once;
/// `true` when this call did it. The row comes from
/// [`messaging::outbox::Outbox::write`], which wakes the relay after it.
pub(crate) async fn confirm(pool: &PgPool, id: Uuid, event: &outbox::Row) -> Result<bool, Error> {
    let recorded = sqlx::query!(
        r#"
        WITH confirmed AS (
            UPDATE orders SET status = $6, saga_step = $7, updated_at = now()
            WHERE id = $1 AND status = $8 AND saga_step = $9
            RETURNING id
        )
        INSERT INTO outbox (id, name, payload, headers)
        SELECT $2, $3, $4, $5 FROM confirmed
        "#,
        id,
        event.id,
        event.name,
        event.payload,
        event.headers,
        OrderStatus::Confirmed as _,
        SagaStep::Done as _,
        OrderStatus::Pending as _,
        SagaStep::Charging as _,
    )
    .execute(pool)
    .await?
    .rows_affected();
    Ok(recorded == 1)
}

/// Up to a hundred pending orders that have not moved for `stale_after`,
/// longest still first. `'pending'` stays a literal: it is the predicate of
/// the partial index `orders_pending`, which a bound parameter could not use
/// once Postgres switches to a generic plan.
pub(crate) async fn stale(pool: &PgPool, stale_after: Duration) -> Result<Vec<Uuid>, Error> {
    Ok(sqlx::query_scalar!(
        r#"
        SELECT id FROM orders
        WHERE status = 'pending' AND updated_at < now() - make_interval(secs => $1)
        ORDER BY updated_at
        LIMIT 100
        "#,
        stale_after.as_secs_f64(),
    )
    .fetch_all(pool)
    .await?)
}
