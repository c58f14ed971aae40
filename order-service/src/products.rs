//! The `products` table — the catalogue and its stock — and every
//! statement on it (`reserve_stock`, the database function placing an order
//! at once calls, is [`crate::orders::place_at_once`]'s).

use std::collections::HashMap;

use contracts::orders::Product;
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use crate::error::Error;

pub(crate) async fn list(db: impl PgExecutor<'_>) -> Result<Vec<Product>, Error> {
    let rows = sqlx::query!(
        r#"
        SELECT sku, name, price_cents, stock
        FROM products
        ORDER BY sku
        "#,
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| Product {
            sku: row.sku,
            name: row.name,
            price_cents: row.price_cents,
            stock: i64::from(row.stock),
        })
        .collect())
}

/// Takes `quantity` of `sku` off the stock if that much is there, and
/// returns its unit price; `None` (nothing taken) when the product is
/// unknown or short. The row lock, the check and the price are one
/// statement, so stock never goes negative under concurrency.
pub(crate) async fn reserve(
    tx: &mut PgConnection,
    sku: &str,
    quantity: i64,
) -> Result<Option<i64>, Error> {
    Ok(sqlx::query_scalar!(
        r#"
        UPDATE products SET stock = stock - $2::bigint
        WHERE sku = $1 AND stock >= $2::bigint
        RETURNING price_cents
        "#,
        sku,
        quantity,
    )
    .fetch_optional(tx)
    .await?)
}

/// The stock and unit price of each of `skus` that exists.
pub(crate) async fn stock_and_prices(
    tx: &mut PgConnection,
    skus: &[&str],
) -> Result<HashMap<String, (i32, i64)>, Error> {
    let rows = sqlx::query!(
        "SELECT sku, stock, price_cents FROM products WHERE sku = ANY($1)",
        skus as &[&str],
    )
    .fetch_all(tx)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| (row.sku, (row.stock, row.price_cents)))
        .collect())
}

/// Puts the stock of order `order_id`'s lines back.
pub(crate) async fn release(tx: &mut PgConnection, order_id: Uuid) -> Result<(), Error> {
    sqlx::query!(
        r#"
        UPDATE products p SET stock = p.stock + i.quantity
        FROM order_items i
        WHERE i.order_id = $1 AND p.sku = i.sku
        "#,
        order_id,
    )
    .execute(tx)
    .await?;
    Ok(())
}
