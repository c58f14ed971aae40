//! The order saga across order-service and user-service: success, business
//! rejections with compensation, user-service down, and a crash between every
//! pair of steps — with the invariants checked after each.

use std::time::Duration;

use contracts::{
    orders::{CreateOrder, OrderLine, OrderStatus},
    user::{CreditChange, RefundRequest, user_service_client::UserServiceClient},
};
use order_service::{
    Config,
    new_order::NewOrder,
    orders, placing,
    saga::{Saga, SagaStep, debit_key},
    users::UserClient,
};
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::{TestApp, amqp_url, remote_error};

/// The seed catalogue's stock (order-service's first migration).
const SEED: &[(&str, i64)] = &[
    ("CAP-NAVY", 3),
    ("HOODIE-GREY-L", 20),
    ("MUG-STEEL", 50),
    ("STICKER-PACK", 500),
    ("TEE-BLACK-M", 100),
];

/// Stock: initial = available + reserved (pending orders) + sold (confirmed).
/// Credit: every balance equals its ledger, and every order's net charge is
/// its total when confirmed and zero otherwise (once its saga is done).
async fn assert_invariants(app: &TestApp) {
    let (pool, users) = (&app.pool, &app.users_db.pool);
    for (sku, initial) in SEED {
        let accounted: i64 = sqlx::query_scalar(
            r#"
            SELECT p.stock + COALESCE((
                SELECT sum(i.quantity) FROM order_items i JOIN orders o ON o.id = i.order_id
                WHERE i.sku = p.sku AND o.status IN ('pending', 'confirmed')), 0)
            FROM products p WHERE p.sku = $1
            "#,
        )
        .bind(sku)
        .fetch_one(pool)
        .await
        .unwrap();
        assert_eq!(accounted, *initial, "stock of {sku} does not add up");
    }
    let bad_balances: i64 = sqlx::query_scalar(
        r#"
        SELECT count(*) FROM users u
        WHERE u.balance_cents <> COALESCE((
            SELECT sum(CASE kind WHEN 'debit' THEN -amount_cents ELSE amount_cents END)
            FROM credit_entries e WHERE e.user_id = u.id), 0)
        "#,
    )
    .fetch_one(users)
    .await
    .unwrap();
    assert_eq!(bad_balances, 0, "a balance disagrees with its ledger");
    // Charges are in user-service's ledger, orders in order-service's
    // database: two databases, so the join is done here.
    let done: Vec<(Uuid, String, i64)> =
        sqlx::query_as("SELECT id, status, total_cents FROM orders WHERE saga_step = 'done'")
            .fetch_all(pool)
            .await
            .unwrap();
    let mut bad_charges = Vec::new();
    for (id, status, total) in done {
        let net: i64 = sqlx::query_scalar(
                r#"
                SELECT COALESCE(sum(CASE kind WHEN 'debit' THEN amount_cents ELSE -amount_cents END), 0)::bigint
                FROM credit_entries
                WHERE idempotency_key IN ('debit:order:' || $1::text, 'refund:debit:order:' || $1::text)
                "#,
            )
            .bind(id)
            .fetch_one(users)
            .await
            .unwrap();
        if net != if status == "confirmed" { total } else { 0 } {
            bad_charges.push((id, status, total, net));
        }
    }
    assert!(
        bad_charges.is_empty(),
        "orders charged wrongly: {bad_charges:?}"
    );
    // Events: one order_confirmed or order_rejected per finished order, in
    // the outbox with the change that decided it, and none for pending ones.
    let bad_events: i64 = sqlx::query_scalar(
        r#"
        SELECT count(*) FROM orders o
        WHERE (SELECT count(*) FROM outbox e WHERE e.payload->>'order_id' = o.id::text)
           <> CASE o.saga_step WHEN 'done' THEN 1 ELSE 0 END
           OR (o.saga_step = 'done' AND NOT EXISTS (
                SELECT 1 FROM outbox e WHERE e.payload->>'order_id' = o.id::text
                AND e.name = CASE o.status WHEN 'confirmed' THEN 'order_confirmed' ELSE 'order_rejected' END))
        "#,
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(bad_events, 0, "an order has the wrong events");
}

async fn order_row(pool: &PgPool, id: &str) -> (String, String) {
    sqlx::query_as("SELECT status, saga_step FROM orders WHERE id = $1::uuid")
        .bind(id)
        .fetch_one(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrator = "order_service::MIGRATOR")]
async fn a_paid_order_is_confirmed_and_charged_once(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let user = app.user_with_credit(10_000).await;

    let order = app
        .create_order(user, json!([{"sku": "MUG-STEEL", "quantity": 2}]))
        .await
        .unwrap();

    assert_eq!(order["status"], "confirmed");
    assert_eq!(app.balance(user).await, 10_000 - 2_500);
    assert_eq!(app.stock("MUG-STEEL").await, 48);
    assert_invariants(&app).await;
    app.cleanup().await;
}

#[sqlx::test(migrator = "order_service::MIGRATOR")]
async fn insufficient_credit_rejects_the_order_with_its_id_and_restores_stock(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let user = app.user_with_credit(1_000).await;

    let result = app
        .create_order(user, json!([{"sku": "HOODIE-GREY-L", "quantity": 1}]))
        .await;

    let err = remote_error(result);
    assert_eq!(err["code"], "FAILED_PRECONDITION", "{err}");
    assert!(
        err["details"]["reason"]
            .as_str()
            .unwrap()
            .contains("insufficient credit"),
        "{err}"
    );
    let id = err["details"]["order_id"].as_str().unwrap();
    assert_eq!(
        order_row(&pool, id).await,
        ("rejected".into(), "done".into())
    );
    assert_eq!(app.balance(user).await, 1_000);
    assert_eq!(app.stock("HOODIE-GREY-L").await, 20);
    assert_invariants(&app).await;
    app.cleanup().await;
}

#[sqlx::test(migrator = "order_service::MIGRATOR")]
async fn out_of_stock_rejects_the_order_without_charging(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let user = app.user_with_credit(100_000).await;

    let result = app
        .create_order(user, json!([{"sku": "CAP-NAVY", "quantity": 5}]))
        .await;

    let err = remote_error(result);
    assert_eq!(err["code"], "FAILED_PRECONDITION", "{err}");
    assert!(
        err["details"]["reason"]
            .as_str()
            .unwrap()
            .contains("insufficient stock"),
        "{err}"
    );
    assert_eq!(app.balance(user).await, 100_000);
    assert_invariants(&app).await;
    app.cleanup().await;
}

/// A saga driver for tests that drive or recover sagas themselves.
async fn saga(pool: &PgPool, user_service_url: &str) -> Saga {
    let mut config = Config::new("postgres://unused", amqp_url());
    config.user_service_url = user_service_url.to_owned();
    config.tls = crate::helpers::pki().tls(contracts::identity::ORDER_SERVICE);
    config.user_service_timeout = Duration::from_millis(500);
    Saga {
        pool: pool.clone(),
        users: UserClient::connect_lazy(&config).await.unwrap(),
        attempts: 2,
        retry_delay: Duration::from_millis(10),
        outbox: Default::default(),
    }
}

/// Step 1 only, as if the process died right after it: a pending order with
/// its stock reserved and nothing charged.
async fn reserved_order(pool: &PgPool, user: Uuid) -> Uuid {
    let request = CreateOrder {
        user_id: user,
        items: vec![OrderLine {
            sku: "TEE-BLACK-M".into(),
            quantity: 3,
        }],
        idempotency_key: None,
    };
    let new = NewOrder::parse(request, &Uuid::now_v7().to_string()).unwrap();
    let order = placing::place(pool, &Default::default(), new)
        .await
        .unwrap();
    assert_eq!(order.status, OrderStatus::Pending);
    order.id
}

#[sqlx::test(migrator = "order_service::MIGRATOR")]
async fn user_service_down_during_the_charge_is_retried_then_compensated(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let user = app.user_with_credit(100_000).await;
    let order = reserved_order(&pool, user).await;

    // user-service unreachable: the charge is retried, then the saga turns
    // to compensation, whose refund must wait for user-service too.
    let down = saga(&pool, "https://127.0.0.1:1").await;
    let stuck = down.drive(order).await.unwrap();
    assert_eq!(stuck.status, OrderStatus::Pending);
    assert_eq!(order_row(&pool, &order.to_string()).await.1, "compensating");

    // user-service is back: recovery finishes the compensation.
    let up = saga(&pool, &app.user_service_url).await;
    assert_eq!(up.recover(Duration::ZERO).await.unwrap(), 1);
    let done = orders::find(&pool, order).await.unwrap();
    assert_eq!(done.status, OrderStatus::Rejected);
    assert!(done.reason.unwrap().contains("payment is unavailable"));
    assert_eq!(app.balance(user).await, 100_000);
    assert_eq!(app.stock("TEE-BLACK-M").await, 100);
    assert_invariants(&app).await;
    app.cleanup().await;
}

#[sqlx::test(migrator = "order_service::MIGRATOR")]
async fn a_crash_between_any_two_steps_is_resumed_by_recovery(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let recovery = saga(&pool, &app.user_service_url).await;
    let mut users =
        UserServiceClient::new(crate::helpers::user_service_channel(&app.user_service_url).await);
    let debit = |user: Uuid, order: Uuid| CreditChange {
        user_id: user.to_string(),
        amount_cents: 3 * 1999,
        idempotency_key: debit_key(order),
    };
    let set_step = |order: Uuid, step: SagaStep| {
        sqlx::query("UPDATE orders SET saga_step = $2 WHERE id = $1")
            .bind(order)
            .bind(step)
            .execute(&pool)
    };
    let user = app.user_with_credit(100_000).await;

    // 1. reserved, not charged → charged once, confirmed.
    let a = reserved_order(&pool, user).await;
    // 2. charged, not confirmed → not charged again, confirmed.
    let b = reserved_order(&pool, user).await;
    users.debit(debit(user, b)).await.unwrap();
    // 3. charged, compensation decided, not refunded → refunded, released, rejected.
    let c = reserved_order(&pool, user).await;
    users.debit(debit(user, c)).await.unwrap();
    set_step(c, SagaStep::Compensating).await.unwrap();
    // 4. refunded, not released → not refunded again, released, rejected.
    let d = reserved_order(&pool, user).await;
    users.debit(debit(user, d)).await.unwrap();
    set_step(d, SagaStep::Compensating).await.unwrap();
    users
        .refund(RefundRequest {
            user_id: user.to_string(),
            debit_idempotency_key: debit_key(d),
        })
        .await
        .unwrap();

    assert_eq!(recovery.recover(Duration::ZERO).await.unwrap(), 4);

    let statuses = statuses_of(&pool, &[a, b, c, d]).await;
    assert_eq!(
        statuses,
        [
            OrderStatus::Confirmed,
            OrderStatus::Confirmed,
            OrderStatus::Rejected,
            OrderStatus::Rejected
        ]
    );
    assert_eq!(app.balance(user).await, 100_000 - 2 * 3 * 1999);
    assert_eq!(app.stock("TEE-BLACK-M").await, 100 - 2 * 3);
    assert_invariants(&app).await;
    // A second pass finds nothing left to do.
    assert_eq!(recovery.recover(Duration::ZERO).await.unwrap(), 0);
    app.cleanup().await;
}

async fn statuses_of(pool: &PgPool, ids: &[Uuid]) -> Vec<OrderStatus> {
    let mut statuses = Vec::new();
    for id in ids {
        statuses.push(orders::find(pool, *id).await.unwrap().status);
    }
    statuses
}

#[sqlx::test(migrator = "order_service::MIGRATOR")]
async fn many_orders_with_mixed_credit_keep_every_invariant(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let rich = app.user_with_credit(1_000_000).await;
    let poor = app.user_with_credit(3_000).await;

    let mut orders = tokio::task::JoinSet::new();
    for i in 0..30 {
        let client = app.client.clone();
        let user = if i % 3 == 0 { poor } else { rich };
        orders.spawn(async move {
            client
                .send_value(
                    "create_order",
                    json!({"user_id": user, "items": [{"sku": "MUG-STEEL", "quantity": 1}]}),
                )
                .await
        });
    }
    let results: Vec<Result<Value, _>> = orders.join_all().await;

    let confirmed = results.iter().filter(|r| r.is_ok()).count();
    let pending: i64 = sqlx::query_scalar("SELECT count(*) FROM orders WHERE status = 'pending'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(pending, 0, "every saga finished");
    assert_eq!(
        confirmed as i64,
        50 - i64::from(app.stock("MUG-STEEL").await)
    );
    assert_eq!(
        app.balance(poor).await,
        3_000 - 2 * 1_250,
        "the poor user could afford two mugs"
    );
    assert_invariants(&app).await;
    app.cleanup().await;
}
