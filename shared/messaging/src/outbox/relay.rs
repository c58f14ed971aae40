//! The relay: publishes pending outbox rows, oldest first, with publisher
//! confirms; prunes published ones; reports the backlog.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lapin::types::{AMQPValue, FieldTable};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::Outbox;
use crate::{EventPublisher, RpcError, amqp::publisher::OutgoingEvent, wire};

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("broker: {0}")]
    Broker(#[from] RpcError),
}

/// Publishes pending outbox rows. Several replicas may run one each: rows are
/// claimed with `FOR UPDATE SKIP LOCKED`, so each row is published by one.
#[derive(Debug, Clone)]
pub struct Relay {
    pool: PgPool,
    publisher: EventPublisher,
    outbox: Outbox,
    poll_interval: Duration,
    retention: Duration,
}

/// Rows claimed per transaction.
const BATCH: usize = 100;
/// How long published rows are kept (for an operator to look at) before the
/// relay deletes them; without pruning the table grows by a row per event
/// forever. Consumers de-duplicate by event id, so deleting never causes a
/// repeat.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(60 * 60);
/// How often the relay prunes, and the most rows one pass deletes.
const PRUNE_EVERY: Duration = Duration::from_secs(60);
const PRUNE_BATCH: i64 = 10_000;

impl Relay {
    /// A relay woken by every write of `outbox` ([`Outbox::relay`]): it
    /// then publishes at once instead of at its next poll.
    pub fn new(
        pool: PgPool,
        publisher: EventPublisher,
        poll_interval: Duration,
        outbox: Outbox,
    ) -> Self {
        Self {
            pool,
            publisher,
            outbox,
            poll_interval,
            retention: DEFAULT_RETENTION,
        }
    }

    /// Keeps published rows for `retention` instead of [`DEFAULT_RETENTION`].
    pub fn with_retention(mut self, retention: Duration) -> Self {
        self.retention = retention;
        self
    }

    /// Publishes until `shutdown`: whenever woken, and every poll interval
    /// (which also drains what waited out a broker outage).
    pub async fn run(self, shutdown: CancellationToken) {
        let mut pruned_at = tokio::time::Instant::now();
        loop {
            if pruned_at.elapsed() >= PRUNE_EVERY {
                pruned_at = tokio::time::Instant::now();
                if let Err(e) = self.prune().await {
                    tracing::warn!(error = %e, "outbox relay: pruning failed; retried later");
                }
            }
            // Right after start-up (or a broker outage) the publisher is
            // still connecting: wait for it, bounded, rather than fail the
            // batch and sit out a whole poll interval.
            self.publisher.wait_connected(self.poll_interval).await;
            // A partial batch means nothing else was pending when it was
            // claimed; whatever commits after that woke the outbox's notify, which
            // keeps the permit, so the select below returns at once. (An
            // extra pass to find nothing cost four statements per wake.)
            loop {
                match self.publish_pending().await {
                    Ok(BATCH) => continue,
                    Ok(_) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "outbox relay: events wait for the next attempt");
                        break;
                    }
                }
            }
            tokio::select! {
                () = self.outbox.wake.notified() => {}
                () = tokio::time::sleep(self.poll_interval) => {}
                () = shutdown.cancelled() => return,
            }
        }
    }

    /// Publishes one batch of pending rows, oldest first; returns how many.
    pub async fn publish_pending(&self) -> Result<usize, RelayError> {
        let mut tx = self.pool.begin().await?;
        let rows = sqlx::query!(
            r#"
            SELECT id, name, payload, headers FROM outbox
            WHERE published_at IS NULL
            ORDER BY created_at, id
            LIMIT $1
            FOR UPDATE SKIP LOCKED
            "#,
            BATCH as i64,
        )
        .fetch_all(&mut *tx)
        .await?;
        // Encoded first, then published as one pipelined batch: one round
        // trip for the lot, and the broker confirms runs of them at once.
        let encoded = rows
            .iter()
            .map(|row| {
                Ok((
                    row.id.to_string(),
                    wire::encode(&row.name, &row.payload, None)?,
                ))
            })
            .collect::<Result<Vec<_>, serde_json::Error>>()
            .map_err(RpcError::from)?;
        let events = rows
            .iter()
            .zip(&encoded)
            .map(|(row, (message_id, body))| OutgoingEvent {
                routing_key: &row.name,
                body,
                message_id,
                headers: field_table(&row.headers),
            })
            .collect();
        let results = self.publisher.publish_all(events).await;
        let mut published = Vec::with_capacity(rows.len());
        let mut failure = None;
        for (row, result) in rows.iter().zip(results) {
            match result {
                // Marked only once the broker confirmed it.
                Ok(()) => published.push(row.id),
                Err(e) => {
                    failure.get_or_insert(e);
                }
            }
        }
        if !published.is_empty() {
            sqlx::query!(
                "UPDATE outbox SET published_at = now() WHERE id = ANY($1)",
                &published,
            )
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        match failure {
            Some(e) => Err(e.into()),
            None => Ok(published.len()),
        }
    }
}

impl Relay {
    /// Deletes published rows older than the retention (at most
    /// `PRUNE_BATCH` per call); returns how many. Event ids are UUIDv7,
    /// time-ordered, so "older than" is a range on the primary key: no
    /// extra index, and no scan of the rows kept.
    pub async fn prune(&self) -> Result<u64, sqlx::Error> {
        let cutoff = SystemTime::now()
            .checked_sub(self.retention)
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .unwrap_or_default();
        let deleted = sqlx::query!(
            r#"
            DELETE FROM outbox WHERE id IN (
                SELECT id FROM outbox
                WHERE id < $1 AND published_at IS NOT NULL
                ORDER BY id
                LIMIT $2
            )
            "#,
            v7_floor(cutoff),
            PRUNE_BATCH,
        )
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(deleted)
    }
}

/// The smallest UUIDv7 of the millisecond `since_epoch`: its top 48 bits are
/// the Unix time in milliseconds, everything else zero.
fn v7_floor(since_epoch: Duration) -> Uuid {
    let millis = since_epoch.as_millis() & ((1 << 48) - 1);
    Uuid::from_u128(millis << 80)
}

fn field_table(headers: &serde_json::Value) -> FieldTable {
    let mut table = FieldTable::default();
    if let Some(map) = headers.as_object() {
        for (key, value) in map {
            if let Some(value) = value.as_str() {
                table.insert(key.as_str().into(), AMQPValue::LongString(value.into()));
            }
        }
    }
    table
}

/// The relay's backlog on `/metrics`: `outbox_pending` (rows not published
/// yet) and `outbox_oldest_pending_seconds`. Both stay near zero while the
/// broker is up; a growing backlog means events wait on an outage.
pub fn backlog_sampler(pool: &PgPool) -> platform::admin::Sampler {
    crate::metrics::describe();
    let pool = pool.clone();
    platform::admin::Sampler::new(move || {
        let pool = pool.clone();
        async move {
            let backlog = sqlx::query!(
                r#"
                SELECT count(*) AS "pending!",
                       EXTRACT(EPOCH FROM now() - min(created_at))::float8 AS oldest
                FROM outbox WHERE published_at IS NULL
                "#,
            )
            .fetch_one(&pool)
            .await;
            // Unreadable (database down): the gauges keep their last values
            // and the readiness check says why.
            if let Ok(backlog) = backlog {
                #[allow(clippy::cast_precision_loss)] // a count far below 2^52
                metrics::gauge!("outbox_pending").set(backlog.pending as f64);
                metrics::gauge!("outbox_oldest_pending_seconds").set(backlog.oldest.unwrap_or(0.0));
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_v7_floor_sorts_below_every_id_of_its_millisecond_and_above_earlier_ones() {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        let floor = v7_floor(now);
        let later = Uuid::now_v7();
        assert!(floor <= later, "{floor} > {later}");
        let earlier = v7_floor(now - Duration::from_millis(1));
        assert!(earlier < floor);
        let (secs, nanos) = later.get_timestamp().unwrap().to_unix();
        let id_ms = u128::from(secs) * 1000 + u128::from(nanos / 1_000_000);
        assert!(id_ms >= now.as_millis());
    }
}
