//! Orders: the table's rows and the saga's step column, and reading orders
//! back. Placing one is [`crate::placing`].

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use contracts::orders::{Order, OrderItem, OrderStatus};
use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

use crate::error::Error;

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

#[derive(sqlx::FromRow)]
pub(crate) struct OrderRow {
    pub(crate) id: Uuid,
    pub(crate) user_id: Uuid,
    pub(crate) status: OrderStatus,
    pub(crate) total_cents: i64,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) reason: Option<String>,
}

pub async fn find(pool: &PgPool, id: Uuid) -> Result<Order, Error> {
    let row: OrderRow = sqlx::query_as(
        "SELECT id, user_id, status, total_cents, created_at, reason FROM orders WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?
    .ok_or(Error::OrderNotFound(id))?;
    let mut items = items_of(pool, &[id]).await?;
    Ok(to_order(row, &mut items))
}

/// The user's most recent orders, newest first.
pub async fn list_for_user(pool: &PgPool, user_id: Uuid, limit: i64) -> Result<Vec<Order>, Error> {
    let rows: Vec<OrderRow> = sqlx::query_as(
        r#"
        SELECT id, user_id, status, total_cents, created_at, reason
        FROM orders
        WHERE user_id = $1
        ORDER BY created_at DESC, id DESC
        LIMIT $2
        "#,
    )
    .bind(user_id)
    .bind(limit)
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
    let rows: Vec<(Uuid, String, i32, i64)> = sqlx::query_as(
        "SELECT order_id, sku, quantity, unit_price_cents FROM order_items WHERE order_id = ANY($1) ORDER BY sku",
    )
    .bind(ids)
    .fetch_all(db)
    .await?;
    let mut items: HashMap<Uuid, Vec<OrderItem>> = HashMap::new();
    for (order_id, sku, quantity, unit_price_cents) in rows {
        items.entry(order_id).or_default().push(OrderItem {
            sku,
            quantity: i64::from(quantity),
            unit_price_cents,
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
