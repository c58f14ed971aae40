//! Placing an order, idempotently by its key — step 1 of the saga: reserve
//! the stock of every line and record the order, atomically — or, when a
//! line cannot be reserved, record it `rejected`.
//!
//! The common case (every line in stock) is one statement, `at_once`:
//! one round trip and one commit, no explicit transaction. Anything else —
//! a shortage, an unknown SKU, a total too large — changes nothing there and
//! takes the line-by-line path, `in_transaction`, which finds out which
//! line failed and why, and records the rejection.

use std::collections::HashMap;

use contracts::{
    events::OrderRejected,
    orders::{Order, OrderItem, OrderStatus},
};
use messaging::outbox::{self, Outbox};
use sqlx::PgPool;
use uuid::Uuid;

use crate::{
    error::Error,
    new_order::NewOrder,
    orders::{self, OrderRow, Placed, SagaStep, to_order},
    products,
};

/// Records an order (saga step 1, see `record`). A request whose key
/// already recorded an order gets that order back, whether the first copy
/// committed long ago or a moment ago in a concurrent transaction; the
/// caller then drives its saga, which resumes wherever it stands. An order
/// rejected here records its `order_rejected` in `outbox`.
pub async fn place(pool: &PgPool, outbox: &Outbox, new: NewOrder) -> Result<Order, Error> {
    // No look-up first: a repeated key is rare, and the unique index finds
    // it in the same round trip as the insert.
    match record(pool, outbox, &new).await {
        Err(Error::Database(sqlx::Error::Database(e)))
            if e.constraint() == Some("orders_idempotency_key") =>
        {
            replay(pool, &new).await?.ok_or(Error::IdempotencyKeyReused)
        }
        result => result,
    }
}

async fn replay(pool: &PgPool, new: &NewOrder) -> Result<Option<Order>, Error> {
    match orders::by_key(pool, &new.idempotency_key).await? {
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
async fn record(pool: &PgPool, outbox: &Outbox, new: &NewOrder) -> Result<Order, Error> {
    match at_once(pool, new).await? {
        Some(order) => Ok(order),
        None => in_transaction(pool, outbox, new).await,
    }
}

/// Reserves every line and records the order `pending` in one statement
/// ([`orders::place_at_once`]), or changes nothing and returns `None` when a
/// line is unknown or short (or the total is past `i64`). `reserve_stock`
/// takes the lines in SKU order, as [`NewOrder::lines`] sorts them and
/// [`in_transaction`] locks them, so concurrent orders never deadlock, each
/// by primary key, so the plan never depends on the catalogue's size.
async fn at_once(pool: &PgPool, new: &NewOrder) -> Result<Option<Order>, Error> {
    let id = Uuid::now_v7();
    let Some(Placed {
        created_at,
        total_cents,
        prices,
    }) = orders::place_at_once(pool, id, new).await?
    else {
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
async fn in_transaction(pool: &PgPool, outbox: &Outbox, new: &NewOrder) -> Result<Order, Error> {
    let mut tx = outbox.begin(pool).await?;
    let Reservation { prices, shortage } = reserve(&mut tx, new).await?;
    let (status, step, reason) = match &shortage {
        None => (OrderStatus::Pending, SagaStep::Charging, None),
        Some(shortage) => {
            // Undo the lines already reserved; record the rejection afresh.
            tx.rollback().await?;
            tx = outbox.begin(pool).await?;
            (
                OrderStatus::Rejected,
                SagaStep::Done,
                Some(shortage.to_string()),
            )
        }
    };

    let id = Uuid::now_v7();
    let total = new.total(&prices)?;
    let unit_prices: Vec<i64> = new.lines.keys().map(|s| prices[s]).collect();
    let created_at = orders::insert(
        &mut tx,
        id,
        new,
        status,
        step,
        reason.as_deref(),
        total,
        &unit_prices,
    )
    .await?;
    if let Some(reason) = &reason {
        let event = OrderRejected {
            order_id: id,
            user_id: new.user_id,
            total_cents: total,
            reason: reason.clone(),
        };
        tx.record(event).await?;
    }
    // Wakes the relay when the rejection's event was recorded.
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
async fn reserve(tx: &mut outbox::Transaction, new: &NewOrder) -> Result<Reservation, Error> {
    let mut prices = HashMap::with_capacity(new.lines.len());
    for (sku, &quantity) in &new.lines {
        match products::reserve(tx, sku, quantity).await? {
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
    tx: &mut outbox::Transaction,
    new: &NewOrder,
    sku: &str,
) -> Result<Reservation, Error> {
    let skus: Vec<&str> = new.lines.keys().map(String::as_str).collect();
    let products = products::stock_and_prices(tx, &skus).await?;
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
