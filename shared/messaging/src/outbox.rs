//! The transactional outbox: an event is written to the service's `outbox`
//! table in the same transaction as the state change that causes it, and a
//! relay publishes pending rows to the events exchange, with publisher
//! confirms, then marks them published. A crash can no longer lose an event
//! (it is committed with the change) or invent one (it is rolled back with
//! it); a broker outage only delays events. Publishing after the broker
//! confirmed but before the row is marked can repeat an event: consumers
//! de-duplicate by event id (docs/outbox.md).
//!
//! This module owns the table: its definition is [`SCHEMA`]
//! (`outbox/schema.sql`), which each publishing service's migrations apply
//! and its tests compare with, and its statements are here, checked at
//! compile time against that definition.
//!
//! A writer cannot forget to wake the relay: events are written only
//! through an [`Outbox`] — in a [`Transaction`] whose `commit` wakes it, or
//! by [`Outbox::write`], which wakes it once the caller's statement has
//! run — and the relay a service runs is made from the same `Outbox`.
//!
//! # Layout
//! - here: [`Outbox`], [`Transaction`] and [`Row`], writing events.
//! - `relay`: [`Relay`], publishing them; pruning; the backlog gauges.

mod relay;

use std::{
    collections::HashMap,
    ops::{Deref, DerefMut},
    sync::Arc,
};

use chrono::Utc;
use contracts::events::{Event, EventBody, SCHEMA_VERSION};
use serde::Serialize;
use serde_json::Value;
use sqlx::{PgConnection, PgPool, Postgres};
use tokio::sync::Notify;
use uuid::Uuid;

pub use relay::{DEFAULT_RETENTION, Relay, RelayError, backlog_sampler};

/// The `outbox` table this module reads and writes. Schema changes are new
/// migrations in every service with an outbox, and a change here.
pub const SCHEMA: &str = include_str!("outbox/schema.sql");

/// A service's outbox: how it writes events, and the relay they wake. Cheap
/// to clone; every clone wakes the same relay.
///
/// Rejected: Postgres `LISTEN`/`NOTIFY` as the wake-up. A transaction that
/// notifies takes a database-wide lock at commit, so every order's commit
/// would queue behind every other's — on the write path a later issue
/// makes faster (docs/outbox.md#waking-the-relay).
#[derive(Debug, Clone, Default)]
pub struct Outbox {
    wake: Arc<Notify>,
}

impl Outbox {
    pub fn new() -> Self {
        Self::default()
    }

    /// Begins a transaction to write a change and its events in: see
    /// [`Transaction`].
    pub async fn begin(&self, pool: &PgPool) -> Result<Transaction, sqlx::Error> {
        Ok(Transaction {
            tx: pool.begin().await?,
            wake: self.wake.clone(),
            recorded: false,
        })
    }

    /// Event `body` as its row, for a caller whose one statement both makes
    /// the change and inserts the row (`INSERT INTO outbox … SELECT … FROM
    /// changed`): no transaction around them, one round trip and one commit
    /// instead of four. `statement` must run outside a transaction — it has
    /// committed when it returns — and the relay is woken when it succeeds.
    pub async fn write<B, T, E, F>(&self, body: B, statement: F) -> Result<T, E>
    where
        B: EventBody,
        E: From<sqlx::Error>,
        F: AsyncFnOnce(Row) -> Result<T, E>,
    {
        let written = statement(Row::new(B::NAME, body)?).await?;
        self.wake.notify_one();
        Ok(written)
    }

    /// The relay that publishes what this outbox writes to `pool`, woken at
    /// once after each write (and polling every `poll_interval` besides).
    pub fn relay(
        &self,
        pool: PgPool,
        publisher: crate::EventPublisher,
        poll_interval: std::time::Duration,
    ) -> Relay {
        Relay::new(pool, publisher, poll_interval, self.clone())
    }
}

/// A transaction of the service's database that may record events. It
/// dereferences to the connection, for the change's own statements;
/// [`Transaction::commit`] commits and, when an event was recorded, wakes
/// the relay. Dropped without a commit, it rolls back, events and all.
#[derive(Debug)]
pub struct Transaction {
    tx: sqlx::Transaction<'static, Postgres>,
    wake: Arc<Notify>,
    recorded: bool,
}

impl Transaction {
    /// Records the event `body`, under the name it gives itself
    /// (`contracts::events::EventBody`), stamped with a new event id, the
    /// time and the schema version, and the current trace context (so the
    /// consumer's span joins the request's trace). Returns the event id.
    pub async fn record<T: EventBody>(&mut self, body: T) -> Result<Uuid, sqlx::Error> {
        let row = Row::new(T::NAME, body)?;
        sqlx::query!(
            "INSERT INTO outbox (id, name, payload, headers) VALUES ($1, $2, $3, $4)",
            row.id,
            row.name,
            row.payload,
            row.headers,
        )
        .execute(&mut *self.tx)
        .await?;
        self.recorded = true;
        Ok(row.id)
    }

    /// Commits, then wakes the relay if an event was recorded.
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await?;
        if self.recorded {
            self.wake.notify_one();
        }
        Ok(())
    }

    /// Rolls back the change and its events.
    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        self.tx.rollback().await
    }
}

impl Deref for Transaction {
    type Target = PgConnection;

    fn deref(&self) -> &PgConnection {
        &self.tx
    }
}

impl DerefMut for Transaction {
    fn deref_mut(&mut self) -> &mut PgConnection {
        &mut self.tx
    }
}

/// An event as its `outbox` row, handed by [`Outbox::write`] to the
/// statement that inserts it:
///
/// ```sql
/// WITH changed AS (UPDATE ... RETURNING 1)
/// INSERT INTO outbox (id, name, payload, headers)
/// SELECT $1, $2, $3, $4 FROM changed
/// ```
#[derive(Debug)]
pub struct Row {
    /// The event id, and the row's primary key.
    pub id: Uuid,
    pub name: String,
    pub payload: Value,
    /// W3C trace context of the current span.
    pub headers: Value,
}

impl Row {
    /// Event `name` with `body`, stamped with a new event id, the time, the
    /// schema version and the current trace context. Private: a row made
    /// anywhere else could be written without waking the relay.
    fn new<T: Serialize>(name: &str, body: T) -> Result<Self, sqlx::Error> {
        let id = Uuid::now_v7();
        let event = Event {
            event_id: id,
            occurred_at: Utc::now(),
            schema_version: SCHEMA_VERSION,
            body,
        };
        let payload = serde_json::to_value(&event).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
        let mut trace = HashMap::new();
        platform::propagation::inject(&mut trace);
        Ok(Self {
            id,
            name: name.to_owned(),
            payload,
            headers: serde_json::to_value(trace).unwrap_or_default(),
        })
    }
}
