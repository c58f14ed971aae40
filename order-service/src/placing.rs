//! Placing an order, idempotently by its key — step 1 of the saga: reserve
//! the stock of every line and record the order, atomically — or, when a
//! line cannot be reserved, record it `rejected`.
//!
//! The common case (every line in stock) is one statement, [`at_once`]:
//! one round trip and one commit, no explicit transaction. Anything else —
//! a shortage, an unknown SKU, a total too large — changes nothing there and
//! takes the line-by-line path, [`in_transaction`], which finds out which
//! line failed and why, and records the rejection.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use contracts::{
    events::OrderRejected,
    orders::{Order, OrderItem, OrderStatus},
};
use messaging::outbox;
use sqlx::PgPool;
use uuid::Uuid;

use crate::{
    error::Error,
    new_order::NewOrder,
    orders::{self, OrderRow, SagaStep, to_order},
};

/// Records an order (saga step 1, see [`record`]). A request whose key
/// already recorded an order gets that order back, whether the first copy
/// committed long ago or a moment ago in a concurrent transaction; the
/// caller then drives its saga, which resumes wherever it stands.
pub async fn place(pool: &PgPool, new: NewOrder) -> Result<Order, Error> {
    // No look-up first: a repeated key is rare, and the unique index finds
    // it in the same round trip as the insert.
    match record(pool, &new).await {
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
            orders::find(pool, id).await.map(Some)
        }
    }
}

/// Records `new` (see the module's documentation); the order as recorded,
/// built from what was written rather than read back.
async fn record(pool: &PgPool, new: &NewOrder) -> Result<Order, Error> {
    match at_once(pool, new).await? {
        Some(order) => Ok(order),
        None => in_transaction(pool, new).await,
    }
}

/// Reserves every line and records the order `pending` in one statement,
/// or changes nothing and returns `None` when a line is unknown or short
/// (or the total is past `i64`). `reserve_stock`
/// (migrations/20261203100004_reserve_stock.sql) takes the lines in SKU
/// order, as [`NewOrder::lines`] sorts them and [`in_transaction`] locks
/// them, so concurrent orders never deadlock, each by primary key, so the
/// plan never depends on the catalogue's size.
async fn at_once(pool: &PgPool, new: &NewOrder) -> Result<Option<Order>, Error> {
    let id = Uuid::now_v7();
    let skus: Vec<&str> = new.lines.keys().map(String::as_str).collect();
    let quantities: Vec<i64> = new.lines.values().copied().collect();
    // `reserved` is read three times, so it is computed once: one call of
    // `reserve_stock`, whose NULL (nothing reserved) leaves every insert
    // below without a row.
    let placed: Option<(DateTime<Utc>, i64, Vec<i64>)> = sqlx::query_as(
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
        SELECT created_at, total_cents, prices FROM placed, reserved
        "#,
    )
    .bind(id)
    .bind(new.user_id)
    .bind(&skus)
    .bind(&quantities)
    .bind(OrderStatus::Pending)
    .bind(SagaStep::Charging)
    .bind(&new.idempotency_key)
    .bind(&new.fingerprint)
    .fetch_optional(pool)
    .await?;
    let Some((created_at, total_cents, prices)) = placed else {
        return Ok(None);
    };
    let prices: HashMap<String, i64> = new.lines.keys().cloned().zip(prices).collect();
    tracing::debug!(order_id = %id, total_cents, "order recorded");
    let row = OrderRow {
        id,
        user_id: new.user_id,
        status: OrderStatus::Pending,
        total_cents,
        created_at,
        reason: None,
    };
    Ok(Some(with_items(row, new, &prices)))
}

/// The order of `row`, its items in SKU order (as `orders::find` returns
/// them) at the reserved `prices`.
fn with_items(row: OrderRow, new: &NewOrder, prices: &HashMap<String, i64>) -> Order {
    let items = new
        .lines
        .iter()
        .map(|(sku, &quantity)| OrderItem {
            sku: sku.clone(),
            quantity,
            unit_price_cents: prices[sku],
        })
        .collect();
    let id = row.id;
    to_order(row, &mut HashMap::from([(id, items)]))
}

/// Step 1 in a transaction, line by line: reserve stock for every line and
/// record the order `pending`, its saga at `charging`. When a line cannot be
/// reserved, that transaction is rolled back and the order is recorded
/// `rejected` in a new one, so the client gets an order id either way and a
/// retry gets the same answer. Returns the order as recorded, without
/// reading it back.
async fn in_transaction(pool: &PgPool, new: &NewOrder) -> Result<Order, Error> {
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
        outbox::record(&mut tx, event).await?;
    }
    tx.commit().await?;

    // Per-order success lines are debug: at info, a line per order in every
    // service is log volume (and CPU) nobody reads; metrics count them.
    // Failures and surprises stay at info and above.
    tracing::debug!(order_id = %id, %status, total_cents = total, "order recorded");
    let row = OrderRow {
        id,
        user_id: new.user_id,
        status,
        total_cents: total,
        created_at,
        reason,
    };
    Ok(with_items(row, new, &prices))
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
