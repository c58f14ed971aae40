//! The floor: the W1 read (`GET /users/{id}` → one primary-key SELECT) in one
//! axum process straight against Postgres — no gateway, no gRPC hop. What
//! the three-process path is compared with: on a shared two-core machine it
//! is roughly the most a W1 request can cost less than.
//!
//! `DATABASE_URL` (user-service's database), `FLOOR_LISTEN_ADDR`.

use std::net::SocketAddr;

use axum::{
    Json, Router,
    extract::{Path, State},
    http::StatusCode,
    routing::get,
};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let url = std::env::var("DATABASE_URL")?;
    let addr: SocketAddr = std::env::var("FLOOR_LISTEN_ADDR")
        .unwrap_or_else(|_| "127.0.0.1:3999".into())
        .parse()?;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(10)
        .connect(&url)
        .await?;
    let app = Router::new()
        .route("/users/{id}", get(user))
        .with_state(pool);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    axum::serve(listener, app)
        .with_graceful_shutdown(platform::shutdown_signal())
        .await?;
    Ok(())
}

async fn user(State(pool): State<PgPool>, Path(id): Path<Uuid>) -> Result<Json<Value>, StatusCode> {
    let row: Option<(Uuid, String, String, DateTime<Utc>, i64)> = sqlx::query_as(
        "SELECT id, name, email, created_at, balance_cents FROM users WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&pool)
    .await
    .map_err(|_| StatusCode::SERVICE_UNAVAILABLE)?;
    let (id, name, email, created_at, balance_cents) = row.ok_or(StatusCode::NOT_FOUND)?;
    Ok(Json(json!({
        "id": id, "name": name, "email": email,
        "created_at": created_at, "balance_cents": balance_cents,
    })))
}
