//! Store credit: a ledger of top-ups, debits and refunds, each keyed so that
//! a retried call never counts twice, and the balance they sum to.
//!
//! Every change runs in one transaction: look for an entry with the key (a
//! retry: return the balance), move the balance with a conditional UPDATE
//! (the row lock serialises concurrent changes to one user, and the
//! condition refuses an overdraft), insert the entry. Two concurrent calls
//! with one key both reach the insert; the unique key lets one win, and the
//! other rolls back and answers as a retry. A refund that comes before its
//! debit voids the debit's key, so the debit can no longer land.
//!
//! Every statement on `credit_entries`, and on the balance it moves
//! (`users.balance_cents`), is here; `query!` checks them against the
//! migrations at compile time.

use sqlx::PgPool;
use uuid::Uuid;

use crate::error::Error;

use contracts::limits::{MAX_AMOUNT_CENTS, MAX_KEY_CHARS};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    TopUp,
    Debit,
    Refund,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::TopUp => "top_up",
            Kind::Debit => "debit",
            Kind::Refund => "refund",
        }
    }
}

/// Checks an amount and a caller-chosen key before anything is written.
pub(crate) fn validate(amount_cents: i64, key: &str) -> Result<(), Error> {
    if !(1..=MAX_AMOUNT_CENTS).contains(&amount_cents) {
        return Err(Error::invalid(
            "amount_cents",
            format!("must be between 1 and {MAX_AMOUNT_CENTS}, got {amount_cents}"),
        ));
    }
    if key.chars().count() > MAX_KEY_CHARS {
        return Err(Error::invalid(
            "idempotency_key",
            format!("must be at most {MAX_KEY_CHARS} characters"),
        ));
    }
    Ok(())
}

pub(crate) async fn top_up(
    pool: &PgPool,
    user: Uuid,
    amount_cents: i64,
    key: &str,
) -> Result<i64, Error> {
    validate(amount_cents, key)?;
    // Without a key, every call is a new top-up.
    let key = if key.is_empty() {
        format!("top_up:{}", Uuid::now_v7())
    } else {
        format!("top_up:{user}:{key}")
    };
    apply(pool, user, Kind::TopUp, amount_cents, &key).await
}

pub(crate) async fn debit(
    pool: &PgPool,
    user: Uuid,
    amount_cents: i64,
    key: &str,
) -> Result<i64, Error> {
    validate(amount_cents, key)?;
    if key.is_empty() {
        return Err(Error::invalid(
            "idempotency_key",
            "is required for a debit, so that a retry never charges twice",
        ));
    }
    apply(pool, user, Kind::Debit, amount_cents, &debit_key(key)).await
}

/// Gives back what the debit keyed `debit_key` took, at most once. When no
/// such debit exists, voids its key: the debit may still be on its way (the
/// saga compensates when it could not learn the debit's outcome, and a
/// delayed call can land after that), and it must then be refused, not
/// charged for an order already rejected. Debit and void race for the same
/// unique key, so exactly one of them wins.
pub(crate) async fn refund(pool: &PgPool, user: Uuid, debit_key: &str) -> Result<i64, Error> {
    let debit_key = self::debit_key(debit_key);
    let voided = sqlx::query_scalar!(
        r#"
        INSERT INTO credit_entries (id, user_id, kind, amount_cents, idempotency_key)
        VALUES ($1, $2, 'void', 0, $3)
        ON CONFLICT (idempotency_key) DO NOTHING
        RETURNING id
        "#,
        Uuid::now_v7(),
        user,
        debit_key,
    )
    .fetch_optional(pool)
    .await;
    match voided {
        // Nothing was taken, and now nothing will be.
        Ok(Some(_)) => return balance(pool, user).await,
        Ok(None) => {}
        Err(sqlx::Error::Database(e)) if e.constraint() == Some(USER_FOREIGN_KEY) => {
            return Err(Error::NotFound(user));
        }
        Err(e) => return Err(e.into()),
    }
    // The key is taken: by the debit (refund it, once), or by an earlier void.
    let debited = sqlx::query_scalar!(
        r#"
        SELECT amount_cents FROM credit_entries
        WHERE idempotency_key = $1 AND user_id = $2 AND kind = 'debit'
        "#,
        debit_key,
        user,
    )
    .fetch_optional(pool)
    .await?;
    match debited {
        Some(amount) => {
            apply(
                pool,
                user,
                Kind::Refund,
                amount,
                &format!("refund:{debit_key}"),
            )
            .await
        }
        None => balance(pool, user).await,
    }
}

pub(crate) async fn balance(pool: &PgPool, user: Uuid) -> Result<i64, Error> {
    sqlx::query_scalar!("SELECT balance_cents FROM users WHERE id = $1", user)
        .fetch_optional(pool)
        .await?
        .ok_or(Error::NotFound(user))
}

fn debit_key(key: &str) -> String {
    format!("debit:{key}")
}

/// Records the entry and moves the balance in one statement (one round trip,
/// no explicit transaction): the entry's unique key makes a repeat a no-op,
/// the balance's `CHECK (balance_cents >= 0)` refuses an overdraft, and the
/// foreign key an unknown user — each failure undoing the whole statement.
async fn apply(
    pool: &PgPool,
    user: Uuid,
    kind: Kind,
    amount: i64,
    key: &str,
) -> Result<i64, Error> {
    let delta = if kind == Kind::Debit { -amount } else { amount };
    let applied = sqlx::query_scalar!(
        r#"
        WITH entry AS (
            INSERT INTO credit_entries (id, user_id, kind, amount_cents, idempotency_key)
            VALUES ($1, $2, $3, $4, $5)
            ON CONFLICT (idempotency_key) DO NOTHING
            RETURNING user_id
        ), moved AS (
            UPDATE users SET balance_cents = balance_cents + $6
            WHERE id = (SELECT user_id FROM entry)
            RETURNING balance_cents
        )
        SELECT balance_cents AS "balance_cents!" FROM moved
        "#,
        Uuid::now_v7(),
        user,
        kind.as_str(),
        amount,
        key,
        delta,
    )
    .fetch_optional(pool)
    .await;
    match applied {
        Ok(Some(balance_cents)) => {
            tracing::debug!(user_id = %user, kind = kind.as_str(), amount_cents = amount, "credit changed");
            Ok(balance_cents)
        }
        // The key was used before (a retry, or a concurrent twin that
        // committed first): answer as the first call did, if it was the
        // same request.
        Ok(None) => replay(pool, user, kind, amount, key).await,
        Err(sqlx::Error::Database(e)) if e.constraint() == Some(BALANCE_CHECK) => {
            Err(Error::InsufficientCredit {
                balance_cents: balance(pool, user).await?,
                requested_cents: amount,
            })
        }
        Err(sqlx::Error::Database(e)) if e.constraint() == Some(USER_FOREIGN_KEY) => {
            Err(Error::NotFound(user))
        }
        Err(e) => Err(e.into()),
    }
}

/// Named by Postgres for `balance_cents ... CHECK (balance_cents >= 0)` and
/// `user_id ... REFERENCES users` (migration 0002).
const BALANCE_CHECK: &str = "users_balance_cents_check";
const USER_FOREIGN_KEY: &str = "credit_entries_user_id_fkey";

async fn replay(
    pool: &PgPool,
    user: Uuid,
    kind: Kind,
    amount: i64,
    key: &str,
) -> Result<i64, Error> {
    let existing = sqlx::query!(
        "SELECT user_id, kind, amount_cents FROM credit_entries WHERE idempotency_key = $1",
        key,
    )
    .fetch_optional(pool)
    .await?
    .map(|e| (e.user_id, e.kind, e.amount_cents));
    match existing {
        Some(entry) if entry == (user, kind.as_str().to_owned(), amount) => {
            balance(pool, user).await
        }
        Some((_, existing_kind, _)) if kind == Kind::Debit && existing_kind == "void" => {
            Err(Error::DebitVoided)
        }
        _ => Err(Error::IdempotencyKeyReused),
    }
}
