use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::{TestApp, error_code, remote_error};

#[sqlx::test(migrator = "order_service::MIGRATOR")]
async fn an_order_is_placed_priced_and_stock_reserved(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let user = app.user().await;

    let order = app
        .create_order(
            user,
            json!([{"sku": "TEE-BLACK-M", "quantity": 2}, {"sku": "MUG-STEEL", "quantity": 1}]),
        )
        .await
        .unwrap();

    assert_eq!(order["status"], "confirmed");
    assert_eq!(order["user_id"], user.to_string());
    assert_eq!(order["total_cents"], 2 * 1999 + 1250);
    assert_eq!(order["items"].as_array().unwrap().len(), 2);
    assert_eq!(app.stock("TEE-BLACK-M").await, 98);
    assert_eq!(app.stock("MUG-STEEL").await, 49);

    let fetched = app
        .client
        .send_value("get_order", json!({"id": order["id"]}))
        .await
        .unwrap();
    assert_eq!(fetched, order);
    let listed = app
        .client
        .send_value("list_orders", json!({"user_id": user}))
        .await
        .unwrap();
    assert_eq!(listed["orders"], json!([order]));
    app.cleanup().await;
}

#[sqlx::test(migrator = "order_service::MIGRATOR")]
async fn list_products_returns_the_seeded_catalogue(pool: PgPool) {
    let app = TestApp::spawn(pool).await;

    let list = app
        .client
        .send_value("list_products", json!({}))
        .await
        .unwrap();

    let skus: Vec<&str> = list["products"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["sku"].as_str().unwrap())
        .collect();
    assert_eq!(
        skus,
        [
            "CAP-NAVY",
            "HOODIE-GREY-L",
            "MUG-STEEL",
            "STICKER-PACK",
            "TEE-BLACK-M"
        ]
    );
    app.cleanup().await;
}

#[sqlx::test(migrator = "order_service::MIGRATOR")]
async fn an_unknown_user_or_order_is_not_found(pool: PgPool) {
    let app = TestApp::spawn(pool).await;

    let unknown_user = app
        .create_order(Uuid::now_v7(), json!([{"sku": "MUG-STEEL", "quantity": 1}]))
        .await;
    let unknown_order = app
        .client
        .send_value("get_order", json!({"id": Uuid::now_v7()}))
        .await;

    assert_eq!(error_code(unknown_user), "NOT_FOUND");
    assert_eq!(error_code(unknown_order), "NOT_FOUND");
    assert_eq!(app.stock("MUG-STEEL").await, 50);
    app.cleanup().await;
}

#[sqlx::test(migrator = "order_service::MIGRATOR")]
async fn invalid_orders_are_rejected_with_a_reason_and_change_nothing(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let user = app.user().await;

    for items in [
        json!([]),
        json!([{"sku": "NOPE", "quantity": 1}]),
        json!([{"sku": "MUG-STEEL", "quantity": 0}]),
        json!([{"sku": "MUG-STEEL", "quantity": -3}]),
        json!([{"sku": "MUG-STEEL", "quantity": 1_000_000}]),
        json!([{"sku": "", "quantity": 1}]),
    ] {
        let result = app.create_order(user, items.clone()).await;
        let Err(messaging::RpcError::Remote(err)) = result else {
            panic!("{items}: {result:?}")
        };
        assert_eq!(err["code"], "INVALID_ARGUMENT", "{items}");
        assert!(err["message"].as_str().unwrap().len() > 10, "{err}");
    }
    assert_eq!(app.order_count().await, 0);
    assert_eq!(app.stock("MUG-STEEL").await, 50);
    app.cleanup().await;
}

#[sqlx::test(migrator = "order_service::MIGRATOR")]
async fn insufficient_stock_is_a_failed_precondition_and_reserves_nothing(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let user = app.user().await;

    let result = app
        .create_order(
            user,
            json!([{"sku": "MUG-STEEL", "quantity": 1}, {"sku": "CAP-NAVY", "quantity": 4}]),
        )
        .await;

    let err = remote_error(result);
    assert_eq!(err["code"], "FAILED_PRECONDITION");
    assert!(
        err["message"].as_str().unwrap().contains("CAP-NAVY"),
        "{err}"
    );
    assert_eq!(
        app.stock("MUG-STEEL").await,
        50,
        "the whole order rolled back"
    );
    assert_eq!(app.stock("CAP-NAVY").await, 3);
    app.cleanup().await;
}

#[sqlx::test(migrator = "order_service::MIGRATOR")]
async fn concurrent_orders_never_oversell(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let user = app.user().await;

    let mut orders = tokio::task::JoinSet::new();
    for _ in 0..12 {
        let client = app.client.clone();
        orders.spawn(async move {
            client
                .send_value(
                    "create_order",
                    json!({"user_id": user, "items": [{"sku": "CAP-NAVY", "quantity": 1}]}),
                )
                .await
        });
    }
    let results: Vec<Result<Value, _>> = orders.join_all().await;

    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        3,
        "stock was 3"
    );
    assert_eq!(app.stock("CAP-NAVY").await, 0);
    // Every attempt is an order; the ones that found no stock are rejected.
    let confirmed: i64 =
        sqlx::query_scalar("SELECT count(*) FROM orders WHERE status = 'confirmed'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!((confirmed, app.order_count().await), (3, 12));
    app.cleanup().await;
}

#[sqlx::test(migrator = "order_service::MIGRATOR")]
async fn a_total_past_i64_is_invalid_and_changes_nothing(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let user = app.user().await;
    sqlx::query("INSERT INTO products (sku, name, price_cents, stock) VALUES ('GOLD-BAR', 'Gold', $1, 5000)")
        .bind(i64::MAX / 100)
        .execute(&app.pool)
        .await
        .unwrap();

    let result = app
        .create_order(
            user,
            json!([{"sku": "GOLD-BAR", "quantity": 1000}, {"sku": "MUG-STEEL", "quantity": 1}]),
        )
        .await;

    let err = remote_error(result);
    assert_eq!(err["code"], "INVALID_ARGUMENT", "{err}");
    assert_eq!(app.stock("GOLD-BAR").await, 5000);
    assert_eq!(app.stock("MUG-STEEL").await, 50);
    assert_eq!(app.order_count().await, 0);
    app.cleanup().await;
}

/// Orders sharing several products lock them in one order (SKU order),
/// whatever order their lines were sent in: none deadlocks, none oversells.
#[sqlx::test(migrator = "order_service::MIGRATOR")]
async fn concurrent_orders_over_the_same_products_all_go_through(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let user = app.user().await;

    let mut orders = tokio::task::JoinSet::new();
    for i in 0..16 {
        let client = app.client.clone();
        let mut items = vec![
            json!({"sku": "TEE-BLACK-M", "quantity": 1}),
            json!({"sku": "MUG-STEEL", "quantity": 2}),
        ];
        if i % 2 == 0 {
            items.reverse();
        }
        orders.spawn(async move {
            client
                .send_value("create_order", json!({"user_id": user, "items": items}))
                .await
        });
    }
    for result in orders.join_all().await {
        let order = result.expect("every order has stock");
        assert_eq!(order["status"], "confirmed", "{order}");
    }
    assert_eq!(app.stock("TEE-BLACK-M").await, 100 - 16);
    assert_eq!(app.stock("MUG-STEEL").await, 50 - 32);
    app.cleanup().await;
}
