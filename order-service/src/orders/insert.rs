//! Recording a new order with its items: one statement each way of placing
//! it ([`crate::placing`]).

use chrono::{DateTime, Utc};
use contracts::{ErrorCode, orders::OrderStatus};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::SagaStep;
use crate::{error::Error, new_order::NewOrder};

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
