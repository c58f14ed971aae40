//! Store credit: every change counted once, never an overdraft, and the
//! balance always equal to what the ledger says.

use contracts::user as pb;
use sqlx::PgPool;
use tonic::Code;

use crate::helpers::TestApp;

fn change(user: &str, amount_cents: i64, key: &str) -> pb::CreditChange {
    pb::CreditChange {
        user_id: user.into(),
        amount_cents,
        idempotency_key: key.into(),
    }
}

async fn user(app: &mut TestApp) -> String {
    let user = app
        .users
        .create(pb::CreateUser {
            name: "Buyer".into(),
            email: format!("{}@example.com", uuid::Uuid::now_v7()),
            password: crate::helpers::PASSWORD.into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(user.balance_cents, 0);
    user.id
}

/// balance = top-ups - debits + refunds, for every user.
async fn assert_ledger_balances(pool: &PgPool) {
    let mismatches: i64 = sqlx::query_scalar(
        r#"
        SELECT count(*) FROM users u
        WHERE u.balance_cents <> COALESCE((
            SELECT sum(CASE kind WHEN 'debit' THEN -amount_cents ELSE amount_cents END)
            FROM credit_entries e WHERE e.user_id = u.id), 0)
        "#,
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(mismatches, 0, "a balance disagrees with its ledger");
}

#[sqlx::test(migrator = "user_service::MIGRATOR")]
async fn top_up_then_debit_moves_the_balance_and_find_one_shows_it(pool: PgPool) {
    let mut app = TestApp::spawn(pool.clone()).await;
    let id = user(&mut app).await;

    let after_top_up = app
        .users
        .top_up(change(&id, 5_000, ""))
        .await
        .unwrap()
        .into_inner();
    let after_debit = app
        .saga
        .debit(change(&id, 1_250, "order-1"))
        .await
        .unwrap()
        .into_inner();
    let found = app
        .users
        .find_one(pb::UserById { id: id.clone() })
        .await
        .unwrap()
        .into_inner();

    assert_eq!(after_top_up.balance_cents, 5_000);
    assert_eq!(after_debit.balance_cents, 3_750);
    assert_eq!(found.balance_cents, 3_750);
    assert_ledger_balances(&pool).await;
}

#[sqlx::test(migrator = "user_service::MIGRATOR")]
async fn a_debit_above_the_balance_is_refused_and_takes_nothing(pool: PgPool) {
    let mut app = TestApp::spawn(pool.clone()).await;
    let id = user(&mut app).await;
    app.users.top_up(change(&id, 1_000, "")).await.unwrap();

    let status = app
        .saga
        .debit(change(&id, 1_001, "order-1"))
        .await
        .unwrap_err();

    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(
        status.message().contains("insufficient credit"),
        "{}",
        status.message()
    );
    let found = app
        .users
        .find_one(pb::UserById { id })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(found.balance_cents, 1_000);
    assert_ledger_balances(&pool).await;
}

#[sqlx::test(migrator = "user_service::MIGRATOR")]
async fn a_retried_debit_charges_once_even_when_the_retries_race(pool: PgPool) {
    let mut app = TestApp::spawn(pool.clone()).await;
    let id = user(&mut app).await;
    app.users.top_up(change(&id, 10_000, "")).await.unwrap();

    let mut retries = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let mut client = app.saga.clone();
        let request = change(&id, 3_000, "order-7");
        retries.spawn(async move {
            client
                .debit(request)
                .await
                .map(|r| r.into_inner().balance_cents)
        });
    }
    let balances: Vec<i64> = retries
        .join_all()
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();

    assert!(balances.iter().all(|b| *b == 7_000), "{balances:?}");
    assert_ledger_balances(&pool).await;
}

#[sqlx::test(migrator = "user_service::MIGRATOR")]
async fn a_refund_returns_a_debit_once_and_voids_one_that_has_not_arrived(pool: PgPool) {
    let mut app = TestApp::spawn(pool.clone()).await;
    let id = user(&mut app).await;
    app.users.top_up(change(&id, 2_000, "")).await.unwrap();
    app.saga.debit(change(&id, 500, "order-1")).await.unwrap();

    let refund = |key: &str| pb::RefundRequest {
        user_id: id.clone(),
        debit_idempotency_key: key.into(),
    };
    let first = app
        .saga
        .refund(refund("order-1"))
        .await
        .unwrap()
        .into_inner();
    let again = app
        .saga
        .refund(refund("order-1"))
        .await
        .unwrap()
        .into_inner();
    let never_debited = app
        .saga
        .refund(refund("order-2"))
        .await
        .unwrap()
        .into_inner();

    // The saga gave up on the debit of order-2 and refunded it before the
    // debit, delayed on its way, arrived: it must not charge now.
    let late = app
        .saga
        .debit(change(&id, 500, "order-2"))
        .await
        .unwrap_err();
    let balance = app
        .users
        .find_one(pb::UserById { id: id.clone() })
        .await
        .unwrap()
        .into_inner()
        .balance_cents;

    assert_eq!(
        (
            first.balance_cents,
            again.balance_cents,
            never_debited.balance_cents
        ),
        (2_000, 2_000, 2_000)
    );
    assert_eq!(late.code(), Code::FailedPrecondition, "{late:?}");
    assert!(late.message().contains("cancelled"), "{late:?}");
    assert_eq!(balance, 2_000, "the late debit took credit");
    assert_ledger_balances(&pool).await;
}

#[sqlx::test(migrator = "user_service::MIGRATOR")]
async fn bad_amounts_keys_and_users_are_refused(pool: PgPool) {
    let mut app = TestApp::spawn(pool).await;
    let id = user(&mut app).await;
    app.users.top_up(change(&id, 100, "")).await.unwrap();
    app.saga.debit(change(&id, 50, "k")).await.unwrap();

    let cases = [
        (
            app.users.top_up(change(&id, 0, "")).await,
            Code::InvalidArgument,
        ),
        (
            app.users.top_up(change(&id, -5, "")).await,
            Code::InvalidArgument,
        ),
        (
            app.saga.debit(change(&id, 10, "")).await,
            Code::InvalidArgument,
        ),
        (
            app.saga.debit(change(&id, 20, "k")).await,
            Code::FailedPrecondition,
        ),
        (
            app.users.top_up(change("nope", 10, "")).await,
            Code::InvalidArgument,
        ),
        (
            app.users
                .top_up(change(&uuid::Uuid::now_v7().to_string(), 10, ""))
                .await,
            Code::NotFound,
        ),
    ];
    for (i, (result, code)) in cases.into_iter().enumerate() {
        assert_eq!(result.unwrap_err().code(), code, "case {i}");
    }
}
