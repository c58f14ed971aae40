//! The `orders` table and its `order_items`: every statement that reads or
//! writes them (an order's items are written with it, read with it, and
//! never apart from it). The other modules — [`crate::placing`],
//! [`crate::saga`], recovery, the patterns — call these typed functions;
//! `query!` checks each statement against the migrations at compile time
//! (docs/testing.md#sql-checked-at-compile-time). An enum bound `as _`
//! ([`OrderStatus`], [`SagaStep`]) is encoded by its own `sqlx::Type`, as
//! the text its column's CHECK constraint lists.
//!
//! # Layout
//! - here: the rows, reading orders back.
//! - `insert`: recording a new order with its items.
//! - `saga`: the saga's reads and transitions, and recovery's look-up.

mod insert;
mod saga;

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use contracts::orders::{Order, OrderItem, OrderStatus};
use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

use crate::error::Error;

pub(crate) use insert::{Placed, insert, place_at_once};
pub(crate) use saga::{SagaState, confirm, move_step, reject, saga_state, stale};

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

/// The error code order `id` was rejected with, if it was.
pub(crate) async fn reason_code(pool: &PgPool, id: Uuid) -> Result<Option<String>, Error> {
    Ok(
        sqlx::query_scalar!("SELECT reason_code FROM orders WHERE id = $1", id)
            .fetch_one(pool)
            .await?,
    )
}
