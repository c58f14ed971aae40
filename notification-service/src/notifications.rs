//! Turning events into notifications, exactly once each.
//!
//! Every handler claims the event id in the inbox (`processed_events`)
//! atomically with its effects, which only apply on the first delivery:
//! claim and notification are one statement (`record_once`); user_created,
//! which also updates the recipients projection, runs both in a transaction
//! it commits only when the claim succeeded. A redelivered or republished
//! event (the outbox relay publishes at least once) claims nothing and
//! changes nothing.

use chrono::{DateTime, Utc};
use contracts::{
    events::{Event, OrderConfirmed, OrderRejected, UserCreated},
    notifications::Notification,
};
use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

use crate::Error;

/// Records the welcome email, and the user as a recipient for later events.
/// The recipient goes in first, in the same transaction, so the welcome is
/// addressed to the new email; a duplicate event rolls it back with the
/// claim that found the event already processed.
pub async fn user_created(pool: &PgPool, event: Event<UserCreated>) -> Result<(), Error> {
    let event_id = event.event_id;
    let user_id = event.body.user_id;
    let mut tx = pool.begin().await?;
    sqlx::query(
        r#"
        INSERT INTO recipients (user_id, name, email) VALUES ($1, $2, $3)
        ON CONFLICT (user_id) DO UPDATE SET name = EXCLUDED.name, email = EXCLUDED.email
        "#,
    )
    .bind(user_id)
    .bind(&event.body.name)
    .bind(&event.body.email)
    .execute(&mut *tx)
    .await?;
    let body = format!("Hello {}, welcome to the shop!", event.body.name);
    if record_once(
        &mut *tx,
        event_id,
        "user_created",
        user_id,
        "Welcome",
        &body,
    )
    .await?
    {
        tx.commit().await?;
    }
    Ok(())
}

pub async fn order_confirmed(pool: &PgPool, event: Event<OrderConfirmed>) -> Result<(), Error> {
    let event_id = event.event_id;
    let user_id = event.body.user_id;
    let subject = format!("Order {} confirmed", event.body.order_id);
    let body = format!(
        "Your order {} is confirmed; {} was charged to your store credit.",
        event.body.order_id,
        money(event.body.total_cents)
    );
    record_once(pool, event_id, "order_confirmed", user_id, &subject, &body).await?;
    Ok(())
}

pub async fn order_rejected(pool: &PgPool, event: Event<OrderRejected>) -> Result<(), Error> {
    let event_id = event.event_id;
    let user_id = event.body.user_id;
    let subject = format!("Order {} could not be placed", event.body.order_id);
    let body = format!(
        "We could not place your order {}: {}. Nothing was charged.",
        event.body.order_id, event.body.reason
    );
    record_once(pool, event_id, "order_rejected", user_id, &subject, &body).await?;
    Ok(())
}

/// Claims the event in the inbox and records the email its notification
/// would send, in one statement; `false` (and nothing written) when the
/// event was processed before. Atomic on its own, so an event whose only
/// effect is its notification needs no explicit transaction. The recipient
/// comes from the local projection of user_created; a user created before
/// this service first ran is addressed by id until a later event names them.
async fn record_once(
    db: impl PgExecutor<'_>,
    event_id: Uuid,
    event: &str,
    user_id: Uuid,
    subject: &str,
    body: &str,
) -> Result<bool, Error> {
    let recorded = sqlx::query(
        r#"
        WITH claim AS (
            INSERT INTO processed_events (event_id, event) VALUES ($2, $3)
            ON CONFLICT DO NOTHING
            RETURNING event_id
        )
        INSERT INTO notifications (id, event_id, event, user_id, recipient, subject, body)
        SELECT $1, claim.event_id, $3, $4,
               COALESCE((SELECT email FROM recipients WHERE user_id = $4), 'user:' || $4::text),
               $5, $6
        FROM claim
        "#,
    )
    .bind(Uuid::now_v7())
    .bind(event_id)
    .bind(event)
    .bind(user_id)
    .bind(subject)
    .bind(body)
    .execute(db)
    .await?
    .rows_affected();
    if recorded == 0 {
        tracing::info!(%event_id, event, "duplicate event ignored");
        return Ok(false);
    }
    tracing::debug!(%event_id, event, "notification recorded");
    Ok(true)
}

/// The user's notifications, newest first.
pub async fn list(pool: &PgPool, user_id: Uuid) -> Result<Vec<Notification>, Error> {
    let rows: Vec<NotificationRow> = sqlx::query_as(
        r#"
        SELECT id, user_id, event, event_id, recipient, subject, body, created_at
        FROM notifications WHERE user_id = $1
        ORDER BY created_at DESC, id DESC
        LIMIT 100
        "#,
    )
    .bind(user_id)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

#[derive(sqlx::FromRow)]
struct NotificationRow {
    id: Uuid,
    user_id: Uuid,
    event: String,
    event_id: Uuid,
    recipient: String,
    subject: String,
    body: String,
    created_at: DateTime<Utc>,
}

impl From<NotificationRow> for Notification {
    fn from(row: NotificationRow) -> Self {
        Self {
            id: row.id,
            user_id: row.user_id,
            event: row.event,
            event_id: row.event_id,
            recipient: row.recipient,
            subject: row.subject,
            body: row.body,
            created_at: row.created_at,
        }
    }
}

fn money(cents: i64) -> String {
    format!("{}.{:02}", cents / 100, (cents % 100).abs())
}
