//! Saga recovery: an order whose driver died (order-service killed
//! mid-saga) or whose refund waited for user-service is `pending` and has
//! not moved; a loop finds such orders and drives them on from the step
//! they are at ([`Saga::drive`] resumes any state).

use std::time::Duration;

use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;

use crate::{error::Error, orders, saga::Saga};

/// Sagas one recovery pass drives at once: enough that a pass finishes
/// within a few seconds once user-service answers, few enough not to
/// flood it (or the pool) after an outage.
const RECOVERY_CONCURRENCY: usize = 16;

impl Saga {
    /// Resumes every saga that has not moved for `stale_after` (its driver
    /// crashed, or a refund waited for user-service). Returns how many it
    /// drove.
    pub async fn recover(&self, stale_after: Duration) -> Result<usize, Error> {
        let stale = orders::stale(&self.pool, stale_after).await?;
        // Side by side: one order's refund waiting out its retries must not
        // hold back the others (a pass over a hundred orders one at a time
        // took tens of seconds after user-service came back).
        let count = stale.len();
        futures_util::stream::iter(stale)
            .for_each_concurrent(RECOVERY_CONCURRENCY, |id| async move {
                match self.drive(id).await {
                    Ok(order) => {
                        tracing::info!(order_id = %id, status = %order.status, "saga recovered")
                    }
                    Err(e) => {
                        tracing::warn!(order_id = %id, error = %e, "saga recovery failed; will retry")
                    }
                }
            })
            .await;
        Ok(count)
    }

    /// Runs [`Saga::recover`] at start-up and then every `interval`, until
    /// `shutdown`.
    pub async fn run_recovery(
        self,
        interval: Duration,
        stale_after: Duration,
        shutdown: CancellationToken,
    ) {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {
                    if let Err(e) = self.recover(stale_after).await {
                        tracing::warn!(error = %e, "saga recovery pass failed");
                    }
                }
                () = shutdown.cancelled() => return,
            }
        }
    }
}
