//! The catalogue.

use contracts::orders::Product;
use sqlx::PgExecutor;

use crate::error::Error;

pub async fn list(db: impl PgExecutor<'_>) -> Result<Vec<Product>, Error> {
    let rows: Vec<(String, String, i64, i32)> = sqlx::query_as(
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
        .map(|(sku, name, price_cents, stock)| Product {
            sku,
            name,
            price_cents,
            stock: i64::from(stock),
        })
        .collect())
}
