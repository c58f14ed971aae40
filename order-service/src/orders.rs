//! The `orders` table and its `order_items`: every statement that reads or
//! writes them (an order's items are written with it, read with it, and
//! never apart from it). The other modules — [`crate::placing`],
//! [`crate::saga`], recovery, the patterns — call these typed functions;
//! `query!` checks each statement against the migrations at compile time
//! (docs/testing.md#sql-checked-at-compile-time).
//!
//! An enum bound `as _` ([`OrderStatus`], [`SagaStep`]) is encoded by its
//! own `sqlx::Type`, as the text its column's CHECK constraint lists.

use std::{collections::HashMap, time::Duration};

use chrono::{DateTime, Utc};
use contracts::{
    ErrorCode,
    orders::{Order, OrderItem, OrderStatus},
};
use messaging::outbox;
use sqlx::{PgConnection, PgExecutor, PgPool};
use uuid::Uuid;

use crate::{error::Error, new_order::NewOrder};

/// What the saga does next to a `pending` order: the `orders.saga_step`
/// column, whose CHECK constraint lists the same three names. (No serde: it
/// never leaves this service; the wire carries [`OrderStatus`] only.) It lives with the
/// orders table it is a column of; the saga ([`crate::saga`]) moves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "lowercase")]
pub enum SagaStep {
    /// Stock is reserved; the debit is (still) to be made.
    Charging,
    /// The debit failed or was declined: refund, release the stock, reject.
    Compensating,
    /// Confirmed or rejected: nothing left to do.
    Done,
}

pub(crate) struct OrderRow {
    pub(crate) id: Uuid,
    pub(crate) user_id: Uuid,
    pub(crate) status: OrderStatus,
    pub(crate) total_cents: i64,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) reason: Option<String>,
}

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

pub async fn find(pool: &PgPool, id: Uuid) -> Result<Order, Error> {
    let row = sqlx::query_as!(
        OrderRow,
        r#"
        SELECT id, user_id, status AS "status: OrderStatus", total_cents, created_at, reason
        FROM orders WHERE id = $1
        "#,
        id,
    )
    .fetch_optional(pool)
    .await?
    .ok_or(Error::OrderNotFound(id))?;
    let mut items = items_of(pool, &[id]).await?;
    Ok(to_order(row, &mut items))
}

/// The user's most recent orders, newest first.
pub async fn list_for_user(pool: &PgPool, user_id: Uuid, limit: i64) -> Result<Vec<Order>, Error> {
    let rows = sqlx::query_as!(
        OrderRow,
        r#"
        SELECT id, user_id, status AS "status: OrderStatus", total_cents, created_at, reason
        FROM orders
        WHERE user_id = $1
        ORDER BY created_at DESC, id DESC
        LIMIT $2
        "#,
        user_id,
        limit,
    )
    .fetch_all(pool)
    .await?;
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let mut items = items_of(pool, &ids).await?;
    Ok(rows
        .into_iter()
        .map(|row| to_order(row, &mut items))
        .collect())
}

async fn items_of(
    db: impl PgExecutor<'_>,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, Vec<OrderItem>>, Error> {
    let rows = sqlx::query!(
        r#"
        SELECT order_id, sku, quantity, unit_price_cents
        FROM order_items WHERE order_id = ANY($1) ORDER BY sku
        "#,
        ids,
    )
    .fetch_all(db)
    .await?;
    let mut items: HashMap<Uuid, Vec<OrderItem>> = HashMap::new();
    for row in rows {
        items.entry(row.order_id).or_default().push(OrderItem {
            sku: row.sku,
            quantity: i64::from(row.quantity),
            unit_price_cents: row.unit_price_cents,
        });
    }
    Ok(items)
}

pub(crate) fn to_order(row: OrderRow, items: &mut HashMap<Uuid, Vec<OrderItem>>) -> Order {
    Order {
        id: row.id,
        user_id: row.user_id,
        status: row.status,
        total_cents: row.total_cents,
        items: items.remove(&row.id).unwrap_or_default(),
        created_at: row.created_at,
        reason: row.reason,
    }
}

/// The id and request fingerprint of the order placed with this key.
pub(crate) async fn by_key(pool: &PgPool, key: &str) -> Result<Option<(Uuid, String)>, Error> {
    let found = sqlx::query!(
        "SELECT id, request_fingerprint FROM orders WHERE idempotency_key = $1",
        key,
    )
    .fetch_optional(pool)
    .await?;
    Ok(found.map(|r| (r.id, r.request_fingerprint)))
}

/// What [`place_at_once`] recorded: the order's time and total, and each
/// line's unit price, in the order of the lines.
pub(crate) struct Placed {
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) total_cents: i64,
    pub(crate) prices: Vec<i64>,
}

/// Reserves every line of `new` (in SKU order, by `reserve_stock`,
/// migrations/20261203100004_reserve_stock.sql) and records order `id`
/// `pending`, its saga at `charging`, with its items: one statement. `None`,
/// having changed nothing, when a line is unknown or short or the total is
/// past `i64`. `reserved` is read three times, so it is computed once: one
/// call of `reserve_stock`, whose NULL leaves every insert without a row.
pub(crate) async fn place_at_once(
    pool: &PgPool,
    id: Uuid,
    new: &NewOrder,
) -> Result<Option<Placed>, Error> {
    let skus: Vec<&str> = new.lines.keys().map(String::as_str).collect();
    let quantities: Vec<i64> = new.lines.values().copied().collect();
    Ok(sqlx::query_as!(
        Placed,
        r#"
        WITH reserved AS (
            SELECT reserve_stock($3, $4) AS prices
        ), line AS (
            SELECT line.* FROM reserved,
                UNNEST($3::text[], $4::bigint[], reserved.prices) AS line (sku, quantity, price)
            WHERE reserved.prices IS NOT NULL
        ), placed AS (
            INSERT INTO orders (id, user_id, status, saga_step, total_cents,
                                idempotency_key, request_fingerprint)
            SELECT $1, $2, $5, $6, (SELECT sum(quantity * price) FROM line), $7, $8
            FROM reserved WHERE prices IS NOT NULL
            RETURNING id, created_at, total_cents
        ), items AS (
            INSERT INTO order_items (order_id, sku, quantity, unit_price_cents)
            SELECT placed.id, sku, quantity, price FROM placed, line
        )
        SELECT created_at AS "created_at!", total_cents AS "total_cents!", prices AS "prices!"
        FROM placed, reserved
        "#,
        id,
        new.user_id,
        &skus as &[&str],
        &quantities,
        OrderStatus::Pending as _,
        SagaStep::Charging as _,
        new.idempotency_key,
        new.fingerprint,
    )
    .fetch_optional(pool)
    .await?)
}

/// Records order `id` with its lines at `unit_prices` (in the order of
/// `new.lines`), in `status` and saga step `step`, with a rejection
/// `reason` if any: order and items in one statement (the items' foreign
/// key is checked at its end, when the order row exists). Returns the
/// order's time.
#[allow(clippy::too_many_arguments)] // one per column group; named at the call
pub(crate) async fn insert(
    tx: &mut PgConnection,
    id: Uuid,
    new: &NewOrder,
    status: OrderStatus,
    step: SagaStep,
    reason: Option<&str>,
    total_cents: i64,
    unit_prices: &[i64],
) -> Result<DateTime<Utc>, Error> {
    let skus: Vec<&str> = new.lines.keys().map(String::as_str).collect();
    let quantities: Vec<i64> = new.lines.values().copied().collect();
    let code = reason.map(|_| ErrorCode::FailedPrecondition.as_str());
    Ok(sqlx::query_scalar!(
        r#"
        WITH placed AS (
            INSERT INTO orders (id, user_id, status, saga_step, reason, reason_code, total_cents,
                                idempotency_key, request_fingerprint)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
            RETURNING id, created_at
        ), items AS (
            INSERT INTO order_items (order_id, sku, quantity, unit_price_cents)
            SELECT placed.id, line.sku, line.quantity, line.price
            FROM placed, UNNEST($10::text[], $11::bigint[], $12::bigint[]) AS line (sku, quantity, price)
        )
        SELECT created_at AS "created_at!" FROM placed
        "#,
        id,
        new.user_id,
        status as _,
        step as _,
        reason,
        code,
        total_cents,
        new.idempotency_key,
        new.fingerprint,
        &skus as &[&str],
        &quantities,
        unit_prices,
    )
    .fetch_one(tx)
    .await?)
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

/// The error code order `id` was rejected with, if it was.
pub(crate) async fn reason_code(pool: &PgPool, id: Uuid) -> Result<Option<String>, Error> {
    Ok(
        sqlx::query_scalar!("SELECT reason_code FROM orders WHERE id = $1", id)
            .fetch_one(pool)
            .await?,
    )
}
