//! Orders: placing one (stock and order in one transaction, idempotently),
//! and reading orders back.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use contracts::{
    events::{ORDER_REJECTED, OrderRejected},
    orders::{Order, OrderItem, OrderStatus},
};
use messaging::outbox;
use sqlx::{PgExecutor, PgPool};
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

/// Records an order (saga step 1, see [`insert`]). A request whose key
/// already recorded an order gets that order back, whether the first copy
/// committed long ago or a moment ago in a concurrent transaction; the
/// caller then drives its saga, which resumes wherever it stands.
pub async fn place(pool: &PgPool, new: NewOrder) -> Result<Order, Error> {
    // No look-up first: a repeated key is rare, and the unique index finds
    // it in the same round trip as the insert.
    match insert(pool, &new).await {
        Err(Error::Database(sqlx::Error::Database(e)))
            if e.constraint() == Some("orders_idempotency_key") =>
        {
            replay(pool, &new).await?.ok_or(Error::IdempotencyKeyReused)
        }
        result => result,
    }
}

async fn replay(pool: &PgPool, new: &NewOrder) -> Result<Option<Order>, Error> {
    let found: Option<(Uuid, String)> =
        sqlx::query_as("SELECT id, request_fingerprint FROM orders WHERE idempotency_key = $1")
            .bind(&new.idempotency_key)
            .fetch_optional(pool)
            .await?;
    match found {
        None => Ok(None),
        Some((_, fingerprint)) if fingerprint != new.fingerprint => {
            Err(Error::IdempotencyKeyReused)
        }
        Some((id, _)) => {
            tracing::info!(order_id = %id, "duplicate request; returning the original order");
            find(pool, id).await.map(Some)
        }
    }
}

/// Step 1 of the saga, in one transaction: reserve stock for every line and
/// record the order `pending`, its saga at `charging`. When a line cannot be
/// reserved, that transaction is rolled back and the order is recorded
/// `rejected` in a new one, so the client gets an order id either way and a
/// retry gets the same answer. Returns the order as recorded, without
/// reading it back. The common path is four round trips: BEGIN, a reserve
/// per line (which also returns the price), the order with its items, COMMIT.
async fn insert(pool: &PgPool, new: &NewOrder) -> Result<Order, Error> {
    let mut tx = pool.begin().await?;
    let Reservation { prices, shortage } = reserve(&mut tx, new).await?;
    let (status, step, reason) = match &shortage {
        None => (OrderStatus::Pending, SagaStep::Charging, None),
        Some(shortage) => {
            // Undo the lines already reserved; record the rejection afresh.
            tx.rollback().await?;
            tx = pool.begin().await?;
            (
                OrderStatus::Rejected,
                SagaStep::Done,
                Some(shortage.to_string()),
            )
        }
    };

    let id = Uuid::now_v7();
    let total = new.total(&prices)?;
    let skus: Vec<&str> = new.lines.keys().map(String::as_str).collect();
    let quantities: Vec<i64> = new.lines.values().copied().collect();
    let unit_prices: Vec<i64> = skus.iter().map(|s| prices[*s]).collect();
    // Order and items in one statement (the items' foreign key is checked
    // at its end, when the order row exists).
    let created_at: DateTime<Utc> = sqlx::query_scalar(
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
        SELECT created_at FROM placed
        "#,
    )
    .bind(id)
    .bind(new.user_id)
    .bind(status)
    .bind(step)
    .bind(&reason)
    .bind(reason.as_ref().map(|_| "FAILED_PRECONDITION"))
    .bind(total)
    .bind(&new.idempotency_key)
    .bind(&new.fingerprint)
    .bind(&skus)
    .bind(&quantities)
    .bind(&unit_prices)
    .fetch_one(&mut *tx)
    .await?;
    if let Some(reason) = &reason {
        let event = OrderRejected {
            order_id: id,
            user_id: new.user_id,
            total_cents: total,
            reason: reason.clone(),
        };
        outbox::enqueue(&mut tx, ORDER_REJECTED, event).await?;
    }
    tx.commit().await?;

    // Per-order success lines are debug: at info, a line per order in every
    // service is log volume (and CPU) nobody reads; metrics count them.
    // Failures and surprises stay at info and above.
    tracing::debug!(order_id = %id, %status, total_cents = total, "order recorded");
    // Items in SKU order, as `find` returns them.
    let items = new
        .lines
        .iter()
        .map(|(sku, &quantity)| OrderItem {
            sku: sku.clone(),
            quantity,
            unit_price_cents: prices[sku],
        })
        .collect();
    let row = OrderRow {
        id,
        user_id: new.user_id,
        status,
        total_cents: total,
        created_at,
        reason,
    };
    Ok(to_order(row, &mut HashMap::from([(id, items)])))
}

/// What reserving an order's lines came to: every line's unit price, and
/// the first line that could not be reserved, if any.
struct Reservation {
    prices: HashMap<String, i64>,
    shortage: Option<Error>,
}

/// Conditional decrements, in SKU order: the row lock, the check and the
/// price are one statement, so stock never goes negative under
/// concurrency. A line that cannot be reserved (rare) takes one more look
/// at every line's product, to tell unknown SKUs (an invalid request) from
/// a shortage.
async fn reserve(tx: &mut sqlx::PgConnection, new: &NewOrder) -> Result<Reservation, Error> {
    let mut prices = HashMap::with_capacity(new.lines.len());
    for (sku, &quantity) in &new.lines {
        let price: Option<i64> = sqlx::query_scalar(
            "UPDATE products SET stock = stock - $2 WHERE sku = $1 AND stock >= $2 RETURNING price_cents",
        )
        .bind(sku)
        .bind(quantity)
        .fetch_optional(&mut *tx)
        .await?;
        match price {
            Some(price) => prices.insert(sku.clone(), price),
            None => return short(tx, new, sku).await,
        };
    }
    Ok(Reservation {
        prices,
        shortage: None,
    })
}

async fn short(
    tx: &mut sqlx::PgConnection,
    new: &NewOrder,
    sku: &str,
) -> Result<Reservation, Error> {
    let skus: Vec<&str> = new.lines.keys().map(String::as_str).collect();
    let products: HashMap<String, (i32, i64)> = sqlx::query_as::<_, (String, i32, i64)>(
        "SELECT sku, stock, price_cents FROM products WHERE sku = ANY($1)",
    )
    .bind(&skus)
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .map(|(sku, stock, price)| (sku, (stock, price)))
    .collect();
    let unknown: Vec<&str> = skus
        .into_iter()
        .filter(|s| !products.contains_key(*s))
        .collect();
    if !unknown.is_empty() {
        return Err(Error::Invalid(format!(
            "unknown sku: {}",
            unknown.join(", ")
        )));
    }
    let shortage = Error::InsufficientStock {
        sku: sku.to_owned(),
        requested: new.lines[sku],
        available: i64::from(products[sku].0),
    };
    Ok(Reservation {
        prices: products
            .into_iter()
            .map(|(sku, (_, price))| (sku, price))
            .collect(),
        shortage: Some(shortage),
    })
}

#[derive(sqlx::FromRow)]
struct OrderRow {
    id: Uuid,
    user_id: Uuid,
    status: OrderStatus,
    total_cents: i64,
    created_at: DateTime<Utc>,
    reason: Option<String>,
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

fn to_order(row: OrderRow, items: &mut HashMap<Uuid, Vec<OrderItem>>) -> Order {
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
