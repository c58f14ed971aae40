//! Turning events into notifications, exactly once each.
//!
//! Every handler claims the event id in the inbox (`processed_events`) in
//! the same transaction as its effects, which only apply on the first
//! delivery: user_created in an explicit transaction (two effects), order
//! events in one statement (their only effect is the notification). A
//! redelivered or republished event (the outbox relay publishes at least
//! once) claims nothing and changes nothing.

use chrono::{DateTime, SecondsFormat, Utc};
use contracts::{
    events::{Event, OrderConfirmed, OrderRejected, UserCreated},
    notifications::Notification,
};
use sqlx::{PgConnection, PgPool, Postgres, Transaction};
use uuid::Uuid;

use crate::Error;

/// Records the welcome email, and the user as a recipient for later events.
pub async fn user_created(pool: &PgPool, event: Event<UserCreated>) -> Result<(), Error> {
    let event_id = parse("event_id", &event.event_id)?;
    let Some(mut tx) = begin_once(pool, event_id, "user_created").await? else {
        return Ok(());
    };
    let user_id = parse("user_id", &event.body.user_id)?;
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
    record(&mut tx, event_id, "user_created", user_id, "Welcome", &body).await?;
    tx.commit().await?;
    Ok(())
}

pub async fn order_confirmed(pool: &PgPool, event: Event<OrderConfirmed>) -> Result<(), Error> {
    let event_id = parse("event_id", &event.event_id)?;
    let user_id = parse("user_id", &event.body.user_id)?;
    let subject = format!("Order {} confirmed", event.body.order_id);
    let body = format!(
        "Your order {} is confirmed; {} was charged to your store credit.",
        event.body.order_id,
        money(event.body.total_cents)
    );
    record_once(pool, event_id, "order_confirmed", user_id, &subject, &body).await
}

pub async fn order_rejected(pool: &PgPool, event: Event<OrderRejected>) -> Result<(), Error> {
    let event_id = parse("event_id", &event.event_id)?;
    let user_id = parse("user_id", &event.body.user_id)?;
    let subject = format!("Order {} could not be placed", event.body.order_id);
    let body = format!(
        "We could not place your order {}: {}. Nothing was charged.",
        event.body.order_id, event.body.reason
    );
    record_once(pool, event_id, "order_rejected", user_id, &subject, &body).await
}

/// An event whose only effect is its notification: the inbox claim and the
/// notification are one statement — atomic on its own, one round trip, no
/// explicit transaction. A claimed-before event inserts nothing.
async fn record_once(
    pool: &PgPool,
    event_id: Uuid,
    event: &str,
    user_id: Uuid,
    subject: &str,
    body: &str,
) -> Result<(), Error> {
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
    .execute(pool)
    .await?
    .rows_affected();
    if recorded == 0 {
        tracing::info!(%event_id, event, "duplicate event ignored");
    } else {
        tracing::debug!(%event_id, event, "notification recorded");
    }
    Ok(())
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
            id: row.id.to_string(),
            user_id: row.user_id.to_string(),
            event: row.event,
            event_id: row.event_id.to_string(),
            recipient: row.recipient,
            subject: row.subject,
            body: row.body,
            created_at: row.created_at.to_rfc3339_opts(SecondsFormat::Millis, true),
        }
    }
}

/// Begins the transaction that handles an event, having claimed its id in
/// the inbox; `None` (and nothing written) when it was processed before.
async fn begin_once(
    pool: &PgPool,
    event_id: Uuid,
    event: &str,
) -> Result<Option<Transaction<'static, Postgres>>, Error> {
    let mut tx = pool.begin().await?;
    let claimed = sqlx::query(
        "INSERT INTO processed_events (event_id, event) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(event_id)
    .bind(event)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if claimed == 0 {
        tracing::info!(%event_id, event, "duplicate event ignored");
        return Ok(None);
    }
    Ok(Some(tx))
}

/// Records the email a notification would send. Its recipient comes from
/// the local projection of user_created; a user created before this service
/// first ran is addressed by id until a later event names them.
async fn record(
    tx: &mut PgConnection,
    event_id: Uuid,
    event: &str,
    user_id: Uuid,
    subject: &str,
    body: &str,
) -> Result<(), Error> {
    sqlx::query(
        r#"
        INSERT INTO notifications (id, event_id, event, user_id, recipient, subject, body)
        VALUES ($1, $2, $3, $4,
                COALESCE((SELECT email FROM recipients WHERE user_id = $4), 'user:' || $4::text),
                $5, $6)
        "#,
    )
    .bind(Uuid::now_v7())
    .bind(event_id)
    .bind(event)
    .bind(user_id)
    .bind(subject)
    .bind(body)
    .execute(tx)
    .await?;
    tracing::debug!(%event_id, event, "notification recorded");
    Ok(())
}

fn parse(field: &str, raw: &str) -> Result<Uuid, Error> {
    Uuid::parse_str(raw).map_err(|_| Error::Malformed(format!("{field} {raw:?} is not a UUID")))
}

fn money(cents: i64) -> String {
    format!("{}.{:02}", cents / 100, (cents % 100).abs())
}
