//! A real NestJS client (`ClientProxy`, `Transport.RMQ`) places an order with
//! the Rust order-service: the swap-one-service-at-a-time promise.

use std::{path::PathBuf, sync::OnceLock, time::Duration};

use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::{TestApp, amqp_url};

fn interop_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../interop/nestjs")
}

/// Runs interop/nestjs/client.js once: `{"response": R}` or `{"err": E}`.
async fn nestjs_send(queue: &str, pattern: &str, data: Value) -> Value {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let status = std::process::Command::new(interop_dir().join("install.sh"))
            .status()
            .unwrap();
        assert!(
            status.success(),
            "installing the NestJS peers failed (needs node and npm)"
        );
    });
    let run = tokio::process::Command::new("node")
        .arg(interop_dir().join("client.js"))
        .env("AMQP_URL", amqp_url())
        .env("QUEUE", queue)
        .env("PATTERN", pattern)
        .env("DATA", data.to_string())
        .output();
    let output = tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .unwrap()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    // NestJS logs to stdout too; the outcome is the last line.
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|e| panic!("{e}: NestJS client printed {stdout:?}"))
}

#[sqlx::test(migrator = "order_service::MIGRATOR")]
async fn a_nestjs_client_places_an_order_with_the_rust_order_service(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let user = app.user().await;

    let placed = nestjs_send(
        &app.queue,
        "create_order",
        json!({"user_id": user, "items": [{"sku": "HOODIE-GREY-L", "quantity": 1}]}),
    )
    .await;
    let refused = nestjs_send(
        &app.queue,
        "create_order",
        json!({"user_id": user, "items": [{"sku": "HOODIE-GREY-L", "quantity": 999}]}),
    )
    .await;

    let order = &placed["response"];
    assert_eq!(order["status"], "confirmed", "{placed}");
    assert_eq!(order["total_cents"], 4999, "{placed}");
    assert_eq!(refused["err"]["code"], "FAILED_PRECONDITION", "{refused}");
    assert_eq!(app.stock("HOODIE-GREY-L").await, 19);
    app.cleanup().await;
}
