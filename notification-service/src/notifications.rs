//! Turning events into notifications, exactly once each.
//!
//! Every handler claims the event id in the inbox (`processed_events`)
//! atomically with its effects, which only apply on the first delivery:
//! claim and notification are one statement ([`record_all`]). order_confirmed
//! and order_rejected go through the [`Recorder`], which writes concurrent
//! deliveries in one statement and one commit (group commit); user_created,
//! which also updates the recipients projection, runs both in a transaction
//! it commits only when the claim succeeded. A redelivered or republished
//! event (the outbox relay publishes at least once) claims nothing and
//! changes nothing.
//!
//! Every statement on the service's tables (`recipients`, `notifications`,
//! `processed_events`) is here, checked at compile time by `query!`.

use std::{collections::HashSet, sync::Arc};

use chrono::{DateTime, Utc};
use contracts::{
    events::{Event, OrderConfirmed, OrderRejected, UserCreated},
    notifications::Notification,
};
use platform::batch::{BatchError, Batcher};
use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

use crate::Error;

/// Records the welcome email, and the user as a recipient for later events.
/// The recipient goes in first, in the same transaction, so the welcome is
/// addressed to the new email; a duplicate event rolls it back with the
/// claim that found the event already processed.
pub(crate) async fn user_created(pool: &PgPool, event: Event<UserCreated>) -> Result<(), Error> {
    let user = event.body;
    let mut tx = pool.begin().await?;
    sqlx::query!(
        r#"
        INSERT INTO recipients (user_id, name, email) VALUES ($1, $2, $3)
        ON CONFLICT (user_id) DO UPDATE SET name = EXCLUDED.name, email = EXCLUDED.email
        "#,
        user.user_id,
        user.name,
        user.email,
    )
    .execute(&mut *tx)
    .await?;
    let welcome = Pending::new(
        event.event_id,
        "user_created",
        user.user_id,
        "Welcome".to_owned(),
        format!("Hello {}, welcome to the shop!", user.name),
    );
    let new = record_all(&mut *tx, std::slice::from_ref(&welcome)).await? == [true];
    if new {
        tx.commit().await?;
    }
    log_recorded(welcome.event_id, welcome.event, new);
    Ok(())
}

pub(crate) async fn order_confirmed(
    recorder: &Recorder,
    event: Event<OrderConfirmed>,
) -> Result<(), Error> {
    let order = event.body;
    let notification = Pending::new(
        event.event_id,
        "order_confirmed",
        order.user_id,
        format!("Order {} confirmed", order.order_id),
        format!(
            "Your order {} is confirmed; {} was charged to your store credit.",
            order.order_id,
            money(order.total_cents)
        ),
    );
    record(recorder, notification).await
}

pub(crate) async fn order_rejected(
    recorder: &Recorder,
    event: Event<OrderRejected>,
) -> Result<(), Error> {
    let order = event.body;
    let notification = Pending::new(
        event.event_id,
        "order_rejected",
        order.user_id,
        format!("Order {} could not be placed", order.order_id),
        format!(
            "We could not place your order {}: {}. Nothing was charged.",
            order.order_id, order.reason
        ),
    );
    record(recorder, notification).await
}

/// Records a notification through the group commit.
async fn record(recorder: &Recorder, notification: Pending) -> Result<(), Error> {
    let (event_id, event) = (notification.event_id, notification.event);
    match recorder.write(notification).await {
        Ok(new) => {
            log_recorded(event_id, event, new);
            Ok(())
        }
        Err(BatchError::Write(e)) => Err(e.into()),
        Err(BatchError::Stopped) => Err(Error::Stopping),
    }
}

/// `new`: whether this delivery recorded the event's notification, or
/// found it recorded before.
fn log_recorded(event_id: Uuid, event: &str, new: bool) {
    if new {
        tracing::debug!(%event_id, event, "notification recorded");
    } else {
        tracing::info!(%event_id, event, "duplicate event ignored");
    }
}

/// A notification to record once, with its event's claim in the inbox.
#[derive(Debug, Clone)]
pub(crate) struct Pending {
    id: Uuid,
    event_id: Uuid,
    event: &'static str,
    user_id: Uuid,
    subject: String,
    body: String,
}

impl Pending {
    fn new(
        event_id: Uuid,
        event: &'static str,
        user_id: Uuid,
        subject: String,
        body: String,
    ) -> Self {
        Self {
            id: Uuid::now_v7(),
            event_id,
            event,
            user_id,
            subject,
            body,
        }
    }
}

/// The group commit of notifications: concurrent deliveries recorded in one
/// statement (`platform::batch`); each caller learns whether its event was
/// new.
pub(crate) type Recorder = Batcher<Pending, bool, sqlx::Error>;

/// Starts the recorder's task, writing through a pool of its own beside
/// `pool` whose sessions keep one plan for the statement
/// (`platform::db::generic_plan_pool`: otherwise Postgres plans it again
/// at every execution).
pub(crate) fn recorder(pool: &PgPool) -> Recorder {
    let writes = platform::db::generic_plan_pool(pool, WRITER_CONNECTIONS);
    Batcher::spawn("notifications", move |batch: Arc<[Pending]>| {
        let writes = writes.clone();
        async move { record_all(&writes, &batch).await }
    })
}

/// One for the batches, one more for a failed batch's one-by-one retry.
const WRITER_CONNECTIONS: u32 = 2;

/// Claims each event in the inbox and records its notification, all in one
/// statement, so each is claimed and recorded or neither; `true` for the
/// first occurrence of each event that was not processed before. An event
/// delivered twice into the same batch is recorded once. The claims go in in
/// event order, so two batches sharing events (two replicas handed the same
/// redelivery) wait for each other instead of deadlocking. The recipient is
/// a correlated look-up, not a join: the prepared statement's generic plan
/// then cannot choose to scan the whole table for a few rows (a join did).
async fn record_all(db: impl PgExecutor<'_>, batch: &[Pending]) -> Result<Vec<bool>, sqlx::Error> {
    let mut columns = (vec![], vec![], vec![], vec![], vec![], vec![]);
    for n in batch {
        columns.0.push(n.id);
        columns.1.push(n.event_id);
        columns.2.push(n.event);
        columns.3.push(n.user_id);
        columns.4.push(n.subject.as_str());
        columns.5.push(n.body.as_str());
    }
    let claimed = sqlx::query_scalar!(
        r#"
        WITH input AS (
            SELECT DISTINCT ON (event_id) *
            FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::uuid[], $5::text[], $6::text[])
                 AS t(id, event_id, event, user_id, subject, body)
            ORDER BY event_id
        ), claim AS (
            INSERT INTO processed_events (event_id, event)
            SELECT event_id, event FROM input ORDER BY event_id
            ON CONFLICT DO NOTHING
            RETURNING event_id
        )
        INSERT INTO notifications (id, event_id, event, user_id, recipient, subject, body)
        SELECT i.id, i.event_id, i.event, i.user_id,
               COALESCE((SELECT email FROM recipients r WHERE r.user_id = i.user_id),
                        'user:' || i.user_id::text),
               i.subject, i.body
        FROM input i
        JOIN claim c ON c.event_id = i.event_id
        RETURNING event_id
        "#,
        &columns.0,
        &columns.1,
        &columns.2 as &[&str],
        &columns.3,
        &columns.4 as &[&str],
        &columns.5 as &[&str],
    )
    .fetch_all(db)
    .await?;
    let mut new: HashSet<Uuid> = claimed.into_iter().collect();
    // `remove`: only an event's first occurrence in the batch is new.
    Ok(batch.iter().map(|n| new.remove(&n.event_id)).collect())
}

/// The user's notifications, newest first.
pub(crate) async fn list(pool: &PgPool, user_id: Uuid) -> Result<Vec<Notification>, Error> {
    let rows = sqlx::query_as!(
        NotificationRow,
        r#"
        SELECT id, user_id, event, event_id, recipient, subject, body, created_at
        FROM notifications WHERE user_id = $1
        ORDER BY created_at DESC, id DESC
        LIMIT 100
        "#,
        user_id,
    )
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

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

#[cfg(test)]
mod tests;
